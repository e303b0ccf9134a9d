import pytest
import torch

from robustbench_snn.encoders import DirectEncoder, PoissonEncoder, create_encoder
from robustbench_snn.errors import UnknownNameError


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
    with pytest.raises(UnknownNameError, match="valid: direct, poisson"):
        create_encoder("ttfs", 4)
    with pytest.raises(ValueError, match="T"):
        DirectEncoder(T=0)
