"""The allocator policy (robustbench_snn.allocator) moves memory, never results."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: An EOT input gradient of a freshly seeded rsc-snn on MNIST-sized input.
#: Its first activation [T=8, B=96, 16, 28, 28] is 38 MB, above glibc's
#: largest mmap threshold, so the two runs really allocate differently.
_GRADIENT_DIGEST = """
import hashlib, sys, torch
from robustbench_snn.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.registry import create_model
torch.set_num_threads(2)
torch.manual_seed(0)
model = create_model("rsc-snn", (1, 28, 28), 10).eval()
x, y = torch.rand(96, 1, 28, 28), torch.randint(0, 10, (96,))
g = torch.cat([eot_gradient(model, x, y, eot=2, max_elements=1).flatten() for _ in range(2)])
assert g.abs().sum() > 0
print(hashlib.sha256(g.numpy().tobytes()).hexdigest())
"""


def _digest(policy: str) -> str:
    out = subprocess.run([sys.executable, "-c", _GRADIENT_DIGEST, policy], capture_output=True, text=True, check=True)
    return out.stdout.strip()


glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")


@glibc_only
def test_keeping_freed_memory_leaves_gradients_bit_identical():
    assert _digest("keep") == _digest("default")


@glibc_only
def test_keep_freed_memory_takes_effect_and_is_idempotent():
    from robustbench_snn.allocator import keep_freed_memory

    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
