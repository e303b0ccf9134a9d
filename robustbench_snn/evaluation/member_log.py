"""A long ensemble evaluation that resumes after the last member it finished.

Why our own: ``standard`` and ``ensemble19`` run their members one after another on the
examples still robust (:class:`.standard.Ledger`). On a network that survives the early
members, one 250-example block of MNIST SEW-ResNet takes hours on a CPU core, longer than a
process may live; library attacks draw their random numbers per block of 250 ids
(:data:`~robustbench_snn.core.streams.LIBRARY_BLOCK`), so a block cannot be split into
shorter runs. What can be kept is the ledger: after each member, the file holds the
per-example worst case so far (scores and inputs), the first member's clean scores, what
the members run alone on the evidence subset found, the passes counted and the seconds
spent. A later process given the same file skips the members it lists and continues: every
member draws from per-example streams keyed by the example's id, or from a generator seeded
per block (:mod:`robustbench_snn.core.streams`), never from state an earlier member left, so
the resumed row equals the uninterrupted one (tested, per example).

The file is safetensors (tensors and a JSON header; nothing unpickled) and names the
evaluation it belongs to (:func:`evaluation_identity`: settings, weights, examples, code), so
a file of another evaluation is never read as this one's.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from ..core.atomic import atomic_write_bytes
from ..core.errors import UserInputError
from ..core.limits import is_number
from .cost import PassCount

#: Format of the file's header; a file of another version is not resumed from.
VERSION = 1


def evaluation_identity(settings: Any, model: nn.Module, x: torch.Tensor, example_ids: torch.Tensor, code: str) -> str:
    """A digest of what decides every number of an evaluation: its settings (``repr`` of the
    checked value, shard included), the model's weights and buffers, the examples, and the code."""

    h = hashlib.sha256()
    h.update(repr(settings).encode())
    h.update(code.encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    h.update(x.detach().to("cpu").contiguous().numpy().tobytes())
    h.update(example_ids.to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


class MemberLog:
    """The resume file of one evaluation (module docstring). :meth:`open` reads what an earlier
    process left, if anything; a ledger asks :meth:`finished` before running its ``k``-th
    member and calls :meth:`record` after it."""

    def __init__(self, path: Path, identity: str):
        self.path, self.identity = Path(path), identity
        self.members = 0  # members finished, in the order the ledger added them
        self.tensors: dict[str, torch.Tensor] = {}
        self.seconds: dict[str, float] = {}
        self.prior_seconds = 0.0  # wall time of the earlier processes
        self.passes = PassCount()
        self.resumed = False
        self._opened = time.perf_counter()
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            with safe_open(str(self.path), framework="pt") as f:
                header = json.loads((f.metadata() or {})["log"])
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, KeyError, ValueError, TypeError, RecursionError) as e:
            why = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            raise UserInputError(f"resume file {self.path} is unreadable ({why}); delete it, or give another path") from None
        why = _header_problem(header)
        if why:
            raise UserInputError(f"resume file {self.path} is not one rbsnn wrote ({why}); delete it, or give another path")
        if header["identity"] != self.identity:
            raise UserInputError(f"resume file {self.path} belongs to another evaluation (other settings, weights, "
                                 "examples or code); delete it, or give another path")
        self.members, self.seconds, self.prior_seconds = header["members"], header["seconds"], header["elapsed"]
        self.passes = PassCount(header["forward"], header["backward"])
        self.tensors, self.resumed = tensors, self.members > 0

    def attach(self, passes: PassCount) -> None:
        """Count on from the passes the earlier processes counted (``passes``: this run's counter, still at zero)."""
        passes.forward += self.passes.forward
        passes.backward += self.passes.backward
        self.passes = passes

    def finished(self, k: int) -> bool:
        """Whether an earlier process finished the ledger's ``k``-th member (0: the first)."""
        return k < self.members

    def elapsed(self) -> float:
        """Wall seconds of every process so far."""
        return self.prior_seconds + time.perf_counter() - self._opened

    def record(self, members: int, tensors: dict[str, torch.Tensor], seconds: dict[str, float]) -> None:
        """The state after ``members`` members (atomically: a kill leaves the previous file)."""
        self.members, self.seconds = members, dict(seconds)
        self.tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        header = {"version": VERSION, "identity": self.identity, "members": members, "seconds": self.seconds,
                  "elapsed": self.elapsed(), "forward": self.passes.forward, "backward": self.passes.backward}
        atomic_write_bytes(self.path, save(self.tensors, metadata={"log": json.dumps(header)}))

    def finish(self) -> None:
        """The evaluation ended: nothing is left to resume."""
        self.path.unlink(missing_ok=True)


def _header_problem(header: Any) -> str | None:
    """Why ``header`` is not what :meth:`MemberLog.record` writes, or None."""
    if not isinstance(header, dict) or header.get("version") != VERSION:
        return f"format version {header.get('version') if isinstance(header, dict) else None!r}, expected {VERSION}"
    if not isinstance(header.get("identity"), str):
        return "no identity"
    for key in ("members", "forward", "backward"):
        if not (isinstance(header.get(key), int) and not isinstance(header.get(key), bool) and header[key] >= 0):
            return f"bad {key} {header.get(key)!r}"
    if not is_number(header.get("elapsed"), low=0):
        return f"bad elapsed {header.get('elapsed')!r}"
    seconds = header.get("seconds")
    if not (isinstance(seconds, dict) and all(isinstance(k, str) and is_number(v, low=0) for k, v in seconds.items())):
        return "bad seconds"
    return None
