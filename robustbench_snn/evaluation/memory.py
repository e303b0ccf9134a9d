"""Will an attack batch fit in memory? Measured on one input, refused before allocating.

A white-box attack on an SNN keeps every time step's activations for the backward pass
(BPTT), for every example of a batch and every EOT copy at once: ``--T 1000`` or a
``--batch-size`` of the whole test set asks for tens of gigabytes, and the kernel's
out-of-memory killer ends the process without a word, or the allocator fails with a
traceback, after the set-up. Here the bytes autograd saves for one input (one example,
one draw) are counted while it is saved (``torch.autograd.graph.saved_tensors_hooks``,
each storage once), so the estimate follows the model as it runs: any architecture,
any T. The eager path saves at least what the compiled one does, so the estimate is an
upper bound for it; the refusal only comes when even the machine's whole available
memory is short.

Certification runs no backward: a pass of ``--batch`` noise draws needs the most bytes
its tensors hold at once, which :func:`live_bytes_per_input` follows op by op for one
draw (a dispatch mode that counts each output's storage until it is freed).
"""

from __future__ import annotations

import weakref

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..core.errors import UserInputError


def saved_bytes_per_input(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for the input gradient of ``model`` on ``x`` (one input,
    ``[1, ...]``): every saved tensor's storage, counted once."""
    storages: dict[int, int] = {}
    held: list[torch.Tensor] = []  # every saved tensor stays alive, so no address is reused within the pass

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        held.append(t)
        return t

    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(storages.values())


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of op outputs alive at once: a storage is counted when an op first
    returns it and released when the last tensor seen on it is freed; ``peak`` keeps the most."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.tensors: dict[int, tuple[int, int]] = {}  # storage address -> (bytes, tensors seen on it alive)

    def _freed(self, address: int) -> None:
        nbytes, alive = self.tensors[address]
        if alive > 1:
            self.tensors[address] = (nbytes, alive - 1)
        else:
            del self.tensors[address]
            self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or not (address := t.untyped_storage().data_ptr()):
                continue
            if address in self.tensors:  # a view of an output counted already: it keeps that storage alive
                nbytes, alive = self.tensors[address]
            elif address in inputs:  # a view of a weight or of the input itself (not allocated here)
                continue
            else:
                nbytes, alive = t.untyped_storage().nbytes(), 0
                self.live += nbytes
                self.peak = max(self.peak, self.live)
            self.tensors[address] = (nbytes, alive + 1)
            weakref.finalize(t, self._freed, address)
        return out


def live_bytes_per_input(forward, x: torch.Tensor) -> int:
    """The most bytes of intermediate tensors alive at once while ``forward(x)`` runs
    without gradients on one input (``[1, ...]``); weights and ``x`` are not counted."""
    counter = _LiveBytes()
    with torch.no_grad(), counter:
        forward(x)
    return counter.peak


#: How much more a pass's resident memory grows than the estimate counts: the backward's
#: own buffers, the allocator's and oneDNN's (benchmarks/memory_estimate.py, eager passes on
#: MNIST and digits zoo models: 1.64-1.97x for attack passes, 1.24-1.58x for certification
#: passes). Each check counts that much more, rounded up, so a run it lets through fits.
ATTACK_OVERHEAD = 2.25
INFERENCE_OVERHEAD = 1.75


def check_inference_memory(per_input: int, batch: int, available: int | None, option: str = "--batch") -> None:
    """Refuse inference passes of ``batch`` noise draws, each holding ``per_input`` bytes at
    its peak (:func:`live_bytes_per_input`), that need more than ``available`` bytes, naming
    the largest ``option`` that fits."""
    _check_fits(per_input * INFERENCE_OVERHEAD, batch, available, option, "one draw does not fit",
                f"a pass of {batch} noise draws would hold about {{need}} GiB ({per_input / 2**20:.2f} MiB per draw at "
                f"its peak, x{INFERENCE_OVERHEAD:g} for the allocator)")


def _check_fits(per_unit: float, units: int, available: int | None, option: str, none_fits: str, what: str) -> None:
    """Raise a one-line error if ``units`` x ``per_unit`` bytes exceed ``available`` (None:
    unknown, no check): ``what`` (its ``{need}`` filled in GiB), what is available, and the
    largest ``option`` that fits, or ``none_fits``."""
    if available is None or per_unit <= 0 or per_unit * units <= available:
        return
    fits = int(available // per_unit)
    advice = f"lower {option} to {fits} or below" if fits >= 1 else none_fits
    need = what.format(need=f"{per_unit * units / 2**30:.1f}")
    raise UserInputError(f"{need}; {available / 2**30:.1f} GiB is available: {advice}")


def available_bytes(device: str) -> int | None:
    """Memory an allocation on ``device`` can still get (Linux ``MemAvailable``; free CUDA
    memory), or None where it cannot be read (the check is then skipped)."""
    if device == "cuda":
        return torch.cuda.mem_get_info()[0] if torch.cuda.is_available() else None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_attack_memory(per_input: int, batch: int, copies: int, T: int | None, available: int | None) -> None:
    """Refuse an attack whose passes (``batch`` examples x ``copies`` EOT copies stacked in
    one pass, :func:`~robustbench_snn.attacks.gradient.copies_per_pass`, each keeping
    ``per_input`` bytes for the backward, times :data:`ATTACK_OVERHEAD`) need more than
    ``available`` bytes, naming the largest batch that fits."""
    steps = f" at T={T}" if T else ""
    _check_fits(per_input * copies * ATTACK_OVERHEAD, batch, available, "--batch-size", "lower --T: one example does not fit",
                f"an attack pass of {batch} examples x {copies} EOT copies would take about {{need}} GiB "
                f"({per_input / 2**20:.1f} MiB of activations kept per input{steps}, x{ATTACK_OVERHEAD:g} for the backward)")


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (torch's CPU allocator, CUDA, or Python's own)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)
