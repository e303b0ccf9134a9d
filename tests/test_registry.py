"""One Registry serves every named choice; recipes are data over registered architectures;
the attack contract handles the empty ball once for every attack."""

from __future__ import annotations

import pytest
import torch

from robustbench_snn.attacks import ATTACKS
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


#: The attacks the package registers (each under the contract test below, a new one too).
EVERY_ATTACK = tuple(ATTACKS)


def test_the_registry_holds_the_attacks_the_cli_documents():
    assert {"fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "square", "mixed-pgd", "ta-pgd", "fb-pgd", "sparse-flip",
            "random-flip"} <= set(EVERY_ATTACK)


@pytest.mark.parametrize("name", EVERY_ATTACK)
def test_the_empty_ball_returns_the_input_without_a_model_call(name):
    """The contract (robustbench_snn/attacks/contract.py) answers eps = 0 for every registered attack."""
    from robustbench_snn.attacks import make_ball

    model = _Counting()
    x = (torch.rand(3, 2, 2, 4, 4) > 0.5).float() if "events" in ATTACKS[name].norms else torch.rand(3, 1, 4, 4)
    norm = ATTACKS[name].norms[0]
    out = ATTACKS[name](model, x, torch.tensor([0, 1, 2]), make_ball(norm, 0), steps=2, eot=1)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr() and model.calls == 0


#: A new attack as a user would add it: one file in robustbench_snn/attacks/, nothing else.
NEW_ATTACK_MODULE = '''
"""A one-step attack that exists only in a test."""
from .contract import attack
from .gradient import eot_gradient
from .spec import register_attack


def half_step_records(cfg, surrogate, seed):
    return {"eot": cfg.eot, "surrogate": surrogate, "step": "eps/2 twice"}


@register_attack("half-step", "two FGSM steps of eps/2 (test only)", ticks=lambda steps, eot: 2, records=half_step_records)
@attack
def half_step(model, x, y, ball, eot=1, **_):
    x0 = x = x.detach()
    for step in range(2):
        x = ball.project(ball.step(x, eot_gradient(model, x, y, eot), ball.eps / 2), x0).detach()
    return x
'''

NEW_ATTACK_RUN = """
import json, torch, robustbench_snn as r
from robustbench_snn.attacks import ATTACKS
from robustbench_snn.models.zoo import load_checkpoint
model = load_checkpoint("snn-cnn", "digits", ZOO)[0]
res = r.benchmark(model, attack="half-step", eps=0.2, n_examples=40, progress=False, compile="off")
print(json.dumps({"listed": "half-step" in ATTACKS, "clean": res.clean_acc, "robust": res.robust_acc,
                  "params": res.params["half-step"], "row": res.row()["attack"]}))
"""


def test_an_attack_is_one_file_in_the_attacks_folder(tmp_path):
    """Adding an attack touches one file: a module dropped into a copy of the package's
    attacks/ folder is listed by ``rbsnn list``, runs under ``benchmark()`` (its spec's records
    in the row's params) and lowers accuracy, with no other file changed."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import robustbench_snn

    package = Path(robustbench_snn.__file__).parent
    copy = tmp_path / "robustbench_snn"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "attacks" / "half_step.py").write_text(NEW_ATTACK_MODULE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "RBSNN_HOME": str(tmp_path / "home")}
    listed = subprocess.run([sys.executable, "-m", "robustbench_snn", "list"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0 and "half-step" in listed.stdout and "two FGSM steps of eps/2" in listed.stdout
    code = NEW_ATTACK_RUN.replace("ZOO", repr(str(package.parent / "zoo")))
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["listed"] and out["row"] == "half-step" and out["params"]["step"] == "eps/2 twice"
    assert out["robust"] < out["clean"] - 10
