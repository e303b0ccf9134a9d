"""Automatic BPDA: spike sites nobody registered -- ``(v >= thr).float()``, ``heaviside``, a
custom ``autograd.Function`` with a zero backward -- are found while the model runs and given a
surrogate backward, with the forward unchanged; the row names them."""

import pytest
import torch
from torch import nn

from robustbench_snn.api import benchmark
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.interop.foreign_neurons import attack_surrogate, find_neurons
from robustbench_snn.interop.spike_tracing import SpikeSites, trace_spikes
from robustbench_snn.core.surrogate import Surrogate

T = 4
ATAN = Surrogate("atan", 1.0)


class ZeroBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return (x >= 0).float()

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class AtanByHand(torch.autograd.Function):
    """What a user does by hand: the same spike, atan:1's derivative backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).float()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ATAN.grad(x)


SPIKES = {
    "ge": lambda v: (v >= 1.0).float(),
    "le": lambda v: (1.0 <= v).to(v.dtype),
    "heaviside": lambda v: torch.heaviside(v - 1.0, torch.zeros(())),
    "function": lambda v: ZeroBackward.apply(v - 1.0),
    "hand": lambda v: AtanByHand.apply(v - 1.0),
}


class PlainSNN(nn.Module):
    """A plain-PyTorch LIF MLP: membrane from torch.zeros(x.shape[0], ...), a loop over T, reset by multiplication."""

    def __init__(self, spike: str) -> None:
        super().__init__()
        self.spike = spike
        self.fc1, self.fc2 = nn.Linear(64, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = x.flatten(1)
        v, out = torch.zeros(x.shape[0], 128), 0
        for _ in range(T):
            v = 0.5 * v + self.fc1(x)
            s = SPIKES[self.spike](v)
            v = v * (1 - s)
            out = out + self.fc2(s)
        return out / T


@pytest.fixture(scope="module")
def weights():
    """PlainSNN's weights trained through the hand-made atan spike (seconds on digits)."""
    data = load_dataset("digits", "train")
    torch.manual_seed(0)
    model = PlainSNN("hand")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        for idx in torch.randperm(len(data), generator=g).split(64):
            loss = nn.functional.cross_entropy(model(data.x[idx]), data.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.state_dict()


def _model(spike: str, weights) -> PlainSNN:
    model = PlainSNN(spike)
    model.load_state_dict(weights)
    return model.eval()


@pytest.mark.parametrize("spike", ["ge", "le", "heaviside", "function"])
def test_every_kind_of_unregistered_spike_is_one_site_with_the_forward_unchanged(spike, weights, digits_test):
    model = _model(spike, weights)
    x = digits_test.x[:50]
    traced = trace_spikes(model, x[:8])
    assert traced.model is not None and len(traced.sites) == 1  # one source line, called at every step
    assert traced.sites[0].split("@")[1].startswith("test_spike_tracing.py:")
    with torch.no_grad():
        assert torch.equal(traced.model(x), model(x))
    assert [type(n.module).__name__ for n in find_neurons(traced.model)] == ["TracedSpike"]


@pytest.mark.parametrize("spike", ["ge", "le", "heaviside", "function"])
def test_the_site_backpropagates_the_surrogate_at_the_membrane_offset(spike, weights, digits_test):
    """BPDA's gradient through the found site equals the hand-made atan spike's, element for element."""
    x = digits_test.x[:16].clone().requires_grad_(True)
    hand = _model("hand", weights)
    (expected,) = torch.autograd.grad(hand(x).logsumexp(1).sum(), x)
    traced = trace_spikes(_model(spike, weights), x[:8].detach()).model
    with attack_surrogate(traced, None):  # no surrogate asked for: BPDA (atan:1) where the backward is zero
        (got,) = torch.autograd.grad(traced(x).logsumexp(1).sum(), x)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-8)
    with attack_surrogate(traced, "rect:0.5"):  # and a named surrogate reaches it too
        (other,) = torch.autograd.grad(traced(x).logsumexp(1).sum(), x)
    assert not torch.allclose(other, expected)


@pytest.mark.parametrize("spike", ["ge", "function"])
def test_automatic_bpda_ends_within_one_point_of_the_hand_substituted_attack(spike, weights):
    settings = dict(dataset="digits", eps=0.1, attack="apgd-ce", n_examples=200, progress=False, device="cpu")
    auto, hand = benchmark(_model(spike, weights), **settings), benchmark(_model("hand", weights), **settings)
    assert auto.clean_acc == hand.clean_acc > 90
    assert hand.robust_acc < hand.clean_acc - 30  # the attack works on these weights
    assert abs(auto.robust_acc - hand.robust_acc) <= 1.0
    assert auto.params["spike-tracing"]["sites"][0].startswith(("ge->float@test_spike_tracing.py:", "ZeroBackward@test_spike_tracing.py:"))
    assert auto.model_info["neuron"] == "traced:TracedSpike x1" and auto.settings["surrogate_attack"] == "bpda:atan:1"


def test_a_spike_function_with_a_real_backward_is_left_as_it_is(weights, digits_test):
    traced = trace_spikes(_model("hand", weights), digits_test.x[:8])
    assert traced.model is None and traced.record() == {"not traced": traced.reason}
    assert "no comparison cast to float" in traced.reason


def test_a_model_that_cannot_run_observed_keeps_its_path_and_says_why(digits_test):
    class Refuses(nn.Module):
        def forward(self, x):
            if torch.overrides.has_torch_function((x,)) or torch._C._is_torch_function_mode_enabled():
                raise RuntimeError("no observers")
            return x.flatten(1)[:, :10]

    traced = trace_spikes(Refuses(), digits_test.x[:8])
    assert traced.model is None and traced.reason.startswith("the model failed when observed (RuntimeError: no observers)")


def test_observing_restores_autograd_function_apply(weights, digits_test):
    before = torch.autograd.function.Function.__dict__["apply"]
    SpikeSites(_model("function", weights))(digits_test.x[:4])
    assert torch.autograd.function.Function.__dict__["apply"] is before


@pytest.mark.slow
def test_standard_on_a_comparison_spike_snn_is_at_most_the_hand_substituted_apgd_t_plus_one(weights):
    """The measured case: standard on (v >= thr).float() reaches what APGD-T through atan by hand does."""
    settings = dict(dataset="digits", eps=0.1, n_examples=200, progress=False, device="cpu")
    auto = benchmark(_model("ge", weights), attack="standard", **settings)
    hand = benchmark(_model("hand", weights), attack="apgd-t", **settings)
    assert auto.robust_acc <= hand.robust_acc + 1.0
