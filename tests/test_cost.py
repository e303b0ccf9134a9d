"""Attack cost, counted (robustbench_snn.evaluation.cost): forward and backward passes per example."""

import pytest
import torch

from robustbench_snn import benchmark
from robustbench_snn.evaluation.cost import counting_passes
from robustbench_snn.models.snn import build_snn, spiking_mlp_body


def poisson_mlp():
    torch.manual_seed(0)
    return build_snn(spiking_mlp_body, (1, 8, 8), 10, encoder="poisson", T=4, hidden=32).eval()


def test_a_backward_pass_counts_only_when_it_runs():
    model = poisson_mlp()
    x = torch.rand(6, 1, 8, 8, requires_grad=True)
    with counting_passes(model) as count:
        with torch.no_grad():
            model(x[:4])
        out = model(x)  # a forward with a graph, never differentiated
        model(x.repeat(3, 1, 1, 1)).sum().backward()
    assert (count.forward, count.backward) == (4 + 6 + 18, 18)
    model(x)
    assert count.forward == 28  # the hook is gone after the block
    del out


@pytest.mark.parametrize(("eot", "draws", "steps"), [(1, 1, 5), (3, 2, 4)])
def test_pgd_costs_steps_times_eot_backward_passes(eot, draws, steps):
    """PGD: steps x EOT gradients (each a forward and a backward), plus the clean and
    the robust accuracy over ``draws`` encoder draws each: nothing more, nothing hidden."""
    res = benchmark(poisson_mlp(), attack="pgd", steps=steps, eot=eot, draws=draws, n_examples=10, progress=False, compile="off")
    assert res.passes == {"forward": steps * eot + 2 * draws, "backward": steps * eot}
    row = res.row()
    assert (row["fwd_per_example"], row["bwd_per_example"]) == (steps * eot + 2 * draws, steps * eot)
    assert res.seconds > 0 and row["seconds"] == round(res.seconds, 1)  # a fast run rounds to 0.0 s in the row


def test_square_costs_queries_and_no_backward_pass():
    res = benchmark(poisson_mlp(), attack="square", eot=1, draws=1, n_examples=4, progress=False, compile="off")
    assert res.passes["backward"] == 0 and res.passes["forward"] > 100
