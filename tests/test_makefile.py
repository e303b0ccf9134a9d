"""``make leaderboards`` makes the committed rows: the model lists of its recipe name exactly the
models with committed rows of each row set, on the number of examples the recipe passes, and
every committed zoo checkpoint is in a list (a new card cannot be left out of the rebuild)."""

import re

import pytest

from robustbench_snn.results.leaderboard import committed_path, read
from robustbench_snn.results.provenance import ROOT

pytestmark = pytest.mark.artifacts

SUBMISSION = "example-"  # the submit lines' rows (examples/), not zoo models


def makefile_lists() -> dict[str, set[str]]:
    """``NAME := a,b,c`` assignments of the Makefile, as sets of names."""
    text = (ROOT / "Makefile").read_text()
    return {m[1]: set(m[2].split(",")) for m in re.finditer(r"^([A-Z0-9_]+)\s*:=\s*([a-z0-9.,-]+)\s*$", text, re.M)}


def models_with(dataset: str, norm: str, attack: str, n_examples: int | None = None) -> set[str]:
    board = read(committed_path(dataset, norm))
    rows = board[(board.attack == attack) & ~board.model.str.startswith(SUBMISSION)]
    if n_examples is not None:
        rows = rows[rows.n_examples == n_examples]
    return set(rows.model)


def zoo(dataset: str) -> set[str]:
    return {card.stem for card in (ROOT / "zoo" / dataset).glob("*.json")}


def test_the_digits_lists_name_exactly_the_models_with_digits_rows():
    lists = makefile_lists()
    family, archs = lists["DIGITS_FAMILY"], lists["DIGITS_ARCHS"]
    assert not family & archs
    for attack in ("pgd", "standard"):
        assert models_with("digits", "linf", attack, 500) == family | archs, attack
    for attack in ("fgsm", "ensemble19", "assg"):
        assert models_with("digits", "linf", attack, 500) == family, attack
    assert models_with("digits", "l2", "pgd", 500) == family
    assert zoo("digits") == family | archs


def test_the_mnist_lists_name_exactly_the_models_with_mnist_rows():
    lists = makefile_lists()
    family, archs = lists["MNIST_FAMILY"], lists["MNIST_ARCHS"]
    assert models_with("mnist", "linf", "pgd", 1000) == models_with("mnist", "linf", "pgd") == family
    assert models_with("mnist", "linf", "standard", 1000) == family
    assert models_with("mnist", "linf", "standard", 500) <= archs  # a card is committed before its row
    for attack in ("ensemble19", "assg"):
        assert models_with("mnist", "linf", attack, 500) == family, attack
    assert zoo("mnist") == family | archs


def test_the_cifar_lists_name_the_models_with_cifar_rows_and_every_cifar_checkpoint():
    lists = makefile_lists()
    deterministic, eot = lists["CIFAR_MODELS"], lists["CIFAR_EOT"]
    assert zoo("cifar10-jpeg") == deterministic | eot
    for attack in ("pgd", "standard"):
        assert models_with("cifar10-jpeg", "linf", attack) == (
            models_with("cifar10-jpeg", "linf", attack, 1000) | models_with("cifar10-jpeg", "linf", attack, 500))
        assert models_with("cifar10-jpeg", "linf", attack, 1000) == deterministic, attack
        assert models_with("cifar10-jpeg", "linf", attack, 500) <= eot, attack
    assert models_with("cifar10-jpeg", "linf", "ensemble19", 1000) == lists["CIFAR_ENSEMBLE19"]
    assert models_with("cifar10-jpeg", "linf", "assg", 1000) == lists["CIFAR_ASSG"]
