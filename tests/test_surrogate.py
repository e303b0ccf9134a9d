import math

import pytest
import torch

from robustbench_snn.errors import UnknownNameError, UserInputError
from robustbench_snn.surrogate import SURROGATES, Surrogate, spike


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_every_surrogate_has_peak_one_over_width_and_unit_area(name, width):
    sg = Surrogate(name, width)
    x = torch.linspace(-200, 200, 2_000_001, dtype=torch.float64)
    g = sg.grad(x)
    assert sg.grad(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(1 / width)
    area = torch.trapezoid(g, x).item()
    # atan's tails decay as 1/x^2: the mass beyond |x|=200 is ~ width * 2/(pi^2 * 200);
    # the rectangle's jumps cost the trapezoid rule up to one grid step (2e-4) each
    assert area == pytest.approx(1.0, abs=5e-3 if name == "atan" else 5e-4)
    assert (g >= 0).all()


def test_atan_matches_spikingjelly_form_at_default_width():
    x = torch.tensor([0.3])
    alpha = 2.0
    expected = alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)
    assert torch.allclose(Surrogate("atan").grad(x), expected)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_spike_forward_is_heaviside_backward_is_surrogate(name):
    sg = Surrogate(name, 0.7)
    x = torch.tensor([-1.0, -0.1, 0.0, 0.2, 3.0], requires_grad=True)
    s = spike(x, sg)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    s.sum().backward()
    assert torch.allclose(x.grad, sg.grad(x.detach()))


def test_double_backprop_through_spike():
    x = torch.tensor([0.1, -0.2], requires_grad=True)
    (g,) = torch.autograd.grad(spike(x * 2, Surrogate("sigmoid")).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert gg.abs().sum() > 0


def test_parse_and_errors():
    assert Surrogate.parse("triangle:0.25") == Surrogate("triangle", 0.25)
    assert str(Surrogate.parse("atan")) == "atan:1"
    with pytest.raises(UnknownNameError, match="valid: atan, rectangle, sigmoid, triangle"):
        Surrogate.parse("relu")
    with pytest.raises(UserInputError, match="width"):
        Surrogate.parse("atan:wide")
    with pytest.raises(UserInputError, match=r"must be in \[0.001, 1000\], got 0"):
        Surrogate("atan", 0.0)
