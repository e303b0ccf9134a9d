"""The first layer once (robustbench_snn.evaluation.first_layer): the same logits as the model's own
forward, the same input gradients up to rounding, the layer's backward on B rows instead of
T x B, and the model's own forward wherever the projection would not be exact; for a
SpikingJelly network behind direct coding, its step-wise first layers on one step."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import layer
from test_compiled import logits_and_gradient  # (model, x) -> logits and input gradient, per-example streams
from torch import nn

from robustbench_snn.core import streams
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.evaluation.block_pooling import BlockMeanAvgPool2d
from robustbench_snn.evaluation.first_layer import (
    ProjectedForward, StepsOnce, equal_step_modules, is_affine, is_stepwise, projected_body,
)
from robustbench_snn.models.registry import create_model
from robustbench_snn.models.snn import build_snn, spiking_cnn_body, spiking_mlp_body
from robustbench_snn.models.spikingjelly_nets import GreyAsRGB
from robustbench_snn.models.zoo import load_checkpoint


def projected(model):
    projection = projected_body(model)
    assert projection is not None
    return ProjectedForward(model, projection, projection)


@pytest.mark.parametrize("name", ["snn-cnn", "rsc-snn", "snn-mlp"])
def test_the_zoo_models_first_layer_once_gives_their_logits_and_gradients(name):
    """Direct coding (snn-cnn, snn-mlp: the layer runs once, repeated) and Poisson coding
    (rsc-snn: the drawn spikes as before, the gradient through the firing probability)."""
    model = load_checkpoint(name, "digits")[0].eval()
    x = load_dataset("digits", "test").head(40).x
    own_logits, own_grad = logits_and_gradient(model, x)
    logits, grad = logits_and_gradient(projected(model), x)
    assert torch.allclose(logits, own_logits, atol=1e-6, rtol=0)
    assert (grad - own_grad).norm() <= 1e-5 * own_grad.norm() and own_grad.norm() > 0
    # the eager fallback rebuilds the encoder's output from the same rows: the own numbers to the bit
    projection = projected_body(model)
    reference = logits_and_gradient(ProjectedForward(model, projection, projection.reference), x)
    assert torch.equal(reference[0], own_logits) and torch.equal(reference[1], own_grad)


def test_poisson_spikes_keep_their_values_exactly():
    """The projection must not change a Poisson model's forward: the same draws, the same floats."""
    torch.manual_seed(0)
    model = build_snn(spiking_cnn_body, (1, 8, 8), 10, encoder="poisson", T=3).eval()
    x = torch.rand(12, 1, 8, 8)

    def logits(forward):
        with torch.no_grad(), streams.per_example(0, torch.arange(len(x)), "test"):
            return forward(x)

    assert torch.equal(logits(projected(model)), logits(model))


@pytest.mark.parametrize("encoder, rows", [("poisson", {"values": 4 * 6, "gradient": 6}), ("direct", {"gradient": 6})])
def test_the_first_layers_gradient_runs_on_one_row_per_example(encoder, rows):
    """What the layer sees: with Poisson coding the T x B spike rows without a gradient and the
    B rows of the firing probability with it; with direct coding only the B rows."""
    torch.manual_seed(1)
    model = build_snn(spiking_mlp_body, (1, 8, 8), 10, encoder=encoder, T=4, hidden=16).eval()
    seen: dict[str, int] = {}

    def record(module, args):
        seen["gradient" if args[0].requires_grad else "values"] = args[0].shape[0]

    first = model.body[0].module
    handle = first.register_forward_pre_hook(record)
    logits_and_gradient(projected(model), torch.rand(6, 1, 8, 8))
    handle.remove()
    assert seen == rows


def test_where_the_projection_would_not_be_exact_the_models_own_forward_runs():
    torch.manual_seed(2)
    model = build_snn(spiking_cnn_body, (1, 8, 8), 10, encoder="direct", T=2)
    forward = projected(model.eval())
    model.train()  # batch norm on the batch's statistics: not an affine map of each example
    assert not is_affine(model.body[0].module)
    calls = []
    handle = model.body[0].module.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    forward(torch.rand(5, 1, 8, 8))
    handle.remove()
    assert calls == [2 * 5]  # the model's own forward: every step through the layer
    ttfs = build_snn(spiking_cnn_body, (1, 8, 8), 10, encoder="ttfs", T=4, readout="weighted")
    assert projected_body(ttfs.eval()) is None  # spike timing: each step's gradient is its own
    direct = build_snn(spiking_cnn_body, (1, 8, 8), 10, encoder="direct", T=2).eval()
    direct.encoder.__class__ = type("ShiftedDirect", (type(direct.encoder),), {"forward": lambda self, x: super(type(self), self).forward(x + 0.1)})
    assert projected_body(direct) is None  # its inherited split would not describe its forward
    own = type("NoisyClassifier", (type(model),), {"forward": lambda self, x: type(model).forward(self, x + 0.1)})
    model.__class__ = own
    assert projected_body(model.eval()) is None  # a forward of its own may do more than encode and read out


@pytest.mark.parametrize("module, affine", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2).eval(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2, 2)), True),
    (BlockMeanAvgPool2d(2), True),  # the compiled path's pooling (robustbench_snn.evaluation.block_pooling)
    (nn.BatchNorm2d(2).train(), False),
    (nn.BatchNorm2d(2, track_running_stats=False).eval(), False),
    (nn.Sequential(nn.Linear(2, 2), nn.ReLU()), False),
    (nn.MaxPool2d(2), False),
    (type("MyConv", (nn.Conv2d,), {})(1, 1, 1), False),  # a subclass may change forward
])
def test_affine_layers(module, affine):
    assert is_affine(module) is affine


def _spikingjelly(name: str, shape=(3, 16, 16), **kwargs):
    """A registered SpikingJelly architecture with random weights and random batch-norm statistics, in eval mode."""
    pytest.importorskip("spikingjelly")
    torch.manual_seed(3)
    model = create_model(name, shape, 10, **kwargs)
    for bn in (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.05, 0.2)  # small variances: the neurons fire
    return model.eval()


def steps_once(model) -> list[str]:
    """Run ``model``'s equal-step first layers on one step (as the compiled path does); their names."""
    found = equal_step_modules(model, model.net)
    for _, module in found:
        module.forward = StepsOnce(module, module.forward)
    return [name for name, _ in found]


@pytest.mark.parametrize("name, shape, stem", [
    ("sew-resnet", (3, 16, 16), ["conv1", "bn1"]),
    ("sew-resnet", (1, 16, 16), ["0", "1.conv1", "1.bn1"]),  # grey images as three equal channels first
    ("spiking-vgg", (3, 16, 16), ["features.0", "features.1"]),
    ("ms-resnet", (3, 16, 16), ["stem", "layer1.0.downsample"]),  # the membrane shortcut also takes the stem's output
    ("spikformer", (3, 16, 16), ["patch_embed.stages.0.conv_bn.block"]),
    ("sdt", (3, 16, 16), ["patch_embed.stages.0.0", "patch_embed.stages.0.1"]),
    ("qkformer", (3, 16, 16), ["patch_embed1.conv1", "patch_embed1.bn1", "patch_embed1.pool1"]),
    ("psn-cnn", (1, 8, 8), ["0"]),
])
def test_a_spikingjelly_networks_first_layers_run_once_with_its_logits_and_gradients(name, shape, stem):
    """Behind direct coding the stem's step-wise layers run on one step: the same logits and input
    gradients as the network's own forward (up to rounding), and the stem's first layer sees B rows."""
    model = _spikingjelly(name, shape)
    x = torch.rand(6, *shape, generator=torch.Generator().manual_seed(4))
    own_logits, own_grad = logits_and_gradient(model, x)
    assert steps_once(model) == stem
    seen = []
    first = dict(model.net.named_modules())[stem[0]]
    handle = first.register_forward_hook(lambda module, args, out: seen.append((tuple(out.shape[:2]), out.stride(0))))
    logits, grad = logits_and_gradient(model, x)
    handle.remove()
    assert seen == [((model.T, 6), 0)]  # one step computed, repeated (a view) over T
    assert torch.allclose(logits, own_logits, atol=1e-5, rtol=0) and own_grad.norm() > 0
    assert (grad - own_grad).norm() <= 1e-5 * own_grad.norm()


def test_no_first_layer_runs_once_where_the_steps_differ_or_the_layer_is_not_step_wise():
    model = _spikingjelly("sew-resnet")
    assert equal_step_modules(model, model) == []  # a model, not the network inside a SpikingJelly classifier
    poisson = _spikingjelly("sew-resnet", encoder="poisson")
    assert equal_step_modules(poisson, poisson.net) == []  # Poisson draws differ from step to step
    ours = build_snn(spiking_cnn_body, (1, 8, 8), 10, encoder="direct", T=2).eval()
    assert equal_step_modules(ours, ours.body) == []  # our own SNNs take the projection above
    x = torch.rand(4, 3, 16, 16)
    own = logits_and_gradient(model.train(), x)
    steps_once(model.eval())
    model.train()  # batch norm on the batch's statistics: its own forward runs
    strides = []
    handle = model.net.bn1.register_forward_hook(lambda module, args, out: strides.append(out.stride(0)))
    trained = logits_and_gradient(model, x)
    handle.remove()
    assert strides[0] > 0 and not is_stepwise(model.net.bn1)  # every step computed
    assert torch.allclose(trained[0], own[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("module, stepwise", [
    (layer.SeqToANNContainer(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2).eval(), nn.MaxPool2d(2)), True),
    (layer.Conv2d(1, 2, 3, step_mode="m"), True),
    (layer.Conv2d(1, 2, 3, step_mode="s"), False),  # single-step: [T, B, ...] is not its input
    (layer.BatchNorm2d(2, step_mode="m").eval(), True),
    (layer.BatchNorm2d(2, step_mode="m").train(), False),
    (nn.Sequential(layer.Conv2d(1, 2, 3, step_mode="m"), layer.MaxPool2d(2, step_mode="m")), True),
    (layer.SeqToANNContainer(nn.Conv2d(1, 2, 3), nn.ReLU()), False),
    (nn.Conv2d(1, 2, 3), False),  # a plain convolution takes [B, C, H, W]
    (GreyAsRGB(), True),
])
def test_step_wise_layers(module, stepwise):
    assert is_stepwise(module) is stepwise
