"""SpikingJelly's architectures in the zoo: registered with their CPU and paper configurations,
built from SpikingJelly's own modules, stateless per pass, and attackable end to end."""

import sys

import pytest
import torch

from robustbench_snn.data.dataset import Dataset
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.interop.foreign_neurons import check_stateless, find_neurons
from robustbench_snn.models.registry import MODELS, create_model

pytest.importorskip("spikingjelly")

#: Every architecture of SpikingJelly's model package in the zoo, with its configurations.
ARCHITECTURES = {
    "spikformer": ("small", "spikformer_cifar10"),
    "sdt": ("small", "sdt_8_384"),
    "qkformer": ("small", "qkformer_10_384"),
    "ms-resnet": ("small", "ms_resnet18", "ms_resnet34"),
    "sew-resnet": ("small", "sew_resnet18", "sew_resnet34"),
    "spiking-vgg": ("small", "spiking_vgg11_bn"),
    "plif-net": ("small", "paper"),
}
CIFAR = (3, 32, 32)


def test_rbsnn_list_shows_every_architecture_with_its_configurations(capsys):
    from robustbench_snn.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, configs in ARCHITECTURES.items():
        assert MODELS[name].configs == configs
        assert f"configs (--build config=NAME): {', '.join(configs)}" in out
        assert f"\n  {name} " in out


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_small_configuration_gives_logits_and_the_same_function_on_every_pass(name):
    torch.manual_seed(0)
    model = create_model(name, CIFAR, 10).eval()
    x, other = torch.rand(3, *CIFAR), torch.rand(5, *CIFAR)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3, 10) and bool(torch.isfinite(out).all())
    check_stateless(model, x, other)  # membranes reset before every pass, whatever the batch before
    assert find_neurons(model) and all(n.family.name == "spikingjelly" for n in find_neurons(model))
    assert model.config()["config"] == "small" and model.config()["T"] == 4


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_gradients_reach_the_input_through_every_small_configuration(name):
    torch.manual_seed(0)
    model = create_model(name, CIFAR, 10).eval()
    x = torch.rand(2, *CIFAR, requires_grad=True)
    model(x).logsumexp(1).sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)


def test_an_unknown_configuration_is_one_line_naming_the_valid_ones():
    with pytest.raises(UserInputError, match=r"unknown config 'spikformer_8_512' of model 'spikformer'; valid: small, spikformer_cifar10"):
        create_model("spikformer", CIFAR, 10, config="spikformer_8_512")


def test_a_paper_configuration_refuses_inputs_it_was_not_built_for():
    with pytest.raises(UserInputError, match=r"config 'sdt_8_384' takes 3x32x32 images \(its paper's\), got 1x28x28"):
        create_model("sdt", (1, 28, 28), 10, config="sdt_8_384")


def test_sew_resnet_imports_without_torchvision_and_refuses_downloads():
    from robustbench_snn.models.spikingjelly_nets import import_model_module

    module = import_model_module("sew_resnet")
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - absent or broken beside this torch: the stand-in must be gone again
        assert "torchvision.models.utils" not in sys.modules
        with pytest.raises(UserInputError, match="not downloaded"):
            module.load_state_dict_from_url("https://example.invalid/w.pth")


@pytest.mark.slow
@pytest.mark.parametrize("name, config", [(n, c) for n, cs in ARCHITECTURES.items() for c in cs if c != "small"])
def test_paper_configuration_runs_through_benchmark_at_its_native_input(name, config):
    """Each paper configuration, random weights, CIFAR-10's 3x32x32 input: benchmark's PGD runs
    and reports a row that names SpikingJelly's neurons (what a user with published weights gets)."""
    from robustbench_snn.api import benchmark

    torch.manual_seed(0)
    model = create_model(name, CIFAR, 10, config=config).eval()
    g = torch.Generator().manual_seed(0)
    data = Dataset("cifar10-jpeg", "test", torch.rand(2, *CIFAR, generator=g), torch.tensor([3, 7]), 10)
    result = benchmark(model, dataset="cifar10-jpeg", data=data, attack="pgd", n_examples=2, progress=False, device="cpu")
    assert result.settings["n_examples"] == 2 and 0 <= result.robust_acc <= result.clean_acc <= 100
    assert model.config()["config"] == config
    assert result.model_info["neuron"] == ("ParametricLIFNode" if name == "plif-net" else "LIFNode")  # SpikingJelly's, named


@pytest.mark.parametrize("name, summary", [("psn-cnn", "spikingjelly-psn:PSN x3"), ("ilif-cnn", "spikingjelly:ILIFNode x3")])
def test_the_psn_and_ilif_variants_of_the_spiking_cnn(name, summary):
    from robustbench_snn.interop.foreign_neurons import neuron_summary

    torch.manual_seed(0)
    model = create_model(name, (1, 8, 8), 10)
    assert neuron_summary(model) == summary and "config" not in model.config()
    x = torch.rand(3, 1, 8, 8, requires_grad=True)
    model(x).logsumexp(1).sum().backward()  # trains through the library's own surrogate
    assert bool(x.grad.abs().sum() > 0)
    check_stateless(model.eval(), torch.rand(3, 1, 8, 8), torch.rand(5, 1, 8, 8))
