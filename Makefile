# Two commands on a fresh machine:  make eval   and   make test
# Both create .venv (if missing) and install the pinned CPU stack first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
CONSTRAINTS := requirements/constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: eval test test-unit test-artifacts test-slow install bench leaderboards clean-venv

install: $(STAMP)

# torch first (the CPU wheel; 2.13.0 is the version pinned), then torchattacks
# and SpikingJelly without their declared torchvision/torchaudio/tensorboard
# requirements (neither imports them on the paths we use; a plain install would
# replace the CPU torch by a 6 GB CUDA build: ../shared/ENVIRONMENT.md), then
# the project itself with snntorch (editable, so zoo/ and leaderboards/ are
# found in this checkout). snntorch and SpikingJelly are the neuron libraries
# users bring: the interop tests and examples/ need them.
$(STAMP): pyproject.toml $(CONSTRAINTS) Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "robustbench-snn needs Python >= 3.11; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c $(CONSTRAINTS) torch
	$(PIP) install --quiet --no-deps -c $(CONSTRAINTS) torchattacks spikingjelly loguru
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[dev,ray]'
	@echo "(pip's notes that torchattacks and spikingjelly want torchvision etc. are expected: see docs/design/2026-11-23-torchattacks-without-torchvision.md)"
	touch $(STAMP)

# Default evaluation: RSC-SNN (Poisson coding) on the embedded digits test set
# under BPTT-aware PGD with EOT; upserts the row into your board
# ($RBSNN_HOME/leaderboards/digits_linf.csv, default ~/.local/share/robustbench-snn)
# and shows it beside the committed board. No tracked file changes.
eval: $(STAMP)
	$(VENV)/bin/rbsnn eval --model rsc-snn --attack pgd
	$(VENV)/bin/rbsnn leaderboard --dataset digits --norm linf

# The default run: the unit tests (the 15 slowest are listed, to keep the run
# under 10 minutes on 2 cores), then the checks of committed files (zoo,
# leaderboard rows, README tables, site: marker `artifacts`), each run on its own.
# Tests marked slow (minutes each on 2 cores) run with `make test-slow`; CI runs all.
test: test-unit test-artifacts

test-unit: $(STAMP)
	$(PY) -m pytest -q --durations=15 -m "not slow and not artifacts"

test-artifacts: $(STAMP)
	$(PY) -m pytest -q -m "artifacts and not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# One table of speed ratios measured in one run (ours vs snntorch, SpikingJelly,
# torchattacks, per-draw and per-sample loops, eager vs compiled for every zoo
# architecture, FLOP rate vs torch.mm, peak memory), written with the host's
# description to benchmarks/RESULTS.md. About 20 minutes on 2 cores.
bench: $(STAMP)
	$(PY) benchmarks/bench.py --out benchmarks/RESULTS.md

clean-venv:
	rm -rf $(VENV)

# Every committed leaderboard row, regenerated from the committed zoo and
# written into the repository's boards (--publish: a maintainer's action).
# Each row's `command` column is the single command that reproduces that row alone. The standard
# evaluations dominate: several hours on 2 CPU cores.
# MNIST and CIFAR-10 (JPEG) are read from the data root $RBSNN_DATA (its mnist/ and
# cifar10-jpeg/), so the rows' commands name no machine's folder (docs/getting-started.md).
RBSNN     := $(VENV)/bin/rbsnn
# The models of each row set, listed (not `--model all`) so the recipe makes exactly the committed
# rows; tests/test_makefile.py checks each list against the committed boards.
# The snn-cnn family (the snn-cnn body and the recipes built on it): every attack, and the peers
# `ensemble19` and `assg` beside `standard` (docs/evaluation-protocol.md, Peers).
DIGITS_FAMILY := ann-cnn,at-snn,gnr-snn,mps-snn,qcfs-snn,rat-snn,rsc-snn,rsc-snn-r0.5,smooth-snn-s0.25,smooth-snn-s0.5,smooth-snn-s1,snn-cnn,snn-mlp,sr-snn,ttfs-snn
MNIST_FAMILY  := ann-cnn,at-snn,gnr-snn,mps-snn,qcfs-snn,rat-snn,rsc-snn,smooth-snn-s0.25,snn-cnn,sr-snn,ttfs-snn
# The SpikingJelly-built architectures: PGD-10 and standard at 8/255 and 0.1 on digits, standard on
# the first 500 MNIST test images (docs/models-and-defenses.md).
DIGITS_ARCHS  := ilif-cnn,ms-resnet,psn-cnn,qkformer,sdt,sew-resnet,spikformer,spiking-vgg
MNIST_ARCHS   := ilif-cnn,ms-resnet,plif-net,psn-cnn,qkformer,sdt,spikformer,spiking-vgg
# CIFAR-10 (JPEG): PGD-10 and standard on the first 1,000 test images, on 500 for a stochastic
# model (its attacks take EOT); the peers on at least three models.
CIFAR_MODELS     := ann-cnn,at-snn,qcfs-snn,sdt,snn-cnn
CIFAR_EOT        := rsc-snn
CIFAR_ENSEMBLE19 := snn-cnn,sdt,qcfs-snn
CIFAR_ASSG       := snn-cnn,sdt,at-snn

leaderboards: $(STAMP)
	$(RBSNN) sweep --publish --quiet --datasets digits --models $(DIGITS_FAMILY),$(DIGITS_ARCHS) --attacks pgd,standard --eps 8/255,0.1 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets digits --models $(DIGITS_FAMILY) --attacks fgsm --workers 2
	$(RBSNN) sweep --publish --quiet --datasets digits --models $(DIGITS_FAMILY) --norm l2 --workers 2
	for T in 4 8 32; do \
	  $(RBSNN) eval --publish --quiet --model qcfs-snn --attack pgd --T $$T && \
	  $(RBSNN) eval --publish --quiet --model qcfs-snn --attack pgd --eps 0.1 --T $$T || exit 1; \
	done
	$(RBSNN) sweep --publish --quiet --datasets digits --models $(DIGITS_FAMILY) --attacks ensemble19,assg --eps 8/255,0.1 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets mnist --models $(MNIST_FAMILY) --attacks pgd --eps 8/255,0.1 --n-examples 1000 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets mnist --models $(MNIST_FAMILY) --attacks standard --n-examples 1000 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets mnist --models $(MNIST_FAMILY) --attacks ensemble19,assg --n-examples 500 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets mnist --models $(MNIST_ARCHS) --attacks standard --n-examples 500 --shards 2 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets cifar10-jpeg --models $(CIFAR_MODELS) --attacks pgd,standard --n-examples 1000 --shards 4 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets cifar10-jpeg --models $(CIFAR_EOT) --attacks pgd,standard --n-examples 500 --shards 2 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets cifar10-jpeg --models $(CIFAR_ENSEMBLE19) --attacks ensemble19 --n-examples 1000 --shards 4 --workers 2
	$(RBSNN) sweep --publish --quiet --datasets cifar10-jpeg --models $(CIFAR_ASSG) --attacks assg --n-examples 1000 --shards 4 --workers 2
	for s in 0.25 0.5 1; do $(RBSNN) certify --publish --quiet --model smooth-snn-s$$s || exit 1; done
	$(RBSNN) certify --publish --quiet --model rsc-snn --mechanism encoder
	$(RBSNN) certify --publish --quiet --model smooth-snn-s0.25 --dataset mnist
	for d in examples/plain-snn examples/snntorch-cnn examples/spikingjelly-cnn; do $(RBSNN) submit --publish --quiet $$d || exit 1; done
	$(RBSNN) report
