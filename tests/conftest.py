from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.results.provenance import ROOT

#: The data root (robustbench_snn.data.dataset): $RBSNN_DATA, else the one beside the checkout on the
#: team's machines (real MNIST and CIFAR-10 as JPEG; not shipped by the project). Set for the whole
#: session, CLI subprocesses included, so the committed rows' commands, which name no folder, find it.
DATA_ROOT = Path(os.environ.get("RBSNN_DATA") or ROOT.parent / "shared" / "data")
if DATA_ROOT.is_dir():
    os.environ["RBSNN_DATA"] = str(DATA_ROOT)
MNIST_DIR = DATA_ROOT / "mnist"
# The event-frame disk cache (robustbench_snn.data.frame_cache) of this test session only, in
# a fresh folder: tests never read a user's cache, and CLI subprocesses inherit it.
os.environ["RBSNN_CACHE"] = tempfile.mkdtemp(prefix="rbsnn-test-cache-")
# Users' boards, archives and sites (robustbench_snn.core.home) of this test session only: a test's
# run never writes a user's own results, and CLI subprocesses inherit the folder.
os.environ["RBSNN_HOME"] = tempfile.mkdtemp(prefix="rbsnn-test-home-")
needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason=f"real MNIST not found at {MNIST_DIR}")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits_test():
    return load_dataset("digits", "test")


@pytest.fixture(scope="session")
def zoo_snn_cnn():
    from robustbench_snn.models.zoo import load_checkpoint

    return load_checkpoint("snn-cnn", "digits")[0]


@pytest.fixture(scope="session")
def zoo_smooth_snn():
    from robustbench_snn.models.zoo import load_checkpoint

    return load_checkpoint("smooth-snn-s0.25", "digits")[0]


@pytest.fixture(scope="session")
def zoo_rsc_snn():
    from robustbench_snn.models.zoo import load_checkpoint

    return load_checkpoint("rsc-snn", "digits")[0]
