"""The compiled attack path: the deterministic part of a model through ``torch.compile``.

Why: an attack's time goes to the input gradient of an SNN, a forward and a
backward over T time steps whose eager cost is dominated by memory-bound
element-wise work (batch norm, pooling, stacking the steps, the LIF
charge / fire / reset of every step), not by the convolutions
(``benchmarks/compile_speed.py``). Inductor fuses that work into a few
loops. Seven choices make the compiled path pay inside an evaluation:

* **What is compiled.** Only the deterministic part of a model whose
  structure we know: a :class:`~.models.SpikingClassifier`'s ``body`` (after
  its encoder, which stays eager so its draws still come from the
  per-example streams of :mod:`.streams`), a :class:`~.time_major.TimeMajor`
  network after its encoder, an ANN's or a converted QCFS network's whole
  forward. ``--compile on`` also compiles a foreign model's whole forward.
* **Weights frozen.** Inside :func:`compiled_path` every parameter has
  ``requires_grad=False``: the attacks only need ``∂loss/∂x``, and a
  compiled backward would otherwise compute (and discard) every weight
  gradient -- measured: twice the convolution-backward time.
* **One graph for every batch size.** Survivor subsets and EOT stacking
  change the batch from pass to pass. The batch dimension is padded to a
  multiple of :data:`BATCH_MULTIPLE` (zero rows; exact in eval mode, where
  batch norm uses its running statistics and no row sees another) and marked
  dynamic, so one graph serves every size: no recompile when the survivors
  shrink. The surrogate's width is an input of the graph (a buffer of each
  neuron), so a new width reuses it; a new surrogate family compiles a new
  graph, once per process.
* **Inference graphs frozen.** A pass without gradients (scoring, Square's
  queries, certification) is compiled with inductor's ``freezing``: the
  weights become constants of the graph, so the compiler folds each batch
  norm into its convolution or linear layer (exact algebra, Jacob et al.,
  CVPR 2018, Section 3.2) and pre-packs the convolution weights. Measured on
  the MNIST gnr-snn forward (512 images, 1 thread): 1.23x faster than the
  unfrozen compiled forward, for about 40 s more compile time (a frozen
  graph is not kept in inductor's on-disk cache). Gradient graphs are not
  frozen: there the folding gains nothing (``benchmarks/bn_folding.py``:
  inductor already fuses the eval-mode batch norm into its neighbours).
  A frozen graph belongs to one :func:`compiled_path` block; the next block
  compiles again, so weights changed between blocks (training) are seen.
* **Spiking graphs keep PyTorch's layout.** On a CPU with oneDNN, inductor
  turns every convolution's activations channels-last (its
  ``layout_optimization``). That pays for a convolution-bound network, but in
  an SNN the time loop's element-wise work dominates, and the channels-last
  convolution outputs meet the time-step stacking and pooling in the default
  layout, so the fused LIF kernels transpose every step's tensors and write
  the spikes twice. A graph of a module with spiking neurons (ours, or
  SpikingJelly's / snntorch's through :mod:`.interop`) is therefore compiled
  without it; an ANN's keeps it. Measured with ``benchmarks/compile_speed.py
  --layouts`` (both layouts in one run, MNIST, 128 images, one thread): the
  compiled gradient takes 0.80-0.95x the channels-last graph's time on every
  spiking architecture, a frozen scoring pass 0.64-0.72x.
* **The first layer once.** Where a zoo SNN's encoder passes the same
  gradient at every step (direct and Poisson coding) and its body starts with
  an affine layer, that layer's input gradient runs once on the summed steps
  instead of once per step, and under direct coding its forward too
  (:mod:`.first_layer`: exact algebra, the sum taken in another order). Its
  eager fallback rebuilds the encoder's output, so a failed compile still
  gives the reference numbers to the bit. A SpikingJelly architecture behind
  direct coding runs the step-wise layers its input meets first (its stem's
  convolution and batch norm) on one step, repeated over T.
* **Pooling as a block mean.** Average pooling of disjoint blocks compiles
  as a mean over a view of the blocks, whose backward inductor vectorises
  (its ``avg_pool2d`` backward is a scalar gather; :mod:`.block_pooling`),
  in a model with spiking neurons (an ANN's channels-last graph is slower
  with it). Eager calls keep PyTorch's pooling.

Failure to compile (no C++ compiler, an operation the compiler does not
support in a user's model) falls back to the eager module with one warning
line; ``--compile off`` is the eager reference path.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.encoders import Encoder
from ..core.errors import UnknownNameError
from ..core.neurons import spiking_neurons
from ..interop.foreign_neurons import ResetEachPass, find_neurons
from ..interop.time_major import TimeMajor
from ..models import ANNClassifier, SpikingClassifier
from ..models.qcfs_snn import QCFSClassifier
from ..models.spikingjelly_nets import SpikingJellyClassifier
from .block_pooling import block_mean_pooling
from .first_layer import ProjectedForward, StepsOnce, equal_step_modules, projected_body

#: ``--compile`` choices: ``auto`` compiles the parts of a model whose structure is known,
#: ``on`` also a foreign model's whole forward, ``off`` runs everything eagerly.
COMPILE_MODES = ("auto", "on", "off")
#: Batch sizes are padded up to a multiple of this before a compiled call.
BATCH_MULTIPLE = 16
#: ``auto`` compiles only an evaluation whose expected attack work -- examples x EOT copies x
#: gradient steps x input values -- reaches this per graph it will compile. Compiling costs
#: 20-80 s per graph on 2 cores (cold cache) and saves about 60% of each eager gradient
#: (benchmarks/compile_speed.py), so the work must pay for every graph: a single attack compiles
#: two (a gradient and a frozen inference graph), the standard evaluation one gradient graph per
#: surrogate family and gradient mode it uses (about nine). Measured: the digits qcfs-snn
#: standard evaluation at 0.1 (12.5M of work) compiled 8 graphs in 291 of its 445 s; a digits
#: PGD row (360 x 10 x 64 = 230k) or a test run stays eager, the digits rsc-snn standard
#: evaluation (EOT 10, about 125M) and every MNIST standard evaluation (about 300M) compile.
AUTO_MIN_WORK_PER_GRAPH = 5_000_000
#: Wait before the one retry of a failed compile (another process finishing a cached kernel).
RETRY_SECONDS = 2.0
#: Whether a spiking module's graphs take inductor's channels-last activations (see above);
#: ``benchmarks/compile_speed.py --layouts`` sets it to time both in one run.
SPIKING_CHANNELS_LAST = False
#: Whether a zoo SNN's first affine layer runs once for all T steps where that is exact
#: (:mod:`.first_layer`); ``benchmarks/compile_speed.py --first-layer`` turns it off to time both.
FIRST_LAYER_ONCE = True
#: Whether average pooling of disjoint blocks compiles as a mean over the blocks
#: (:mod:`.block_pooling`); ``benchmarks/compile_speed.py --pooling`` turns it off to time both.
BLOCK_MEAN_POOLING = True
#: Graphs per compiled function kept by dynamo (one per surrogate and gradient mode
#: an evaluation uses; its default of 8 is below the standard evaluation's count).
CACHE_SIZE_LIMIT = 64

log = logging.getLogger(__name__)


@dataclass
class CompileStats:
    """What the compiled path did in one evaluation; recorded in the row's params."""

    mode: str = "off"
    compiles: int = 0  # graphs handed to inductor
    seconds: float = 0.0  # wall time of the calls that compiled a graph (tracing, code generation, first run)
    compiled_parts: list[str] = field(default_factory=list)  # which modules ran compiled
    fallback: str | None = None  # why a part ran eagerly instead
    skipped: str | None = None  # why nothing was compiled under "auto"

    def record(self) -> dict[str, Any]:
        """The parameters for the row (the seconds are a measurement, reported beside it)."""
        out: dict[str, Any] = {"mode": self.mode, "parts": self.compiled_parts, "graphs": self.compiles}
        for key in ("fallback", "skipped"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


class CompiledPart:
    """``module`` called through ``torch.compile``, its batch dimension padded and dynamic.

    ``batch_dim`` is the batch dimension of the input and of the output
    (1 for time-major ``[T, B, ...]``, 0 for ``[B, ...]``), ``out_dim`` the
    output's where it differs (a time-major network returning logits
    ``[B, K]``). A module in training mode runs eagerly (padding would change
    its batch statistics).
    """

    def __init__(self, module: nn.Module, forward, batch_dim: int, stats: CompileStats, name: str, inference: bool = False,
                 eager=None, out_dim: int | None = None) -> None:

        self.module, self.forward, self.batch_dim, self.stats, self.name = module, forward, batch_dim, stats, name
        self.out_dim = batch_dim if out_dim is None else out_dim
        #: what runs instead of the graph (the reference numbers): ``forward`` unless given
        self.eager = eager or forward
        self.inference = inference
        #: inductor's ``layout_optimization`` for this part's graphs: off for a spiking module
        self.channels_last = SPIKING_CHANNELS_LAST or not find_neurons(module)
        self.compiled = torch.compile(forward, backend=self._backend)
        self.neurons = spiking_neurons(module)
        self.failed = False

    def runs_compiled(self, x: torch.Tensor, extra: bool) -> bool:
        """Whether this call goes through the compiled graph. Eager instead: after a failure;
        in training mode; without gradients unless ``inference`` (an inference graph is a
        graph of its own: worth it for an evaluation's scoring passes, Square's queries and
        certification, not for a model used only as a transfer source); on an adaptive-surrogate
        run's first pass, which allocates the moments (:mod:`.assg`; its later passes, updating or
        reading them, are compiled: one graph each)."""
        return not (
            self.failed or self.module.training or extra or x.dim() <= self.batch_dim
            or not (torch.is_grad_enabled() or self.inference)
            or any(n.sharpness is not None and n.assg_moments is None for n in self.neurons)
        )

    def _backend(self, graph, example_inputs):
        # inductor freezes only graphs compiled without gradients (compile_fx checks
        # torch.is_grad_enabled()): inference passes, never the attack gradient
        from torch._inductor.compile_fx import compile_fx  # heavy: 2.7 s to import, paid only when a graph compiles

        patches = {"freezing": self.inference, "layout_optimization": self.channels_last}
        compiled = compile_fx(graph, example_inputs, config_patches=patches)
        self.stats.compiles += 1
        return compiled

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if not self.runs_compiled(x, bool(args or kwargs)):
            return self.eager(x, *args, **kwargs)
        B = x.shape[self.batch_dim]
        padded = pad_batch(x, self.batch_dim)
        torch._dynamo.mark_dynamic(padded, self.batch_dim)
        # an adaptive surrogate's moments, (M, D) [rows, ...] per step: one graph for every batch of
        # two or more rows (dynamo specialises a size of 1, so a one-row batch compiles one more; measured)
        for n in self.neurons:
            for moments in n.assg_moments or ():
                for tensor in moments:
                    torch._dynamo.mark_dynamic(tensor, 0)
        before, t0 = self.stats.compiles, time.perf_counter()
        try:
            out = self._call_compiled(padded)
        except Exception as error:  # noqa: BLE001 -- any compiler failure means: run eagerly
            reraise_interrupt(error)
            self.failed = True
            reason = first_line(error)
            self.stats.fallback = f"{self.name}: {reason}"
            log.warning("rbsnn: warning: compiling %s failed (%s); running it eagerly", self.name, reason)
            return self.eager(x)
        if self.stats.compiles > before:
            self.stats.seconds += time.perf_counter() - t0
        return out.narrow(self.out_dim, 0, B)

    def _call_compiled(self, padded: torch.Tensor) -> torch.Tensor:
        """The compiled call, tried twice. Inductor's on-disk cache outlives the process:
        a compile killed while writing a kernel (Ctrl-C, a timeout) leaves a truncated
        ``.so`` that every later process fails to load (measured: a 0-byte file, then
        ``ImportError: <cache>/....so: file too short`` in every run needing that kernel),
        and two processes compiling the same kernel can meet a half-written one. Before
        the second try a kernel file of the cache named by the error is deleted, so it is
        compiled afresh. A real failure (no compiler) fails twice."""
        with torch._dynamo.config.patch(cache_size_limit=CACHE_SIZE_LIMIT, accumulated_cache_size_limit=4 * CACHE_SIZE_LIMIT,
                                        automatic_dynamic_shapes=False):
            try:
                return self.compiled(padded)
            except Exception as error:  # noqa: BLE001 -- retried once; the second failure is reported
                reraise_interrupt(error)
                remove_broken_kernel(error)
                time.sleep(RETRY_SECONDS)
                return self.compiled(padded)


def reraise_interrupt(error: BaseException) -> None:
    """Raise the Ctrl-C (or SIGTERM) inside ``error``: torch wraps an exception raised while a
    graph compiles in ``BackendCompilerFailed``, an ordinary Exception, so without this a stop
    landing mid-compile read as a compiler failure, ran the evaluation eagerly and was lost."""
    for cause in causes(error):
        if isinstance(cause, KeyboardInterrupt):
            raise cause
    if "KeyboardInterrupt" in str(error):  # a compile worker's interrupt, reported as text
        raise KeyboardInterrupt from error


def remove_broken_kernel(error: BaseException) -> Path | None:
    """Delete the compiled kernel (``.so``) inside inductor's cache directory that ``error``
    (or an exception it wraps) names, if any; return its path."""

    from torch._inductor.runtime.cache_dir_utils import cache_dir  # heavy: 2.7 s to import, paid only when a graph compiles

    root = Path(cache_dir()).resolve()
    for cause in causes(error):
        for match in re.finditer(r"(/\S+?\.so)\b", str(cause)):
            path = Path(match.group(1)).resolve()
            if path.is_relative_to(root) and path.is_file():
                path.unlink(missing_ok=True)
                return path
    return None


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then each exception it wraps, outermost first (torch wraps a compiler's
    failure in ``BackendCompilerFailed``, whose ``inner_exception`` is the real one)."""
    while error is not None:
        yield error
        error = getattr(error, "inner_exception", None) or error.__cause__


def first_line(error: BaseException) -> str:
    """``Type: first line`` of the innermost cause of ``error``, at most 200 characters."""
    *_, error = causes(error)
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"[:200]


def pad_batch(x: torch.Tensor, batch_dim: int) -> torch.Tensor:
    """``x`` with zero rows appended along ``batch_dim`` up to a multiple of
    :data:`BATCH_MULTIPLE`, contiguous (a strided view would compile another graph)."""
    pad = -x.shape[batch_dim] % BATCH_MULTIPLE
    if pad:
        shape = list(x.shape)
        shape[batch_dim] = pad
        x = torch.cat([x, x.new_zeros(shape)], batch_dim)
    return x.contiguous()


def worth_compiling(mode: str, work: int, graphs: int = 2) -> str:
    """The mode to run: ``auto`` becomes ``off`` for less than :data:`AUTO_MIN_WORK_PER_GRAPH`
    of attack work per graph to compile, where compiling would cost more than it saves."""
    return "off" if mode == "auto" and work < AUTO_MIN_WORK_PER_GRAPH * graphs else mode


def skipped_reason(work: int, graphs: int = 2) -> str:
    return (f"attack work {work:.3g} < {AUTO_MIN_WORK_PER_GRAPH:.0e} x {graphs} graphs "
            "(examples x EOT x gradient steps x input values, per graph to compile): eager is faster")


def compilable_parts(model: nn.Module, mode: str) -> list[tuple[str, nn.Module, int, int]]:
    """``(name, module, batch_dim, out_dim)`` of the parts of ``model`` to compile under ``mode``:
    the batch dimension of the part's input and of its output."""

    if mode == "off":
        return []
    if isinstance(model, SpikingClassifier):
        return [("body", model.body, 1, 1)]
    if isinstance(model, SpikingJellyClassifier):  # after the encoder, as a SpikingClassifier's body; reset in Python
        if mode == "auto" and _inexact_under_compile(model.net):
            return []
        return [("net", model.net, 1, 1 if model.readout == "mean" else 0)]
    if isinstance(model, TimeMajor) and isinstance(model.encoder, Encoder):
        return [("model", model.model, 1, 1)]
    if isinstance(model, (ANNClassifier, QCFSClassifier)):
        return [("forward", model, 0, 0)]
    if isinstance(model, ResetEachPass):  # state is reset in Python before each pass: compile inside
        return [(f"model.{name}", *rest) for name, *rest in compilable_parts(model.model, mode)]
    return [("forward", model, 0, 0)] if mode == "on" else []


#: SpikingJelly neurons whose compiled input gradient is not the eager one (3x32x32, batch 64,
#: random weights with calibrated batch norm): I-LIF 1.4e-2 relative (its integer counts round
#: at .5, where a last-bit difference flips a count), ParametricLIFNode in the PLIF net 9.3e-2.
#: ``--compile auto`` leaves networks holding them eager; ``on`` compiles them anyway.
INEXACT_UNDER_COMPILE = ("ILIFNode", "ParametricLIFNode")


def _inexact_under_compile(net: nn.Module) -> bool:
    return any(type(m).__name__ in INEXACT_UNDER_COMPILE for m in net.modules())


@contextmanager
def frozen_weights(model: nn.Module) -> Iterator[None]:
    """Within the block no parameter of ``model`` requires a gradient (restored after)."""
    params = list(model.parameters())
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, saved):
            p.requires_grad_(flag)


@contextmanager
def compiled_path(model: nn.Module, mode: str, stats: CompileStats | None = None, *, inference: bool = False) -> Iterator[CompileStats]:
    """Within the block ``model``'s compilable parts (:func:`compilable_parts`) run
    compiled, its weights frozen; the module's own ``forward`` is restored after.
    Passes without gradients run compiled too with ``inference`` (certification).
    Yields the :class:`CompileStats` the parts update (``stats`` if given, so
    several models of one evaluation, e.g. transfer sources, add to one record)."""
    if mode not in COMPILE_MODES:

        raise UnknownNameError("compile mode", mode, COMPILE_MODES)
    stats = stats if stats is not None else CompileStats(mode)
    parts = compilable_parts(model, mode)
    if not parts:
        yield stats
        return
    with ExitStack() as stack:
        stack.enter_context(frozen_weights(model))
        if BLOCK_MEAN_POOLING:
            stack.enter_context(block_mean_pooling(model))
        for name, module, batch_dim, out_dim in parts:
            label = f"{type(model).__name__}.{name}" if name != "forward" else type(model).__name__
            stem = equal_step_modules(model, module) if FIRST_LAYER_ONCE else []
            for _, layer in stem:  # a SpikingJelly network's step-wise first layers on one step (:mod:`.first_layer`)
                stack.callback(_restore_forward, layer, layer.__dict__.get("forward"))
                layer.forward = StepsOnce(layer, layer.forward)
            if stem:
                label += f" (first layers once: {', '.join(layer_name for layer_name, _ in stem)})"
            projection = projected_body(model) if FIRST_LAYER_ONCE and module is getattr(model, "body", None) else None
            if projection is None:
                owner, forward = module, CompiledPart(module, type(module).forward.__get__(module), batch_dim, stats, label, inference,
                                                      out_dim=out_dim)
            else:  # the first layer once (:mod:`.first_layer`): the model's forward calls the compiled body
                label += " (first layer once)"
                part = CompiledPart(module, projection, batch_dim, stats, label, inference, eager=projection.reference)
                owner, forward = model, ProjectedForward(model, projection, part)
            original = owner.__dict__.get("forward")
            owner.forward = forward
            stack.callback(_restore_forward, owner, original)
            if label not in stats.compiled_parts:
                stats.compiled_parts.append(label)
        yield stats


def _restore_forward(module: nn.Module, original) -> None:
    if original is None:
        del module.forward
    else:
        module.forward = original
