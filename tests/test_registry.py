"""One Registry serves every named choice; recipes are data over registered architectures;
the attack contract handles the empty ball once for every attack."""

from __future__ import annotations

import pytest
import torch

from robustbench_snn.core.errors import UnknownNameError
from robustbench_snn.core.registry import Registry
from robustbench_snn.models.registry import MODELS, RECIPES, create_model, get_model_entry, list_models


def test_registry_maps_names_to_entries_and_refuses_the_rest():
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1, "the first")

    @reg("b")
    def b():
        """Second widget.

        More text."""

    assert list(reg) == ["a", "b"] and reg["a"] == 1 and "b" in reg and "c" not in reg and len(reg) == 2
    assert reg.description("a") == "the first" and reg.description("b") == "Second widget."
    with pytest.raises(UnknownNameError, match=r"unknown widget 'c'; valid: a, b"):
        reg["c"]
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", 2)
    assert reg.unregister("a") == 1 and list(reg) == ["b"]


def test_every_kind_of_choice_is_a_registry():
    from robustbench_snn.attacks import ATTACKS, NORMS
    from robustbench_snn.evaluation.certify import MECHANISMS
    from robustbench_snn.data.catalog import LOADERS
    from robustbench_snn.defenses import DEFENSES
    from robustbench_snn.core.encoders import ENCODERS
    from robustbench_snn.interop.foreign_neurons import FAMILIES
    from robustbench_snn.core.neurons import NEURONS
    from robustbench_snn.core.surrogate import SURROGATES

    for registry in (MODELS, RECIPES, ENCODERS, DEFENSES, ATTACKS, NORMS, SURROGATES, NEURONS, LOADERS, MECHANISMS, FAMILIES):
        assert isinstance(registry, Registry) and len(registry) > 1
        assert all(registry.description(name) for name in registry), registry.kind  # rbsnn list has a line for each


def test_recipes_are_an_architecture_plus_a_defense():
    """timm-style: the factories are architectures; at-snn & co. are data naming one."""
    assert "at-snn" in RECIPES and "at-snn" not in MODELS and "snn-cnn" in MODELS
    assert {RECIPES[name].architecture for name in RECIPES} == {"snn-cnn"}
    entry = get_model_entry("smooth-snn-s0.5")
    assert (entry.architecture, entry.defense, entry.defense_params) == ("snn-cnn", "gaussian", {"sigma": 0.5})
    assert get_model_entry("rsc-snn").architecture == "rsc-snn"  # an architecture is its own
    assert set(RECIPES) | set(MODELS) == set(list_models())
    a, b = create_model("at-snn", (1, 8, 8), 10), create_model("snn-cnn", (1, 8, 8), 10)
    assert type(a) is type(b) and [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    with pytest.raises(UnknownNameError, match="valid: ann-cnn, at-snn"):
        get_model_entry("nope")


def test_a_card_written_before_recipes_still_loads():
    """Committed cards of recipes name the recipe as architecture ("at-snn"): it resolves."""
    from robustbench_snn.models.zoo import load_checkpoint, read_card

    card = read_card("at-snn", "digits")
    model, _ = load_checkpoint("at-snn", "digits")
    assert card["architecture"] in ("at-snn", "snn-cnn") and model.T == card["T"]


def test_a_recipe_trains_to_a_card_naming_its_architecture_and_defense(tmp_path):
    from robustbench_snn.cli import main
    from robustbench_snn.models.zoo import read_card

    assert main(["train", "--model", "gnr-snn", "--epochs", "1", "--n-train", "64", "--zoo-dir", str(tmp_path), "--quiet"]) == 0
    card = read_card("gnr-snn", "digits", tmp_path)
    assert (card["model"], card["architecture"], card["defense"]) == ("gnr-snn", "snn-cnn", "gnr")


class _Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        self.calls += 1
        return torch.zeros(len(x), 10) + self.w


#: Written out, so that a new attack has to be added here (the next test checks).
EVERY_ATTACK = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "square", "mixed-pgd", "ta-pgd", "fb-pgd", "sparse-flip", "random-flip")


def test_every_attack_is_under_the_contract_test():
    from robustbench_snn.attacks import ATTACKS

    assert set(ATTACKS) == set(EVERY_ATTACK)


@pytest.mark.parametrize("name", EVERY_ATTACK)
def test_the_empty_ball_returns_the_input_without_a_model_call(name):
    """The contract (robustbench_snn/attacks/contract.py) answers eps = 0 for every registered attack."""
    from robustbench_snn.attacks import ATTACKS, attack_norms, make_ball

    model = _Counting()
    x = (torch.rand(3, 2, 2, 4, 4) > 0.5).float() if "events" in attack_norms(ATTACKS[name]) else torch.rand(3, 1, 4, 4)
    norm = attack_norms(ATTACKS[name])[0]
    out = ATTACKS[name](model, x, torch.tensor([0, 1, 2]), make_ball(norm, 0), steps=2, eot=1)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr() and model.calls == 0
