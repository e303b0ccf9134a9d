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
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import UserInputError


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
    ``per_input`` bytes for the backward) need more than ``available`` bytes, naming the
    largest batch that fits."""
    if available is None or per_input <= 0:
        return
    need = per_input * batch * copies
    if need <= available:
        return
    fits = available // (per_input * copies)
    steps = f" at T={T}" if T else ""
    advice = f"lower --batch-size to {fits} or below" if fits >= 1 else "lower --T: one example does not fit"
    raise UserInputError(
        f"an attack pass of {batch} examples x {copies} EOT copies would keep about {need / 2**30:.1f} GiB of activations "
        f"for its backward ({per_input / 2**20:.1f} MiB per input{steps}); {available / 2**30:.1f} GiB is available: {advice}"
    )


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (torch's CPU allocator, CUDA, or Python's own)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)
