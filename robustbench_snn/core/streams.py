"""Per-example random streams: the numbers an example sees do not depend on its batch.

Why our own: torch has one generator per device, and a batch-shaped draw
(``torch.rand(B, ...)``) hands example ``j`` whichever numbers fall at row
``j``, so the same example gets other encoder spikes and another random
start when ``--batch-size`` (or the set of survivors an ensemble member
attacks) changes -- and so does the row. Here every example owns a
``torch.Generator`` seeded from ``(seed, purpose, example id)``, where the
id is the example's index in its split (:attr:`Dataset.ids
<robustbench_snn.data.dataset.Dataset>`), and every stochastic piece of an
evaluation (the Poisson encoder, PGD/APGD random starts, Gaussian noise)
draws its rows from those generators, one example at a time, in a fixed
per-row shape. An example's draws are then the same in a batch of 7 as in
a batch of 250, in the first pass or after half its neighbours were fooled.

A pass may stack ``k`` copies of the batch (EOT: ``x.repeat(k, ...)``, so
row ``c * B + j`` is copy ``c`` of example ``j``); copy ``c`` is then
example ``j``'s next draw, whatever ``k`` the pass chose. A batch whose size
is not a multiple of the active streams is a bug (a subset taken without
:meth:`ExampleStreams.subset`) and raises rather than silently re-pairing
examples with streams.

With no streams active (training; a library attack that draws batch-shaped
numbers itself, run on fixed blocks: :func:`robustbench_snn.evaluation.harness.evaluate`),
:func:`rand`, :func:`uniform_like` and :func:`randn_like` make exactly the
global-generator calls they replace.

A user's own stochastic model can call :func:`rand` / :func:`randn_like` in its
forward pass to get the same guarantee; one that calls ``torch.rand`` directly
is reproducible for a given ``--batch-size`` only (which the recorded command
therefore states).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch

_SEED_SPACE = 2**64

#: A library attack (torchattacks, foolbox) draws batch-shaped numbers from torch's
#: global generator, which no per-example stream can feed. It therefore runs on
#: fixed blocks of this many examples by id (ids 0-249, 250-499, ...), the global
#: generator seeded from (seed, block) for each, whatever the batch size is: its
#: result then depends on neither the batch size nor which survivors share a batch
#: (robustbench_snn.evaluation.harness.attack_randomness).
LIBRARY_BLOCK = 250


def example_seed(seed: int, idx: int, purpose: str = "") -> int:
    """Seed of example ``idx``'s generator for ``purpose`` under the run's ``seed``, in ``[0, 2**64)``.

    The empty purpose keeps certification's original seeds (``seed * 1_000_003 + idx``,
    so committed certificates re-make exactly); any other purpose hashes all three,
    so the streams of two purposes (clean scoring, the attack, adversarial
    scoring) are unrelated.
    """
    if not purpose:
        return (seed * 1_000_003 + idx) % _SEED_SPACE
    digest = hashlib.blake2b(f"{seed}/{purpose}/{idx}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class ExampleStreams:
    """One generator per example of a batch, created on first use."""

    def __init__(self, seeds: Sequence[int]) -> None:
        self.seeds = list(seeds)
        self._generators: dict[int, torch.Generator] = {}

    @classmethod
    def for_examples(cls, seed: int, ids: Sequence[int] | torch.Tensor, purpose: str) -> "ExampleStreams":
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return cls([example_seed(seed, int(i), purpose) for i in ids])

    def __len__(self) -> int:
        return len(self.seeds)

    def generator(self, j: int) -> torch.Generator:
        g = self._generators.get(j)
        if g is None:
            g = self._generators[j] = torch.Generator().manual_seed(self.seeds[j])
        return g

    def subset(self, index: torch.Tensor) -> "ExampleStreams":
        """The streams of the examples at ``index`` (bool mask or indices), sharing their generators' state."""
        rows = torch.arange(len(self))[index].tolist()
        sub = ExampleStreams([self.seeds[j] for j in rows])
        sub._generators = {k: self.generator(j) for k, j in enumerate(rows)}
        return sub

    def draw(self, sample: Callable[[torch.Generator, int], torch.Tensor], rows: int) -> torch.Tensor:
        """``[rows, ...]``: row ``c * len(self) + j`` is example ``j``'s ``c``-th draw, where
        ``sample(generator j, k) -> [k, ...]`` makes an example's ``k`` copies in one call."""
        if rows % len(self):
            raise RuntimeError(
                f"a pass of {rows} inputs under random streams for {len(self)} examples: "
                "an attack took a subset of its batch without ExampleStreams.subset"
            )
        copies = rows // len(self)
        per_example = torch.stack([sample(self.generator(j), copies) for j in range(len(self))])  # [B, k, ...]
        return per_example.transpose(0, 1).flatten(0, 1)  # [k * B, ...]


_ACTIVE: ContextVar[ExampleStreams | None] = ContextVar("robustbench_snn_streams", default=None)


def active() -> ExampleStreams | None:
    """The streams in force, or None (global RNG)."""
    return _ACTIVE.get()


@contextmanager
def using(streams: ExampleStreams | None) -> Iterator[ExampleStreams | None]:
    """Draw from ``streams`` (None: torch's global generator) inside the block."""
    token = _ACTIVE.set(streams)
    try:
        yield streams
    finally:
        _ACTIVE.reset(token)


@contextmanager
def per_example(seed: int, ids: Sequence[int] | torch.Tensor, purpose: str) -> Iterator[ExampleStreams]:
    """Streams for the examples ``ids`` (indices in their split) under ``seed`` and ``purpose``.

    torch's global generator is also seeded, from the first example's stream
    seed, and restored afterwards: a user's model that draws from it directly
    (``torch.rand``) gets the same numbers for the same batches, and the
    caller's generator state is left as it was.
    """
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    source = ExampleStreams.for_examples(seed, ids, purpose)
    with torch.random.fork_rng(devices=[]), using(source):
        torch.manual_seed(example_seed(seed, ids[0] if ids else 0, purpose + "/global"))
        yield source


def _per_row(shape: Sequence[int], batch_dim: int, sample, split_invariant: bool = True) -> torch.Tensor:
    """``shape`` assembled from ``sample(shape_of_k_rows, generator)`` per example of the active streams.

    An example's copies in one pass (EOT, certification draws) are made in one call,
    ``[k, *row]``: the same numbers as ``k`` calls of one row each when the sampler is
    ``split_invariant`` (torch's CPU uniform draws always are; see :func:`randn_like`),
    else one call per copy.
    """
    shape = tuple(shape)
    row = shape[:batch_dim] + shape[batch_dim + 1 :]
    if shape[batch_dim] == 0:
        return torch.empty(shape)

    def copies(g: torch.Generator, k: int) -> torch.Tensor:
        if split_invariant:
            return sample((k, *row), g)
        return torch.stack([sample(row, g) for _ in range(k)])

    return active().draw(copies, shape[batch_dim]).movedim(0, batch_dim)


def rand(shape: Sequence[int], *, batch_dim: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``U[0, 1)`` of ``shape`` on the CPU whose slice ``i`` along ``batch_dim`` comes from example ``i``'s stream."""
    if active() is None:
        return torch.rand(tuple(shape), dtype=dtype)
    return _per_row(shape, batch_dim, lambda row, g: torch.rand(row, generator=g, dtype=dtype))


def uniform_like(x: torch.Tensor, low: float, high: float, *, batch_dim: int = 0) -> torch.Tensor:
    """``U[low, high)`` shaped like ``x``, per example as :func:`rand`."""
    if active() is None:
        return torch.empty_like(x).uniform_(low, high)
    return _per_row(x.shape, batch_dim, lambda row, g: torch.empty(row, dtype=x.dtype).uniform_(low, high, generator=g)).to(x.device)


def randn_like(x: torch.Tensor, *, batch_dim: int = 0) -> torch.Tensor:
    """``N(0, 1)`` shaped like ``x``, per example as :func:`rand`.

    torch's CPU ``randn`` fills 16 values at a time from 16 uniforms and redraws a
    ragged tail, so drawing ``k`` rows at once repeats ``k`` single-row draws only
    when a row holds a multiple of 16 values (MNIST's 784, digits' 64, CIFAR's 3072).
    """
    if active() is None:
        return torch.randn_like(x)
    numel = x[(slice(None),) * batch_dim + (0,)].numel() if x.shape[batch_dim] else 0
    return _per_row(x.shape, batch_dim, lambda row, g: torch.randn(row, generator=g, dtype=x.dtype),
                    split_invariant=numel % 16 == 0).to(x.device)
