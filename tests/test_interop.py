"""Neuron interop: SpikingJelly and snntorch neurons are found, reset before every
pass and reached by the attack surrogate, exactly as ours are."""

from pathlib import Path

import pytest
import torch
from torch import nn

from robustbench_snn.attacks.gradient import eot_gradient
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.interop.foreign_neurons import (
    BPDA_SURROGATE, ResetEachPass, StatefulModelError, attack_surrogate, backward_is_zero, check_stateless, find_neurons,
    gradient_mode, needs_reset, reset_states, zero_backward_neurons,
)
from robustbench_snn.submission.card import load_submission

from foreign_models import ZeroSurrogate, zero_surrogates

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")


@pytest.fixture(scope="module")
def snntorch_model():
    return load_submission(EXAMPLES / "snntorch-cnn").model


@pytest.fixture(scope="module")
def spikingjelly_model():
    return load_submission(EXAMPLES / "spikingjelly-cnn").model


@pytest.fixture(scope="module")
def digits_batch(digits_test):
    return digits_test.x[:16], digits_test.y[:16]


def test_neurons_of_each_library_are_found_and_named(snntorch_model, spikingjelly_model, zoo_snn_cnn):
    assert [n.family.name for n in find_neurons(snntorch_model)] == ["snntorch"] * 3
    assert [n.family.name for n in find_neurons(spikingjelly_model)] == ["spikingjelly"] * 2
    assert {n.family.name for n in find_neurons(zoo_snn_cnn)} == {"robustbench_snn"}
    assert needs_reset(snntorch_model) and needs_reset(spikingjelly_model) and not needs_reset(zoo_snn_cnn)


def test_snntorch_init_hidden_state_carries_over_unless_reset(snntorch_model, digits_batch):
    """The property the reset exists for: two raw calls differ; with a reset before each they agree
    and equal a fresh call after snntorch's own reset."""
    from snntorch import utils

    x, _ = digits_batch
    with torch.no_grad():
        reset_states(snntorch_model)
        first, second = snntorch_model(x), snntorch_model(x)
        assert not torch.equal(first, second)
        wrapped = ResetEachPass(snntorch_model)
        assert torch.equal(wrapped(x), wrapped(x)) and torch.equal(wrapped(x), first)
        snntorch_model(x[:5])  # another batch size in between
        utils.reset(snntorch_model.net)
        assert torch.equal(snntorch_model(x), first)


def test_a_model_with_unrecognised_state_is_an_error_naming_the_cause():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.fc(x.flatten(1)) * self.calls

    with pytest.raises(StatefulModelError, match="keeps state across forward passes and none of its neurons is recognised"):
        check_stateless(Counter(), torch.rand(4, 1, 8, 8), torch.rand(3, 1, 8, 8))


@pytest.mark.parametrize("fixture", ["snntorch_model", "spikingjelly_model"])
def test_attack_surrogate_reaches_foreign_neurons_and_is_restored(fixture, request, digits_batch):
    model = ResetEachPass(request.getfixturevalue(fixture))
    x, y = digits_batch
    with torch.no_grad():
        logits = model(x)
    default = eot_gradient(model, x, y)
    with attack_surrogate(model, "triangle:0.5"):
        triangle = eot_gradient(model, x, y)
        with torch.no_grad():
            assert torch.equal(model(x), logits)  # forward unchanged: only the backward is swapped
    assert default.abs().sum() > 0 and not torch.allclose(default, triangle, rtol=1e-3, atol=1e-6)
    assert torch.equal(eot_gradient(model, x, y), default)  # restored after the block


def test_rate_gradient_modes_are_refused_on_foreign_neurons(snntorch_model):
    with pytest.raises(UserInputError, match="'bptr' cannot be applied to snntorch Leaky neurons"):
        with gradient_mode(snntorch_model, "bptr"):
            pass


def test_zero_backward_is_detected_and_bpda_gives_a_real_gradient(spikingjelly_model, digits_batch):
    x, y = digits_batch
    model = ResetEachPass(zero_surrogates(load_submission(EXAMPLES / "spikingjelly-cnn").model))
    assert len(zero_backward_neurons(model)) == 2 and not zero_backward_neurons(spikingjelly_model)
    assert backward_is_zero(ZeroSurrogate()) and not backward_is_zero(find_neurons(spikingjelly_model)[0].module.surrogate_function)
    assert eot_gradient(model, x, y).abs().sum() == 0  # the model's own gradient is zero
    with attack_surrogate(model, None):  # BPDA: atan:1 in place of the zero backward
        bpda = eot_gradient(model, x, y)
    reference = ResetEachPass(spikingjelly_model)
    with attack_surrogate(reference, str(BPDA_SURROGATE)):
        atan = eot_gradient(reference, x, y)
    assert torch.allclose(bpda, atan, rtol=1e-4, atol=1e-7)


def test_certification_resets_a_stateful_model_before_every_pass(snntorch_model, digits_test):
    """Randomized smoothing of an snntorch init_hidden model certifies as with snntorch's own reset in forward."""
    from snntorch import utils

    from robustbench_snn.evaluation.certify import CertifyConfig, certify_dataset, make_mechanism

    class ManualReset(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            utils.reset(self.model.net)
            return self.model(x)

    cfg = CertifyConfig(n0=10, n=60, alpha=0.001, batch=25, seed=0)
    data = digits_test.head(4)
    ours = certify_dataset(snntorch_model, make_mechanism("gaussian", snntorch_model, 0.05), data, cfg, record_time=False)
    manual = ManualReset(snntorch_model)
    theirs = certify_dataset(manual, make_mechanism("gaussian", manual, 0.05), data, cfg, record_time=False)
    assert ours == theirs and any(r["correct"] for r in ours)


@pytest.mark.parametrize("mode", ["bptr", "rga"])
@pytest.mark.parametrize("kind", ["LIFNode", "IFNode"])
def test_rate_gradient_of_a_spikingjelly_neuron_equals_ours(mode, kind):
    """BPTR / RGA reach SpikingJelly multi-step IF / LIF neurons exactly as ours: same spikes, same input gradient."""
    from spikingjelly.activation_based import neuron as sj

    from robustbench_snn.core.neurons import IFNode, LIFNode

    theirs = sj.LIFNode(tau=2.0, step_mode="m", detach_reset=True) if kind == "LIFNode" else sj.IFNode(step_mode="m", detach_reset=True)
    ours = LIFNode(tau=2.0, detach_reset=True) if kind == "LIFNode" else IFNode(detach_reset=True)
    x = (torch.rand(6, 5, 7, generator=torch.Generator().manual_seed(1)) * 1.5).requires_grad_()
    weight = torch.randn(6, 5, 7, generator=torch.Generator().manual_seed(2))
    grads = []
    for net in (ResetEachPass(nn.Sequential(theirs)), nn.Sequential(ours)):
        with gradient_mode(net, mode):
            spikes = net(x)
            (g,) = torch.autograd.grad((spikes * weight).sum(), x)
        grads.append((spikes.detach(), g))
    assert torch.equal(grads[0][0], grads[1][0])
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6) and grads[0][1].abs().sum() > 0
    with gradient_mode(ResetEachPass(nn.Sequential(theirs)), "bptt"):
        pass
    assert "forward" not in vars(theirs)  # the patch is gone after the block


def test_rate_gradient_changes_a_spikingjelly_models_input_gradient(spikingjelly_model, digits_batch):
    x, y = digits_batch
    model = ResetEachPass(spikingjelly_model)
    bptt = eot_gradient(model, x, y)
    with gradient_mode(model, "rga"):
        rga = eot_gradient(model, x, y)
    assert rga.abs().sum() > 0 and not torch.allclose(bptt, rga)
