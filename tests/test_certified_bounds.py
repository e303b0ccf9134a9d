"""A certified row's radii lie within the input: the average certified radius and every radius a
row certifies accuracy at are at most the input box's diameter in the row's norm (1 in Linf, the
diagonal sqrt(d) in L2), wherever a row is read."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from robustbench_snn.cli import main
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.core.home import ROOT
from robustbench_snn.data.catalog import INPUT_SHAPES, load_dataset
from robustbench_snn.results.leaderboard import CERTIFIED, radius_bound, read


def test_the_bound_is_the_box_diameter():
    assert radius_bound("digits", "l2") == 8.0 and radius_bound("mnist", "l2") == 28.0
    assert radius_bound("cifar10-jpeg", "l2") == pytest.approx(math.sqrt(3 * 32 * 32))
    assert radius_bound("digits", "linf") == 1.0 and radius_bound("image-folder", "l2") is None


@pytest.mark.parametrize("name", ["digits", "digits-events"])
def test_the_shapes_are_the_datasets(name):
    assert tuple(load_dataset(name, "test").x.shape[1:]) == INPUT_SHAPES[name]


def _board(tmp_path, **cells):
    """A checkout-like folder whose only board is a copy of the committed digits certified board, edited."""
    df = pd.read_csv(ROOT / "leaderboards" / "digits_certified.csv", dtype=str, keep_default_na=False).head(2)
    for column, value in cells.items():
        df.loc[0, column] = value
    path = tmp_path / "leaderboards" / "digits_certified.csv"
    path.parent.mkdir()
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("cells", "message"), [
    ({"norm": "l2", "acr": "9"}, "acr 9 exceeds the digits input's l2 diameter 8"),
    ({"norm": "linf", "acr": "1.5"}, "acr 1.5 exceeds the digits input's linf diameter 1"),
    ({"norm": "l2", "cert_l2@9": "10.0"}, "cert_l2@9 certifies a radius above the digits input's l2 diameter 8"),
])
def test_a_radius_beyond_the_input_is_refused_where_it_is_read(tmp_path, capsys, cells, message):
    path = _board(tmp_path, **cells)
    with pytest.raises(UserInputError, match="row 2: " + message.replace(".", r"\.")):
        read(path, CERTIFIED)
    site = tmp_path / "site"
    assert main(["site", "--root", str(tmp_path), "--out", str(site)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: ") and message in err and err.count("\n") == 1
    assert not site.exists() or not any(site.iterdir())


def test_radii_within_the_input_are_read(tmp_path):
    read(_board(tmp_path, norm="l2", acr="7.9"), CERTIFIED)
    assert len(read(ROOT / "leaderboards" / "digits_certified.csv", CERTIFIED)) >= 1
