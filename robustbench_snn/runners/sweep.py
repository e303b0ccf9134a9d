"""Evaluation grids that outgrow one process: ``rbsnn sweep`` (and :func:`sweep`).

A grid (models x attacks x eps x datasets) is a list of :class:`EvalSpec`, each
one leaderboard row, exactly what one ``rbsnn eval`` gives. Each is split into
shards of its examples (:func:`shard_ranges`); a shard runs
:func:`~robustbench_snn.api.benchmark` with ``shard=(start, stop)``, which plans
the evaluation as the whole (input checks, compile decision, ``n_examples``)
and attacks only those examples. Every score is per example -- random numbers
come from per-example streams keyed by the example's id, library attacks draw
per block of :data:`~robustbench_snn.core.streams.LIBRARY_BLOCK` ids and shards never
split a block, and only the first shard (which holds the masking-evidence
subset) gathers evidence -- so :func:`merge` of the shards is the row a single
process gives with the same seed (only the timing differs).

Finished shards are kept as per-example files (safetensors: tensors and a JSON
header, nothing unpickled) under ``store/<spec id>/``, where the spec id hashes
the reproducing command, the code's commit and the checkpoint's weights file: a
killed sweep re-run computes only the shards it lacks, and a shard made by other
code or on other weights is never merged.
Rows go through the same locked upsert as ``rbsnn eval``.

Backends: ``local`` (a pool of worker processes, or this process for one
worker) and ``ray`` (one Ray task per shard; ``address`` or ``RAY_ADDRESS`` for
an existing cluster, else a local ``ray.init(num_cpus=workers)``; on ``cuda``
each task asks Ray for one GPU). Workers compute and return the per-example
results; the driver stores them and merges, so a cluster needs no shared disk,
only the same robustbench-snn checkout (commit) on every node.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from tqdm import tqdm

from ..api import benchmark
from ..core.atomic import atomic_write_bytes
from ..core.budget import DEFAULT_EPS_TEXT, Eps
from ..core.errors import UserInputError, WorkerLostError
from ..core.limits import BATCH_SIZE, is_number
from ..core.progress import stopping_when
from ..core.streams import LIBRARY_BLOCK
from ..data.catalog import load_dataset
from ..evaluation.settings import check_budget
from ..models.zoo import checkpoint_paths, is_committed_zoo, load_checkpoint, read_card
from ..results.benchmark_result import BenchmarkResult, percent
from ..results.leaderboard import check_folder_writable, default_path, upsert
from ..results.provenance import command_line, git_commit

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
#: Where finished shards are kept unless told (relative to the working directory).
DEFAULT_STORE = ".rbsnn-shards"


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation = one leaderboard row: the options of ``rbsnn eval`` for one zoo model."""

    model: str
    dataset: str = "digits"
    attack: str = "pgd"
    norm: str = "linf"
    eps: str | None = None  # as typed; None: the norm's default
    steps: int = 10
    alpha: str | None = None
    surrogate: str | None = None
    grad: str = "bptt"
    eot: int | None = None
    draws: int | None = None
    seed: int = 0
    T: int | None = None
    n_examples: int | None = None
    data_dir: str | None = None
    zoo_dir: str | None = None
    batch_size: int = BATCH_SIZE
    compile: str = "auto"

    @property
    def eps_text(self) -> str:
        """The budget as typed, else the threat model's default as it is written."""
        return self.eps if self.eps is not None else DEFAULT_EPS_TEXT[self.norm]

    @property
    def budget(self) -> Eps:
        """The checked budget (one-line error naming ``--eps`` if it is bad)."""
        return Eps.parse(self.eps_text, self.norm, "--eps")

    def command(self, eot: int, draws: int, n: int) -> str:
        """The ``rbsnn eval`` command that reproduces the row alone (``eot`` / ``draws`` as
        they ran, ``n`` examples); settings that can change a number appear when not default."""

        return command_line(
            "eval", ("--model", self.model), ("--attack", self.attack), ("--dataset", self.dataset), ("--norm", self.norm),
            ("--eps", self.eps_text), ("--steps", self.steps), ("--eot", eot), ("--draws", draws), ("--seed", self.seed),
            ("--alpha", self.alpha), ("--surrogate", self.surrogate), ("--grad", None if self.grad == "bptt" else self.grad),
            ("--T", self.T), ("--n-examples", n if self.n_examples else None), ("--data-dir", self.data_dir or None),
            ("--batch-size", self.batch_size if self.batch_size != BATCH_SIZE else None), ("--zoo-dir", None if is_committed_zoo(self.zoo_dir) else self.zoo_dir),
            ("--compile", self.compile if self.compile != "auto" else None),
        )

    def checkpoint(self):
        """(model, card): the zoo checkpoint, at ``T`` when given."""

        return load_checkpoint(self.model, self.dataset, self.zoo_dir, **({"T": self.T} if self.T is not None else {}))

    def examples(self):
        """The evaluation's examples (the first ``n_examples`` of the test split)."""

        return load_dataset(self.dataset, "test", self.data_dir).head(self.n_examples)

    def run(self, model, card, data, *, device: str = "cpu", progress: bool = False, shard: tuple[int, int] | None = None,
            resume_file: Path | None = None):
        """:func:`~robustbench_snn.api.benchmark` with these options (a BenchmarkResult)."""

        return benchmark(
            model, dataset=self.dataset, threat_model=self.norm, eps=self.eps_text, attack=self.attack, surrogate=self.surrogate,
            grad=self.grad, eot=self.eot, draws=self.draws, seed=self.seed, device=device, batch_size=self.batch_size,
            progress=progress, steps=self.steps, alpha=self.alpha, name=self.model, zoo_dir=self.zoo_dir, data=data,
            info={"defense": card["defense"], "surrogate_train": card["surrogate"], "source": "zoo"}, compile=self.compile, shard=shard,
            resume_file=resume_file,
        )

    def ident(self, commit: str, weights: str) -> str:
        """The store folder of this spec's shards: the options, the code's commit and the
        checkpoint's ``weights`` (its weights file's SHA-256), so a model retrained under the same name
        never reuses the shards of the old weights. Not the batch size, which changes no number
        (per-example streams): a sweep re-run with a smaller one, as a memory check may ask,
        reuses the shards already stored."""
        options = {k: v for k, v in asdict(self).items() if k != "batch_size"}
        text = json.dumps({**options, "commit": commit, "weights": weights}, sort_keys=True)
        return f"{self.dataset}-{self.model}-{self.attack}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def shard_ranges(n: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous (start, stop) ranges over ``n`` examples, as equal as
    whole blocks of :data:`LIBRARY_BLOCK` ids allow (a library attack's random
    numbers are drawn per block, so a block is never split)."""
    blocks = -(-n // LIBRARY_BLOCK)
    if not 1 <= shards <= blocks:
        raise UserInputError(f"bad --shards {shards}; for {n} examples it must be 1..{blocks} (shards hold whole blocks of {LIBRARY_BLOCK})")
    cuts = [round(i * blocks / shards) * LIBRARY_BLOCK for i in range(shards + 1)]
    return [(start, min(stop, n)) for start, stop in zip(cuts, cuts[1:])]


@dataclass(frozen=True)
class Shard:
    spec: EvalSpec
    start: int
    stop: int
    weights: str  # SHA-256 of the checkpoint's weights file, part of the store folder's name

    def path(self, store: Path, commit: str) -> Path:
        return store / self.spec.ident(commit, self.weights) / f"shard-{self.start:06d}-{self.stop:06d}.safetensors"

    def resume_path(self, store: Path, commit: str) -> Path:
        """Where a composite attack's members of this shard are logged while it runs
        (:mod:`robustbench_snn.evaluation.member_log`), so a killed shard resumes after its last member."""
        return self.path(store, commit).with_suffix(".resume")


@dataclass
class ShardResult:
    """What a shard measured: its per-example tensors and the rest of its BenchmarkResult."""

    tensors: dict[str, torch.Tensor]  # clean, robust, member/<name>
    meta: dict[str, Any]

    @classmethod
    def of(cls, result, shard: Shard) -> "ShardResult":
        scores = {"clean": result.clean_per_example, "robust": result.robust_per_example,
                  **{f"member/{k}": v for k, v in result.per_attack_per_example.items()}}
        tensors = {k: v.detach().float().cpu() for k, v in scores.items()}
        meta = {
            "start": shard.start, "stop": shard.stop, "members": list(result.per_attack_per_example), "flags": result.flags,
            "params": result.params, "seconds": result.seconds, "member_seconds": result.member_seconds,
            "model_info": result.model_info, "settings": result.settings, "pass_totals": result.pass_totals,
        }
        return cls(tensors, json.loads(json.dumps(meta, default=str)))

    def save(self, path: Path) -> None:
        own = {k: v.contiguous().clone() for k, v in self.tensors.items()}  # the last member's scores are `robust` itself
        atomic_write_bytes(path, save(own, metadata={"meta": json.dumps(self.meta)}))

    @classmethod
    def load(cls, path: Path, shard: "Shard | None" = None) -> "ShardResult":
        """The shard stored at ``path``, checked to be one :meth:`save` wrote (for ``shard``'s
        examples, if given); :class:`BrokenShardError` otherwise (truncated, foreign or edited)."""

        try:
            with safe_open(str(path), framework="pt") as f:
                part = cls({k: f.get_tensor(k) for k in f.keys()}, json.loads((f.metadata() or {})["meta"]))
        except (SafetensorError, OSError, KeyError, ValueError, TypeError, RecursionError) as e:  # JSONDecodeError is a ValueError
            raise BrokenShardError(path, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        why = part.mismatch(shard)
        if why:
            raise BrokenShardError(path, why)
        return part

    def mismatch(self, shard: "Shard | None" = None) -> str | None:
        """Why these tensors and meta are not a shard :meth:`of` made (for ``shard``), or None."""
        meta = self.meta
        if not isinstance(meta, dict) or any(k not in meta for k in SHARD_META):
            return f"meta lacks {', '.join(k for k in SHARD_META if not isinstance(meta, dict) or k not in meta)}"
        start, stop = meta["start"], meta["stop"]
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
            return f"bad example range {start!r}-{stop!r}"
        if shard is not None and (start, stop) != (shard.start, shard.stop):
            return f"holds examples {start}-{stop}, not {shard.start}-{shard.stop}"
        why = _meta_types(meta)
        if why:
            return why
        want = {"clean", "robust", *(f"member/{m}" for m in meta["members"])}
        if set(self.tensors) != want:
            return f"tensors {sorted(self.tensors)}, expected {sorted(want)}"
        if any(t.shape != (stop - start,) or not (torch.isfinite(t) & (t >= 0) & (t <= 1)).all() for t in self.tensors.values()):
            return f"scores are not {stop - start} values in [0, 1] each"
        return _not_of(meta, shard.spec) if shard is not None else None


def _meta_types(meta: dict[str, Any]) -> str | None:
    """Why a shard's metadata does not have the types :func:`merge` reads, or None."""
    number = partial(is_number, low=0)
    if not (isinstance(meta["members"], list) and all(isinstance(m, str) for m in meta["members"])):
        return "members is not a list of names"
    if not (isinstance(meta["flags"], list) and all(isinstance(f, str) for f in meta["flags"])):
        return "flags is not a list of names"
    if not all(isinstance(meta[k], dict) for k in ("params", "member_seconds", "model_info", "settings", "pass_totals")):
        return "params, member_seconds, model_info, settings or pass_totals is not an object"
    if not (number(meta["seconds"]) and all(number(v) for v in meta["member_seconds"].values())):
        return "seconds are not finite numbers >= 0"
    if not all(isinstance(meta["pass_totals"].get(k), int) and meta["pass_totals"][k] >= 0 for k in ("forward", "backward")):
        return "pass_totals are not whole numbers >= 0"
    return None


def _not_of(meta: dict[str, Any], spec: EvalSpec) -> str | None:
    """Why a shard's metadata describes another evaluation than ``spec``'s, or None: its row's
    model, dataset, attack, threat model and eps come from the spec, never from a stored file."""

    s, info = meta["settings"], meta["model_info"]
    eps = spec.budget.value
    if info.get("name") != spec.model:
        return f"made for model {info.get('name')!r}, not {spec.model!r}"
    for key, want in (("dataset", spec.dataset), ("attack", spec.attack), ("threat_model", spec.norm)):
        if s.get(key) != want:
            return f"made for {key} {s.get(key)!r}, not {want!r}"
    if not (isinstance(s.get("eps"), (int, float)) and not isinstance(s["eps"], bool)):
        return f"made at eps {s.get('eps')!r}, not {eps:g}"
    if abs(float(s["eps"]) - eps) > 1e-9 * max(1.0, eps):
        return f"made at eps {s['eps']:g}, not {eps:g}"
    return None


#: What :meth:`ShardResult.of` records besides the tensors (and :func:`merge` reads).
SHARD_META = ("start", "stop", "members", "flags", "params", "seconds", "member_seconds", "model_info", "settings", "pass_totals")


class BrokenShardError(UserInputError):
    """A stored shard that is not one :meth:`ShardResult.save` wrote for its examples."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"stored shard {path} is unreadable ({why})")
        self.path = path


def run_shard(shard: Shard, device: str = "cpu", threads: int | None = None, resume_file: Path | None = None) -> ShardResult:
    """Evaluate one shard (in a worker: a pool process or a Ray task), resuming from
    ``resume_file`` where an earlier worker left it."""
    if threads:
        torch.set_num_threads(threads)
    model, card = shard.spec.checkpoint()
    result = shard.spec.run(model, card, shard.spec.examples(), device=device, shard=(shard.start, shard.stop), resume_file=resume_file)
    return ShardResult.of(result, shard)


def merge(parts: list[ShardResult]):
    """The BenchmarkResult of the whole evaluation from its shards (in any order)."""

    parts = sorted(parts, key=lambda p: p.meta["start"])
    first = parts[0].meta
    if first["start"] != 0 or any(a.meta["stop"] != b.meta["start"] for a, b in zip(parts, parts[1:])):
        raise ValueError("shards do not tile the examples: " + ", ".join(f"{p.meta['start']}-{p.meta['stop']}" for p in parts))
    cat = {k: torch.cat([p.tensors[k] for p in parts]) for k in parts[0].tensors}
    members = {name: cat[f"member/{name}"] for name in first["members"]}
    n = len(cat["clean"])
    totals = {k: sum(p.meta["pass_totals"][k] for p in parts) for k in ("forward", "backward")}
    member_seconds: dict[str, float] = {}
    for p in parts:
        for k, v in p.meta["member_seconds"].items():
            member_seconds[k] = member_seconds.get(k, 0.0) + v
    params = dict(first["params"])
    for key in ("compile", "host"):  # facts of the process that ran each shard: kept per shard where they differ
        per_shard = [p.meta["params"].get(key) for p in parts]
        if any(v != per_shard[0] for v in per_shard):
            params[key] = {"shards": per_shard}
    settings = {k: v for k, v in first["settings"].items() if k != "shard"}
    return BenchmarkResult(
        round(100 * cat["clean"].mean().item(), 2), round(100 * cat["robust"].mean().item(), 2), first["flags"],
        percent(members), params, sum(p.meta["seconds"] for p in parts),
        first["model_info"], settings, member_seconds, cat["clean"], cat["robust"],
        {"forward": round(totals["forward"] / n, 1), "backward": round(totals["backward"] / n, 1)}, members, totals,
    )


@dataclass
class SweepReport:
    """What a sweep did: rows written, shards computed here and shards found in the store."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    outputs: list[Path] = field(default_factory=list)
    per_example: list[Path] = field(default_factory=list)  # per-example files written (``per_example=``)


def _local_results(shards: list[Shard], workers: int, device: str,
                   resume: Callable[[Shard], Path | None] = lambda shard: None) -> Iterator[tuple[Shard, ShardResult]]:
    """Results as they finish: in this process for one worker, else a pool of ``workers``
    processes; ``resume(shard)``: the shard's resume file (the store is on this machine's disk)."""
    if workers == 1:
        for shard in shards:
            yield shard, run_shard(shard, device, resume_file=resume(shard))
        return

    threads = max(1, (os.cpu_count() or 1) // workers)
    context = get_context("spawn")
    stop = context.Event()  # set on Ctrl-C: a worker starts no further shard
    pool = None
    try:
        with _interrupts_held():  # workers start with Ctrl-C held, until their own handler is in place
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_setup, initargs=(stop,))
            futures = {pool.submit(_pooled_shard, shard, device, threads, resume(shard)): shard for shard in shards}
        processes = list(pool._processes.values())  # no public handle before Python 3.14
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:  # the pool ends the other workers (SIGTERM)
                for process in processes:
                    process.join(5.0)  # an exit code is read once the process is reaped
                raise WorkerLostError(lost_worker_message(how_workers_died([p.exitcode for p in processes]))) from None
            yield futures[future], result
    except BaseException:  # Ctrl-C, a failed shard, or the caller stopping early
        if pool is not None:
            _interrupt_workers(pool, stop)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def how_workers_died(exit_codes: list[int | None]) -> str:
    """How worker processes ended, from their exit codes (negative: the ending signal)."""
    signals = sorted({-code for code in exit_codes if code is not None and code < 0})
    if len(signals) > 1 and signal.SIGTERM in signals:  # the pool ends the others so once one died: not news
        signals.remove(signal.SIGTERM)
    names = {int(s): s.name for s in signal.Signals}
    named = [f"killed by {names.get(n, f'signal {n}')}" for n in signals]
    oom = " (the kernel's out-of-memory killer sends SIGKILL)" if signal.SIGKILL in signals else ""
    return (", ".join(named) or "ended abruptly") + oom


def lost_worker_message(how: str) -> str:
    """The one line for a worker process that died under a sweep: ``how`` it died, and what
    is kept and what to do."""
    return (f"a sweep worker process died while shards were left to run ({how}); the shards that finished stay in "
            "the store, so running the same command again computes only the others (with fewer --workers, or a smaller "
            "--batch-size, if memory is short)")


#: The stopping signals a sweep's pool start holds (SIGTERM: ``rbsnn`` stops on it as on Ctrl-C).
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _interrupts_held():
    """A Ctrl-C (or SIGTERM) within the block is held, not lost, and delivered again when the
    block ends (in the main thread; elsewhere signals cannot be handled), to the handler in
    place before it. The signals are blocked in this thread, so processes started here
    inherit them blocked across exec and a Ctrl-C while they import torch prints nothing
    there: it waits until :func:`_worker_setup` has its handler in place. The process's other
    threads (tqdm's monitor, OpenMP's) may still take a signal, so the handler meanwhile only
    records it: raised mid-spawn, a KeyboardInterrupt left a worker reading half its start-up
    data (a traceback after rbsnn's last line). Ignoring SIGINT instead, as before, lost a
    Ctrl-C that arrived while the pool started: the sweep then ran on (seen once in a
    cold-venv ``make test``)."""

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    handlers = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in HELD_SIGNALS}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one pending here is delivered, and recorded, now
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)  # to the handler in place before: KeyboardInterrupt, Terminated


#: A pool worker's state: the driver's stop event, whether it was interrupted, whether a shard runs.
_stop = None
_interrupted = False
_running = False


def _worker_setup(stop) -> None:
    """Pool worker set-up. A SIGINT (a terminal's Ctrl-C, or the driver's, :func:`_interrupt_workers`)
    interrupts the running shard, if one runs, and marks the worker so it starts no other;
    any further SIGINT is ignored, so no KeyboardInterrupt lands in the worker's own clean-up.
    (One that lands in a finalizer is printed there and lost; the shard then stops at its
    next attack step, :func:`_pooled_shard`. Delivering it again from sys.unraisablehook was
    tried and reverted: the re-raise landed inside the hook.)"""

    global _stop
    _stop = stop
    # tqdm's default write lock holds a named semaphore; a worker killed with it (the
    # out-of-memory killer) left the resource tracker to warn about it after rbsnn's last line
    tqdm.set_lock(threading.RLock())

    def first(signum, frame):
        global _interrupted
        _interrupted = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if _running:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, first)
    _end_with_the_driver()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)  # held since start-up


def _end_with_the_driver() -> None:
    """Linux: this worker gets SIGTERM when the sweep's process dies, however it dies (the
    out-of-memory killer, ``kill -9``); a worker orphaned so ran its shard on for hours.
    Elsewhere nothing is done (the driver's own handlers still stop its workers)."""

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the driver died before the line above
        os._exit(1)


def _pooled_shard(shard: Shard, device: str, threads: int, resume_file: Path | None = None) -> ShardResult:
    """:func:`run_shard` in a pool worker, refused once the worker or the sweep was
    interrupted, so a stopped pool drains at once and its workers exit cleanly; a
    running shard also stops at its next attack step once the worker was interrupted
    (an interrupt the handler raised into a finalizer is lost there). The per-step check
    reads this process's flag only: the sweep's stop event takes a lock shared by every
    worker, which an interrupt could leave held."""

    global _running
    if _interrupted or (_stop is not None and _stop.is_set()):
        raise KeyboardInterrupt
    _running = True
    try:
        with stopping_when(lambda: _interrupted):
            return run_shard(shard, device, threads, resume_file)
    finally:
        _running = False


def _interrupt_workers(pool, stop, grace: float = 30.0) -> None:
    """Stop ``pool``'s shards now, as a terminal's Ctrl-C stops them: the stop event for what
    is queued, SIGINT to each worker for what runs, SIGTERM to any still alive after ``grace``
    seconds. Without it, leaving the pool waits for every running shard to finish, so a
    Ctrl-C that reaches only this process (``kill -INT``, a batch scheduler) would be
    answered after the shards' hours, not at once.

    Returns once the pool's manager thread has ended too. ``shutdown(wait=False)`` drops the
    pool's handle on that thread, so the caller's ``shutdown(wait=True)`` no longer joins it;
    it then finalized the pool's queues (unlinking their named semaphores) while ``rbsnn``
    ended itself by the signal, and a semaphore unlinked but not yet unregistered made the
    resource tracker warn of a leak after rbsnn's last line (2 runs in 15 of a SIGTERM at pool
    start with cold file caches; a ``make test`` failure in CI)."""

    stop.set()
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle before Python 3.14
    manager = getattr(pool, "_executor_manager_thread", None)  # the shutdown below forgets it: kept to be joined
    for process in processes:
        if process.is_alive() and process.pid is not None:
            try:
                os.kill(process.pid, signal.SIGINT)
            except ProcessLookupError:  # it ended since: nothing to interrupt
                pass
    pool.shutdown(wait=False, cancel_futures=True)  # queued shards are cancelled; idle workers get their stop signal
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
    if manager is not None:
        manager.join(grace)


#: Seconds a Ray cluster's address has to accept a connection (Ray itself retries for minutes).
RAY_CONNECT_TIMEOUT = 10.0


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Refuse, in one line, a cluster address (``host:port`` or ``ray://host:port``) that is
    malformed or where nothing accepts a connection: ``ray.init`` would retry for minutes,
    logging, before failing. ``auto`` and ``local`` are Ray's own lookups, left to it."""

    if address in ("auto", "local"):
        return
    try:
        split = urlsplit(address if "://" in address else f"gcs://{address}")
        host, port = split.hostname, split.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise UserInputError(f"bad Ray address {address!r}; give host:port, ray://host:port, auto or local (--address or $RAY_ADDRESS)")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        raise UserInputError(f"no Ray cluster answers at {address!r} ({e.strerror or e}); check --address or $RAY_ADDRESS") from None


def _ray_results(shards: list[Shard], workers: int, device: str, address: str | None) -> Iterator[tuple[Shard, ShardResult]]:
    """Results as they finish, one Ray task per shard (one CPU, or one GPU on ``cuda``)."""
    try:
        import ray  # optional: the ray extra; the local backend runs without it
    except ImportError:
        raise UserInputError("--backend ray needs Ray: pip install 'robustbench-snn[ray]' (make install does)") from None
    started = not ray.is_initialized()
    if started:
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            check_ray_address(address)
        kwargs = {"address": address} if address else {"num_cpus": workers}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    try:
        resources = {"num_gpus": 1} if device == "cuda" else {"num_cpus": 1}
        task = ray.remote(**resources)(run_shard)
        pending = {task.remote(shard, device, 1): shard for shard in shards}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            try:
                result = ray.get(done[0])
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError) as e:
                raise WorkerLostError(lost_worker_message(f"Ray: {type(e).__name__}")) from None
            yield pending.pop(done[0]), result
    finally:
        if started:
            ray.shutdown()


def sweep(
    specs: Iterable[EvalSpec],
    *,
    shards: int = 1,
    backend: str = "local",
    workers: int = 1,
    address: str | None = None,
    device: str = "cpu",
    store: str | Path = DEFAULT_STORE,
    out: Callable[[EvalSpec], Path] | None = None,
    force: bool = False,
    progress: bool = True,
    commit: str | None = None,
    per_example: str | Path | None = None,
) -> SweepReport:
    """Evaluate every spec in ``shards`` shards on ``backend`` and upsert each row into
    ``out(spec)`` (default: the user's board of the dataset and norm, :mod:`.home`) once all its shards
    are stored; with ``per_example`` (a folder), also write each row's per-example scores
    there, the file ``rbsnn eval --per-example`` writes. Shards already in ``store`` (same
    options, same commit) are reused."""

    if backend not in BACKENDS:
        raise UserInputError(f"bad --backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise UserInputError(f"--address {address!r} names a Ray cluster, but --backend is {backend!r}; add --backend ray or drop --address")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserInputError(f"bad --workers {workers!r}; it must be a positive integer")
    store, specs = Path(store), list(specs)
    commit = commit or git_commit()
    out = out or (lambda spec: default_path(spec.dataset, spec.norm))
    plan: dict[EvalSpec, list[Shard]] = {}
    loaded: dict[tuple, Any] = {}  # the examples of each (dataset, data_dir, n_examples), each loaded once
    examples: dict[EvalSpec, Any] = {}
    hashed: dict[tuple, str] = {}  # the SHA-256 of each checkpoint's weights file, part of its shards' store folder
    for spec in specs:
        read_card(spec.model, spec.dataset, spec.zoo_dir)  # the checkpoint exists, before any work
        key = (spec.dataset, spec.data_dir, spec.n_examples)
        if key not in loaded:
            loaded[key] = spec.examples()
        examples[spec] = loaded[key]
        check_budget(spec.budget, examples[spec].x[0].numel())
        checkpoint = (spec.model, spec.dataset, spec.zoo_dir)
        if checkpoint not in hashed:  # each weights file read once, however many attacks and eps use it
            hashed[checkpoint] = hashlib.sha256(checkpoint_paths(*checkpoint)[0].read_bytes()).hexdigest()
        plan[spec] = [Shard(spec, a, b, hashed[checkpoint]) for a, b in shard_ranges(len(examples[spec]), shards)]
    check_folder_writable(store, "--store")  # before any work: a finished shard with nowhere to go is lost
    report = SweepReport()
    todo, parts = [], {}  # parts: each finished shard's result, read from the store once or returned by its worker
    for spec_shards in plan.values():
        for shard in spec_shards:
            part = _stored_part(shard, store, commit)
            if part is not None:
                parts[shard] = part
                report.reused += 1
            else:
                todo.append(shard)

    def finish(spec: EvalSpec) -> None:
        result = merge([parts[s] for s in plan[spec]])
        s = result.settings
        row = result.row(command=spec.command(s["eot"], s["draws"], s["n_examples"]), commit=commit)
        upsert(out(spec), row, force=force)
        report.rows.append(row)
        report.outputs.append(out(spec))
        if per_example is not None:
            data = examples[spec]
            report.per_example.append(result.save_per_example(Path(per_example), row, data.example_ids, data.y))

    for spec, spec_shards in plan.items():  # specs complete from the store alone
        if all(s in parts for s in spec_shards):
            finish(spec)

    def resume(shard: Shard) -> Path:
        """A local shard's resume file, beside where the shard will be stored (its folder made now)."""
        path = shard.resume_path(store, commit)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    results = (_ray_results(todo, workers, device, address) if backend == "ray" else _local_results(todo, workers, device, resume)) if todo else iter(())
    with tqdm(total=len(todo), desc="shards", unit="shard", disable=not progress) as bar:
        for shard, result in results:
            result.save(shard.path(store, commit))
            parts[shard] = result
            report.computed += 1
            bar.update(1)
            if all(s in parts for s in plan[shard.spec]):
                finish(shard.spec)
    return report


def _stored_part(shard: Shard, store: Path, commit: str) -> ShardResult | None:
    """``shard``'s result from ``store``, or None when it is not there or not readable. A
    broken one (a killed disk, an edit, a file from elsewhere) is computed again, with one
    warning line, and overwritten."""
    path = shard.path(store, commit)
    if not path.is_file():
        return None
    try:
        return ShardResult.load(path, shard)
    except BrokenShardError as e:
        log.warning("rbsnn: warning: %s; computing it again", e)
        return None
