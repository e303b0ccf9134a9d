"""SpikingJelly's parallel spiking neurons (PSN, MaskedPSN, SlidingPSN), its integer-valued
I-LIF neuron and a spiking-transformer block under the interop: reset before every pass,
the attack surrogate on every neuron with the forward unchanged, BPDA where the backward is
zero, rate gradients refused, and the row naming them."""

import pytest
import torch
from torch import nn

from robustbench_snn.core.errors import UserInputError
from robustbench_snn.interop.foreign_neurons import (
    SurrogateOverride, attack_surrogate, find_neurons, gradient_mode, multi_level, neuron_summary, reset_states, with_reset,
)
from robustbench_snn.core.surrogate import Surrogate

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

from foreign_models import ZeroSurrogate  # noqa: E402

T = 4
NEURONS = {
    "PSN": lambda: neuron.PSN(T=T),
    "MaskedPSN": lambda: neuron.MaskedPSN(k=2, T=T, step_mode="m"),
    "SlidingPSN": lambda: neuron.SlidingPSN(k=2, step_mode="m"),
    "ILIFNode": lambda: neuron.ILIFNode(step_mode="m"),
}


class TinySNN(nn.Module):
    """Direct coding, SpikingJelly layers: ``[B, 1, 8, 8] -> [T, B, ...] -> [B, 10]`` (mean over T)."""

    def __init__(self, make_neuron) -> None:
        super().__init__()
        self.net = nn.Sequential(layer.Flatten(step_mode="m"), layer.Linear(64, 64, step_mode="m"), make_neuron(),
                                 layer.Linear(64, 64, step_mode="m"), make_neuron(), layer.Linear(64, 10, step_mode="m"))

    def forward(self, x):
        return self.net(x.unsqueeze(0).expand(T, *x.shape)).mean(0)


def _transformer():
    from robustbench_snn.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("spikformer", TRANSFORMER_INPUT, 10)
    for bn in (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        bn.momentum = None  # running statistics = the batch's: random weights, but neurons that fire
    with torch.no_grad():
        model.train()(torch.rand(16, *TRANSFORMER_INPUT, generator=torch.Generator().manual_seed(9)))
    return model.eval()


def _model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return _transformer() if kind == "transformer" else TinySNN(NEURONS[kind]).eval()


KINDS = [*NEURONS, "transformer"]
#: The transformer block sees CIFAR-shaped images: on 8x8 ones its random weights barely fire.
TRANSFORMER_INPUT = (3, 32, 32)


def _input(kind: str, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, *(TRANSFORMER_INPUT if kind == "transformer" else (1, 8, 8)), generator=g)


@pytest.fixture(scope="module")
def trained():
    """TinySNN on PSN and on MaskedPSN, trained for a few seconds on digits (a real decision boundary)."""
    from robustbench_snn.data.catalog import load_dataset

    data = load_dataset("digits", "train")
    models = {}
    for kind in ("PSN", "SlidingPSN"):
        torch.manual_seed(0)
        model = TinySNN(NEURONS[kind])
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(0)
        for _ in range(8):
            for idx in torch.randperm(len(data), generator=g).split(64):
                functional.reset_net(model)
                loss = nn.functional.cross_entropy(model(data.x[idx]), data.y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        models[kind] = model.eval()
    return models


@pytest.mark.parametrize("kind", KINDS)
def test_every_neuron_is_recognised_and_named(kind):
    model = _model(kind)
    found = find_neurons(model)
    assert found
    summary = neuron_summary(model)
    if kind in ("PSN", "MaskedPSN", "SlidingPSN"):
        assert summary == f"spikingjelly-psn:{kind} x2"
    elif kind == "ILIFNode":
        assert summary == "spikingjelly:ILIFNode x2"
    else:
        assert summary.startswith("spikingjelly:LIFNode x") and len(found) >= 6  # patch stem, Q, K, V, attention, MLP


@pytest.mark.parametrize("kind", KINDS)
def test_reset_before_every_pass_gives_the_numbers_of_a_manual_reset(kind):
    model = _model(kind)
    wrapped = with_reset(model)
    g = torch.Generator().manual_seed(1)
    batches = [_input(kind, n, g) for n in (3, 5, 3, 7)]  # unequal batch sizes
    with torch.no_grad():
        ours = [wrapped(x) for x in batches]
        by_hand = []
        for x in batches:
            functional.reset_net(model)
            by_hand.append(model(x))
    assert all(torch.equal(a, b) for a, b in zip(ours, by_hand))


@pytest.mark.parametrize("kind", KINDS)
def test_the_attack_surrogate_reaches_every_neuron_and_leaves_the_forward_bit_identical(kind):
    model = with_reset(_model(kind))
    x = _input(kind, 4, torch.Generator().manual_seed(2)).requires_grad_(True)
    own = model(x)
    (g_own,) = torch.autograd.grad(own.logsumexp(1).sum(), x)
    with attack_surrogate(model, "rect:0.5"):
        calls = {}
        overrides = [n.family.spike_fn(n.module) for n in find_neurons(model)]
        assert all(isinstance(o, SurrogateOverride) for o in overrides)
        hooks = [o.register_forward_hook(lambda m, *_: calls.__setitem__(id(m), calls.get(id(m), 0) + 1)) for o in overrides]
        swapped = model(x)
        (g_swapped,) = torch.autograd.grad(swapped.logsumexp(1).sum(), x)
        for h in hooks:
            h.remove()
    assert torch.equal(own, swapped)  # predictions never change
    assert all(calls.get(id(o), 0) >= 1 for o in overrides)  # no neuron silently kept its own backward
    assert not torch.allclose(g_own, g_swapped)
    after = model(x)
    assert torch.equal(after, own)  # restored


def test_a_multi_level_spike_gets_a_surrogate_bump_at_every_count_edge():
    """I-LIF's count round(clip(x, 0, D)) = Σ_k H(x - (k - 1/2)): the derivative is Σ_k s'(x - (k - 1/2))."""
    atan = Surrogate("atan", 1.0)
    d = multi_level(atan.grad, 4)
    x = torch.linspace(-1, 5, 601)
    expected = sum(atan.grad(x - (k - 0.5)) for k in (1, 2, 3, 4))
    assert torch.equal(d(x), expected)
    peaks = x[1:-1][(d(x)[1:-1] > d(x)[:-2]) & (d(x)[1:-1] > d(x)[2:])]
    assert torch.allclose(peaks, torch.tensor([0.5, 1.5, 2.5, 3.5]), atol=0.011)


@pytest.mark.parametrize("kind", ["PSN", "SlidingPSN", "ILIFNode"])
def test_rate_gradients_are_refused_for_neurons_that_do_not_integrate(kind):
    model = _model(kind)
    with pytest.raises(UserInputError, match=r"gradient mode 'bptr' cannot be applied to spikingjelly"):
        with gradient_mode(model, "bptr"):
            pass


@pytest.mark.parametrize("kind", ["PSN", "SlidingPSN"])
def test_bpda_on_a_zero_backward_psn_ends_within_one_point_of_the_hand_substituted_attack(trained, kind):
    """The user's network with a spike function whose backward is zero (BPDA puts atan:1 there)
    against the same weights with SpikingJelly's ATan put in by hand: APGD-CE, digits, eps 0.1."""
    import copy

    from spikingjelly.activation_based import surrogate

    from robustbench_snn.api import benchmark

    zero, by_hand = copy.deepcopy(trained[kind]), copy.deepcopy(trained[kind])
    for n in find_neurons(zero):
        n.module.surrogate_function = ZeroSurrogate()
    for n in find_neurons(by_hand):
        n.module.surrogate_function = surrogate.ATan()
    settings = dict(dataset="digits", eps=0.1, attack="apgd-ce", n_examples=200, progress=False, device="cpu")
    bpda, hand = benchmark(zero, **settings), benchmark(by_hand, **settings)
    assert bpda.clean_acc == hand.clean_acc > 80
    assert hand.robust_acc < hand.clean_acc - 20  # the attack works on this model
    assert abs(bpda.robust_acc - hand.robust_acc) <= 1.0
    assert "spikingjelly-psn" in bpda.model_info["neuron"]
