import math

import pytest
import torch

from robustbench_snn.core.errors import UnknownNameError, UserInputError
from robustbench_snn.core.surrogate import NO_WIDTH, NORMALISED, SURROGATES, Surrogate, spike


@pytest.mark.parametrize("name", NORMALISED)
@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_every_normalised_surrogate_has_peak_one_over_width_and_unit_area(name, width):
    sg = Surrogate(name, width)
    x = torch.linspace(-200, 200, 2_000_001, dtype=torch.float64)
    g = sg.grad(x)
    assert sg.grad(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(1 / width)
    area = torch.trapezoid(g, x).item()
    # atan's tails decay as 1/x^2: the mass beyond |x|=200 is ~ width * 2/(pi^2 * 200);
    # the rectangle's jumps cost the trapezoid rule up to one grid step (2e-4) each
    assert area == pytest.approx(1.0, abs=5e-3 if name == "atan" else 5e-4)
    assert (g >= 0).all()


#: Özdenizci & Legenstein (TMLR 2024), models/layers.py, written out independently:
#: the pseudo-derivative at x = v - v_th for parameter gamma, and its area over the real line.
PAPER = {
    "pcw": (lambda x, g: (1 / g) * (1 / g) * max(g - abs(x), 0.0), lambda g: 1.0),
    "rect": (lambda x, g: float(abs(x) < g / 2) / g, lambda g: 1.0),
    "exp": (lambda x, g: 1.0 * math.exp(-g * abs(x)), lambda g: 2 / g),
    "exp-d": (lambda x, g: 0.3 * math.exp(-g * abs(x)), lambda g: 0.6 / g),
}


@pytest.mark.parametrize("name", sorted(PAPER))
@pytest.mark.parametrize("gamma", [0.25, 0.5, 1.0, 2.0, 4.0])
def test_the_ensemble_surrogates_follow_the_paper_and_integrate_to_their_area(name, gamma):
    formula, area = PAPER[name]
    sg = Surrogate.parse(f"{name}:{gamma}")
    points = [-3.0, -gamma, -0.6 * gamma, -0.1, 0.0, 0.05, 0.3 * gamma, 0.49 * gamma, 0.51 * gamma, 0.9 * gamma, 2.5]
    got = sg.grad(torch.tensor(points, dtype=torch.float64)).tolist()
    assert got == pytest.approx([formula(x, gamma) for x in points], rel=1e-12, abs=1e-15)
    x = torch.linspace(-200, 200, 4_000_001, dtype=torch.float64)
    assert torch.trapezoid(sg.grad(x), x).item() == pytest.approx(area(gamma), rel=1e-3)


@pytest.mark.parametrize("width", [0.25, 1.0, torch.tensor(0.5), torch.tensor(4.0)])
def test_rectangle_is_the_indicator_of_the_open_box_edges_included(width):
    """Written with sign and clamp for the compiler: the same values as the comparison form,
    on the edge (0), just inside, on a dense float32 grid and with the width as a tensor
    (how compiled graphs pass it)."""
    w = float(width)
    half = torch.tensor(w / 2)
    inside = torch.nextafter(half, torch.tensor(0.0))  # the largest float32 below the edge
    edge = torch.stack([-half, half, inside, -inside, torch.tensor(0.0)])
    x = torch.cat([edge, torch.linspace(-3 * w, 3 * w, 100_001)])
    expected = (x.abs() < w / 2).to(x.dtype) / w
    got = SURROGATES["rectangle"](x, width)
    assert torch.equal(got, expected)
    assert got[:2].tolist() == [0.0, 0.0] and got[2:5].tolist() == pytest.approx([1 / w] * 3)


def test_ste_passes_the_gradient_unchanged_and_has_no_width():
    x = torch.tensor([-5.0, -0.2, 0.0, 0.7, 9.0], requires_grad=True)
    spike(x, Surrogate.parse("ste")).sum().backward()
    assert x.grad.tolist() == [1.0] * 5
    with pytest.raises(UserInputError, match="surrogate 'ste' has no width, got 2"):
        Surrogate.parse("ste:2")


def test_aliases_are_the_same_function_under_one_name():
    assert Surrogate.parse("pcw:0.5") == Surrogate("triangle", 0.5)
    assert Surrogate.parse("rect:2") == Surrogate("rectangle", 2.0)


def test_exp_and_its_dampened_twin_differ_only_in_scale():
    x = torch.linspace(-2, 2, 41)
    assert torch.allclose(Surrogate.parse("exp-d:2").grad(x), 0.3 * Surrogate.parse("exp:2").grad(x))


def test_atan_matches_spikingjelly_form_at_default_width():
    x = torch.tensor([0.3])
    alpha = 2.0
    expected = alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)
    assert torch.allclose(Surrogate("atan").grad(x), expected)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_spike_forward_is_heaviside_backward_is_surrogate(name):
    sg = Surrogate(name, 1.0 if name in NO_WIDTH else 0.7)
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
    with pytest.raises(UnknownNameError, match="valid: atan, exp, exp-d, pcw, rect, rectangle, sigmoid, ste, triangle"):
        Surrogate.parse("relu")
    with pytest.raises(UserInputError, match="width"):
        Surrogate.parse("atan:wide")
    with pytest.raises(UserInputError, match=r"must be in \[0.001, 1000\], got 0"):
        Surrogate("atan", 0.0)
