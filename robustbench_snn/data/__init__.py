"""Datasets as tensors: the catalogue of named datasets (digits, MNIST, CIFAR-10,
image folders), event data (simulated and recorded) and the decoded-data cache."""
