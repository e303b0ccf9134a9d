import pytest
import torch

from robustbench_snn.core.neurons import IFNode, LIFNode, set_surrogate, spiking_neurons
from robustbench_snn.core.surrogate import Surrogate


def run(neuron, values):
    x = torch.tensor(values, dtype=torch.float32).view(-1, 1)  # [T, B=1]
    return neuron(x).view(-1).tolist()


def test_if_hard_reset_closed_form():
    # constant 0.3: v = 0.3, 0.6, 0.9, 1.2 -> spike, reset to 0, repeat
    assert run(IFNode(), [0.3] * 8) == [0, 0, 0, 1, 0, 0, 0, 1]


def test_if_soft_reset_keeps_residual():
    # 0.6 per step: 0.6, 1.2(s, v=.2), .8, 1.4(s, v=.4), 1.0(s, v=0), .6
    assert run(IFNode(v_reset=None), [0.6] * 6) == [0, 1, 0, 1, 1, 0]


def test_lif_decays_towards_input():
    # tau=2: h_t = v + (x - v)/2. x=1.5: 0.75, 1.125 -> spike at t=1, reset, 0.75, 1.125...
    assert run(LIFNode(tau=2.0), [1.5] * 4) == [0, 1, 0, 1]
    # sub-threshold input never fires: v -> x = 0.9 < 1
    assert run(LIFNode(tau=2.0), [0.9] * 50) == [0] * 50


def test_lif_tau_matches_closed_form_membrane():
    n = LIFNode(tau=4.0, v_threshold=100.0)  # never fires, v_t = x (1 - (1 - 1/tau)^t)
    assert n.tau == pytest.approx(4.0)
    x = torch.full((6, 1), 2.0)
    v, vs = torch.zeros(1), []
    for t in range(6):
        v = n.charge(v, x[t], t)
        vs.append(v.item())
    assert vs == pytest.approx([2.0 * (1 - 0.75 ** (t + 1)) for t in range(6)], rel=1e-5)


def test_no_state_carried_between_calls():
    n = LIFNode()
    x = torch.rand(5, 3, 4) * 2
    assert torch.equal(n(x), n(x))


def test_learnable_threshold_and_tau_get_gradients():
    n = LIFNode(learnable_threshold=True, learnable_tau=True)
    x = (torch.rand(4, 8, 5) * 2).requires_grad_()
    n(x).sum().backward()
    assert n.v_threshold.grad is not None and n.v_threshold.grad.abs() > 0
    assert n.w.grad is not None and n.w.grad.abs() > 0


def test_set_surrogate_changes_gradient_not_output():
    net = torch.nn.Sequential(LIFNode(), LIFNode())
    x = (torch.rand(4, 16) * 2).requires_grad_()
    out1 = net(x).detach()
    g1 = torch.autograd.grad(net(x).sum(), x)[0]
    set_surrogate(net, "rectangle:0.1")
    assert all(n.surrogate == Surrogate("rectangle", 0.1) for n in spiking_neurons(net))
    assert torch.equal(net(x), out1)
    g2 = torch.autograd.grad(net(x).sum(), x)[0]
    assert not torch.allclose(g1, g2)


def test_lif_rejects_tau_at_most_one():
    with pytest.raises(ValueError, match="tau"):
        LIFNode(tau=1.0)
