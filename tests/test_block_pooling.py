"""Average pooling as a block mean in compiled graphs (robustbench_snn.evaluation.block_pooling): the
same values, PyTorch's pooling outside the compiler, swapped only where it pays and only
within the compiled block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import robustbench_snn.evaluation.block_pooling as block_pooling
from robustbench_snn.evaluation.block_pooling import BlockMeanAvgPool2d, block_mean, pools_in_blocks
from robustbench_snn.evaluation.compiled import compiled_path
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.models.zoo import load_checkpoint
from test_compiled import assert_close, logits_and_gradient


def test_a_block_mean_is_the_average_pool():
    torch.manual_seed(0)
    analog, spikes = torch.randn(3, 4, 6, 8), (torch.rand(3, 4, 6, 8) < 0.4).float()
    assert torch.allclose(block_mean(analog, (2, 2)), F.avg_pool2d(analog, 2), atol=1e-6, rtol=0)
    assert torch.equal(block_mean(spikes, (2, 2)), F.avg_pool2d(spikes, 2))  # sums of 0/1: exact in any order
    assert torch.equal(block_mean(spikes, (3, 2)), F.avg_pool2d(spikes, (3, 2)))


def test_outside_the_compiler_the_layer_is_pytorchs_pooling():
    x = torch.randn(2, 3, 7, 7)  # 7 is not a multiple of 2: the compiled graph also falls back
    pool = nn.AvgPool2d(2)
    pool.__class__ = BlockMeanAvgPool2d
    assert torch.equal(pool(x), F.avg_pool2d(x, 2))


@pytest.mark.parametrize("pool, blocks", [
    (nn.AvgPool2d(2), True),
    (nn.AvgPool2d((2, 3)), True),
    (nn.AvgPool2d(3, stride=1), False),
    (nn.AvgPool2d(2, padding=1), False),
    (nn.AvgPool2d(2, ceil_mode=True), False),
    (nn.AvgPool2d(2, divisor_override=3), False),
    (type("MyPool", (nn.AvgPool2d,), {})(2), False),  # a subclass may change forward
])
def test_which_pools_average_disjoint_blocks(pool, blocks):
    assert pools_in_blocks(pool) is blocks


def test_a_spiking_model_compiles_its_pools_as_block_means_within_the_block_only(monkeypatch):
    traced = []

    def spy(x, kernel):
        traced.append(tuple(x.shape[-2:]))
        return block_mean(x, kernel)

    monkeypatch.setattr(block_pooling, "block_mean", spy)
    model = load_checkpoint("snn-cnn", "digits")[0].eval()
    x = load_dataset("digits", "test").x[:12]
    eager = logits_and_gradient(model, x)
    pools = [m for m in model.modules() if isinstance(m, nn.AvgPool2d)]
    with torch.compiler.config.patch(force_disable_caches=True), compiled_path(model, "on"):
        assert {type(m) for m in pools} == {BlockMeanAvgPool2d}
        assert_close(eager, logits_and_gradient(model, x))
    assert traced == [(8, 8), (4, 4)]  # both pools went into the graph as block means
    assert {type(m) for m in pools} == {nn.AvgPool2d}  # and are PyTorch's again after the block
    traced.clear()
    with torch.compiler.config.patch(force_disable_caches=True), compiled_path(model, "on", inference=True):
        with torch.no_grad():
            scores = model(x)
    assert traced == [] and torch.allclose(scores, eager[0], atol=1e-4)  # an inference graph keeps avg_pool2d


def test_an_anns_pools_stay_pytorchs():
    """Its channels-last graph was slower with block means (measured: 2.1x the gradient's time)."""
    model = load_checkpoint("ann-cnn", "digits")[0].eval()
    pools = [m for m in model.modules() if isinstance(m, nn.AvgPool2d)]
    with compiled_path(model, "on"):
        assert pools and {type(m) for m in pools} == {nn.AvgPool2d}
