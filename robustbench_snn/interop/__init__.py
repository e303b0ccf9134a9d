"""Anyone's SNN made attackable: the neurons of SpikingJelly, snntorch and plain PyTorch
found, reset and given attack surrogates; spikes nobody registered traced (BPDA); the
time-major adapter."""
