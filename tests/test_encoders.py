import pytest
import torch

from robustbench_snn.core.encoders import DirectEncoder, PoissonEncoder, create_encoder
from robustbench_snn.core.errors import UnknownNameError


def test_direct_repeats_input_time_major():
    x = torch.rand(3, 1, 8, 8)
    s = DirectEncoder(T=5)(x)
    assert s.shape == (5, 3, 1, 8, 8)
    assert all(torch.equal(s[t], x) for t in range(5))


def test_poisson_is_binary_with_rate_equal_to_intensity():
    x = torch.tensor([[0.0, 0.1, 0.5, 0.9, 1.0]])
    s = PoissonEncoder(T=20_000, seed=1)(x)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    rate = s.mean(0)[0]
    assert rate[0] == 0 and rate[-1] == 1
    assert torch.allclose(rate, x[0], atol=0.015)


def test_poisson_seed_reproduces_and_differs_across_seeds():
    x = torch.rand(4, 1, 8, 8)
    a = PoissonEncoder(T=8, seed=3)(x)
    b = PoissonEncoder(T=8, seed=3)(x)
    c = PoissonEncoder(T=8, seed=4)(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(0)
    d = PoissonEncoder(T=8)(x)
    torch.manual_seed(0)
    assert torch.equal(d, PoissonEncoder(T=8)(x))


def test_poisson_gradient_is_straight_through_expectation():
    x = torch.rand(2, 6, requires_grad=True)
    PoissonEncoder(T=7)(x).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 7.0))


def test_registry_and_errors():
    assert isinstance(create_encoder("poisson", 4), PoissonEncoder)
    assert PoissonEncoder.stochastic and not DirectEncoder.stochastic
    with pytest.raises(UnknownNameError, match="valid: direct, events, poisson, ttfs"):
        create_encoder("latency", 4)
    with pytest.raises(ValueError, match="T"):
        DirectEncoder(T=0)


def test_poisson_rate_scales_firing_probability():
    torch.manual_seed(0)
    x = torch.full((4000,), 0.8)
    full = PoissonEncoder(T=8, rate=1.0)(x).mean().item()
    half = PoissonEncoder(T=8, rate=0.5)(x).mean().item()
    assert abs(full - 0.8) < 0.01 and abs(half - 0.4) < 0.01
    assert PoissonEncoder(T=8, rate=0.5).label == "poisson(rate=0.5)"
    with pytest.raises(ValueError, match="rate"):
        PoissonEncoder(T=8, rate=0.0)


def test_ttfs_fires_at_most_once_and_earlier_for_larger_values():
    x = torch.linspace(0, 1, 101).view(1, 101)
    s = create_encoder("ttfs", 8)(x)  # [T, 1, 101]
    assert s.shape == (8, 1, 101)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    per_element = s.sum(0).squeeze(0)
    assert per_element.max() == 1 and per_element[0] == 0  # x = 0 never fires
    first = s.squeeze(1).argmax(0)[1:]  # spike step of each x > 0
    assert (first[1:] <= first[:-1]).all()  # non-increasing in x
    assert first[-1] == 0 and first[0] == 7  # x = 1 fires first, tiny x last


def test_ttfs_gradient_is_nonzero_and_points_earlier():
    """The backward pass moves spike time, not zero (a zero gradient would mask attacks)."""
    x = torch.full((1, 5), 0.5, requires_grad=True)
    s = create_encoder("ttfs", 8)(x)
    earliness = torch.arange(8, 0, -1, dtype=torch.float32).view(8, 1, 1)
    (earliness * s).sum().backward()  # reward early spikes: should want larger x
    assert (x.grad > 0).all()
