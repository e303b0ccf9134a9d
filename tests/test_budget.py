"""The budget value type: parsed once, labelled one way everywhere."""

import pytest

from robustbench_snn.core.budget import (BOARD_DECIMALS, DEFAULT_EPS_TEXT, Eps, eps_label, file_label, on_board,
                                         radius_label, radius_of_label)
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.evaluation.certify import RADII


@pytest.mark.parametrize("k", range(1, 255))
def test_a_label_parses_back_to_its_budget(k):
    eps = Eps.parse(f"{k}/255", "linf")
    assert eps.label == f"{k}/255"
    assert Eps.parse(eps.label, "linf") == eps
    assert Eps.parse(eps.value, "linf") == eps  # a float and its fraction are one budget
    assert "/" not in file_label(eps.value)


def test_the_same_budget_given_three_ways_is_one_value():
    assert Eps.parse("8/255", "linf") == Eps.parse(8 / 255, "linf") == Eps.parse(Eps.parse("8/255", "linf"), "linf")
    assert float(Eps.parse("0.5", "l2")) == 0.5


@pytest.mark.parametrize("norm", sorted(DEFAULT_EPS_TEXT))
def test_no_budget_means_the_threat_models_default(norm):
    assert Eps.parse(None, norm) == Eps.parse(DEFAULT_EPS_TEXT[norm], norm)
    assert Eps.parse(None, norm).label == DEFAULT_EPS_TEXT[norm]


@pytest.mark.parametrize("value, norm, reason", [
    ("abc", "linf", "fraction"), ("1/0", "linf", "fraction"), ("nan", "linf", "fraction"), (float("nan"), "linf", "finite"), ("-0.1", "l2", ">= 0"),
    (float("inf"), "l2", "finite"), ("2", "linf", "[0, 1]"), ("2.5", "events", "whole number"), ("1e-9", "linf", "6 decimals"),
    (True, "linf", "fraction"), ([1], "linf", "fraction"),
])
def test_a_bad_budget_is_one_line_naming_it(value, norm, reason):
    with pytest.raises(UserInputError) as e:
        Eps.parse(value, norm, "--eps")
    assert "--eps" in str(e.value) and reason in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["5e-7", "4.9e-7", 5e-7, "1e-6", "5.1e-7", "3e-6"])
def test_every_budget_above_zero_stays_above_zero_on_a_board(value):
    try:
        eps = Eps.parse(value, "linf")
    except UserInputError as e:
        assert "6 decimals" in str(e)
        assert round(float(value), BOARD_DECIMALS) == 0
    else:
        assert eps.on_board > 0
    assert on_board(1 / 3) == round(1 / 3, BOARD_DECIMALS)


@pytest.mark.parametrize("norm", sorted(RADII))
def test_a_certified_column_label_reads_back_as_its_radius(norm):
    for r in RADII[norm]:
        assert radius_of_label(radius_label(norm, r)) == pytest.approx(r, abs=1e-12)


def test_labels_other_than_multiples_of_one_255th_are_the_number():
    assert eps_label(0.5) == "0.5" and eps_label(20.0) == "20" and eps_label(1.0) == "1" and eps_label(0.0) == "0"
    assert eps_label(0.5 / 255) == f"{0.5 / 255:g}"


def test_a_surrogate_choice_is_parsed_once_into_own_one_or_every():
    from robustbench_snn.core.surrogate import Surrogate, SurrogateChoice
    own, one, every = SurrogateChoice.parse(None), SurrogateChoice.parse("pcw:0.5"), SurrogateChoice.parse("all")
    assert (own.replaces_own, own.every, own.surrogate) == (False, False, None)
    assert (one.replaces_own, one.every, one.surrogate, one.text) == (True, False, Surrogate("triangle", 0.5), "pcw:0.5")
    assert (every.replaces_own, every.every, every.surrogate) == (True, True, None)
    assert SurrogateChoice.parse(one) is one and SurrogateChoice.parse(Surrogate()).text == "atan:1"
    with pytest.raises(UserInputError):
        SurrogateChoice.parse("alll")


def test_minus_zero_is_the_budget_zero():
    """``-0`` is a valid spelling of 0; it must not become a second board key (repr ``-0.0``) or label."""
    for spelling in ("-0", "-0.0", -0.0):
        eps = Eps.parse(spelling, "linf")
        assert repr(eps.value) == "0.0" and eps.label == "0" and repr(eps.on_board) == "0.0"
    assert repr(on_board(-0.0)) == "0.0" and repr(on_board(-1e-9)) == "0.0"
