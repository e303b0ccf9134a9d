"""The checks an evaluation makes of a model before attacking it, and what they find out
(:class:`~.composite.ModelFacts`): finite logits of the right shape, no state kept across
passes, stochastic or not, an input gradient or not, a neuron whose own backward is zero
(BPDA), spike sites in a graph of unrecognised code, and what its row calls it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..attacks.gradient import has_input_gradient
from ..core.errors import UserInputError
from ..core.surrogate import SurrogateChoice
from ..data.dataset import Dataset
from ..interop.foreign_neurons import (
    BPDA_SURROGATE, ResetEachPass, attack_surrogate, check_stateless, find_neurons, has_exact_gradient, neuron_summary,
    with_reset, zero_backward_neurons,
)
from ..interop.spike_tracing import trace_spikes
from .composite import COMPOSITES, ModelFacts, every_surrogate
from .memory import saved_bytes_per_input

#: Examples the input checks (output shape, finiteness, statefulness, gradient path) run on.
CHECK_EXAMPLES = 8


def describe(model: nn.Module) -> dict[str, Any]:
    """Encoder, T, neuron and training surrogate of ``model`` for its row."""

    inner = model.model if isinstance(model, ResetEachPass) else model
    if hasattr(inner, "config") and callable(inner.config):
        try:
            config = inner.config()
            return {"encoder": config["encoder"], "T": config["T"], "neuron": config["neuron"], "surrogate_train": config["surrogate"]}
        except (NotImplementedError, KeyError, TypeError, AttributeError, IndexError):
            pass  # a user's own config(): describe it from the outside
    info = inner.describe() if hasattr(inner, "describe") and callable(inner.describe) else {}
    return {"encoder": info.get("encoder", "unknown"), "T": info.get("T", 0), "neuron": neuron_summary(inner), "surrogate_train": "own"}


def check_model(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    """Refuse, with a one-line reason, a model whose output on ``x`` is not finite logits ``[B, K]``."""
    try:
        with torch.no_grad():
            out = model(x)
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - a user's model may fail in any way; say how, in one line
        raise UserInputError(f"the model failed on a batch of shape {list(x.shape)}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(out, torch.Tensor):
        raise UserInputError(f"the model returned {type(out).__name__}, expected a logits tensor [B, {num_classes}] (wrap time-major models in TimeMajor)")
    if tuple(out.shape) != (len(x), num_classes):
        raise UserInputError(
            f"the model's output has shape {list(out.shape)} for {len(x)} inputs; expected [{len(x)}, {num_classes}] "
            f"(logits; wrap a model returning [T, B, K] in TimeMajor)"
        )
    if not torch.isfinite(out).all():
        raise UserInputError(f"the model's output is not finite (NaN or inf in {int((~torch.isfinite(out)).sum())} of {out.numel()} logits)")


def is_stochastic(model: nn.Module, x: torch.Tensor) -> bool:
    """``model.stochastic`` if it says; else whether two passes on ``x`` differ."""
    declared = getattr(model, "stochastic", None)
    if isinstance(declared, bool):
        return declared
    with torch.no_grad():
        return not torch.equal(model(x), model(x))


def surrogate_attack_label(surrogate: SurrogateChoice, attack: str, surrogate_train: str, *, whitebox: bool, bpda: bool) -> str:
    """The row's ``surrogate_attack`` (part of its key): the attack's surrogate, ``all`` (every surrogate),
    ``not-differentiable``, the BPDA surrogate, the composite attack's name, or the model's own."""

    if surrogate.every:
        return f"all({len(every_surrogate())})"
    if surrogate.surrogate is not None:
        return str(surrogate.surrogate)
    if not whitebox:
        return "not-differentiable"
    if bpda:
        return f"bpda:{BPDA_SURROGATE}"
    return attack if attack in COMPOSITES else surrogate_train


def possible_surrogate_attack_labels(surrogate: SurrogateChoice | str | None, attack: str, surrogate_train: str) -> set[str]:
    """Every ``surrogate_attack`` a run can record before its model checks are known (for the
    ``--force`` check made before the attack)."""
    surrogate = SurrogateChoice.parse(surrogate)
    return {surrogate_attack_label(surrogate, attack, surrogate_train, whitebox=w, bpda=b) for w in (True, False) for b in (True, False)}


def prepare_model(model: nn.Module, data: Dataset, device: str, surrogate: SurrogateChoice) -> tuple[nn.Module, ModelFacts]:
    """``model`` on ``device`` in eval mode, wrapped to reset its neurons before every pass,
    and checked: finite logits of the right shape, no state left across passes. A model with
    no recognised neuron and no provable freedom from spikes is traced, and spike sites found
    in its graph get a surrogate backward (:func:`.spike_tracing.trace_spikes`)."""

    model = with_reset(model.to(device).eval())
    probe = data.x[:CHECK_EXAMPLES].to(device)
    other = data.x[CHECK_EXAMPLES : 2 * CHECK_EXAMPLES + 1].to(device) if len(data) > CHECK_EXAMPLES else probe[:1]
    tracing = None
    with torch.random.fork_rng(devices=[]):  # the checks draw no numbers the evaluation would see
        check_model(model, probe, data.num_classes)
        check_stateless(model, probe, other)
        if not find_neurons(model) and not has_exact_gradient(model):
            traced = trace_spikes(model, probe)
            tracing = traced.record()
            model = traced.model or model
        stochastic = is_stochastic(model, probe)
        bpda = not surrogate.replaces_own and bool(zero_backward_neurons(model))
        with attack_surrogate(model, surrogate.surrogate):
            whitebox = has_input_gradient(model, probe)
            saved = saved_bytes_per_input(model, probe[:1])
    return model, ModelFacts(len(find_neurons(model)), stochastic, bpda, whitebox, saved, tracing)
