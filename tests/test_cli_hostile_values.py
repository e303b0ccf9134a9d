"""Every option of every subcommand, given the values a hostile or careless user types, is
parsed or refused in one line: no value reaches a traceback at the parsing layer. Walks the
parser itself, so a new option is covered without being listed here."""

import argparse

import pytest

from robustbench_snn.cli_parser import build_parser
from robustbench_snn.core.errors import UserInputError

#: What users type where a number, a name or a path belongs.
HOSTILE = ["", " ", "-1", "0", "-0", "nan", "inf", "-inf", "1e309", "9" * 4400, "1/0", "0x10", "1_000", "\0", "\t",
           "=HYPERLINK(\"x\")", "<script>alert(1)</script>", "../../etc/passwd", "a" * 10_000, "true", "[1]", "1,2,,3"]


def _options() -> list[tuple[str, str]]:
    """(subcommand, option) for every option that takes a value."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.nargs != 0 and not isinstance(action, argparse._HelpAction):
                found.append((name, action.option_strings[-1] if action.option_strings else action.dest))  # a positional by its name
    return found


OPTIONS = _options()


def test_the_walk_finds_the_options_users_type_numbers_into():
    assert {("eval", "--eps"), ("eval", "--steps"), ("certify", "--sigma"), ("sweep", "--shards"), ("train", "--epochs")} <= set(OPTIONS)


@pytest.mark.parametrize(("command", "option"), OPTIONS, ids=[f"{c} {o}" for c, o in OPTIONS])
def test_every_hostile_value_is_parsed_or_refused_in_one_line(command, option):
    parser = build_parser()
    for value in HOSTILE:
        try:
            parser.parse_args([command, f"{option}={value}"] if option.startswith("--") else [command, value])
        except UserInputError as e:
            message = str(e)
            assert "\n" not in message and message.strip(), (option, value[:40], message[:200])
            assert len(message) < 2000, (option, value[:40], "the message repeats a huge value")
        except SystemExit as e:  # argparse's own exits (e.g. --help) are not values
            pytest.fail(f"{command} {option}={value[:40]!r} exited {e.code} from the parser")


def _string_options(command: str) -> list[str]:
    """``command``'s options that take a value the parser does not type (names, budgets,
    paths): what only the library can check."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return [a.option_strings[-1] for a in sub._actions
            if a.option_strings and a.nargs != 0 and a.type is None and a.choices is None and not isinstance(a, argparse._HelpAction)]


#: A cheap run of each command that each hostile value is put into (one attack step, or a
#: few noise draws, on two digits images); ``{tmp}`` is the test's folder.
CHEAP = {
    "eval": ["eval", "--model", "snn-mlp", "--attack", "fgsm", "--n-examples", "2", "--quiet"],
    "certify": ["certify", "--model", "snn-mlp", "--sigma", "0.25", "--n-examples", "2", "--n", "20", "--n0", "5", "--quiet"],
    "sweep": ["sweep", "--models", "snn-mlp", "--attacks", "fgsm", "--n-examples", "2", "--quiet", "--workers", "1",
              "--shards", "1", "--store", "{tmp}/store", "--out", "{tmp}/sweep.csv"],
    "train": ["train", "--model", "snn-mlp", "--epochs", "1", "--n-train", "64", "--quiet", "--zoo-dir", "{tmp}/zoo"],
    "leaderboard": ["leaderboard"],
    "list": ["list"],
}
CASES = [(command, option) for command in CHEAP for option in _string_options(command)]


@pytest.mark.parametrize(("command", "option"), CASES, ids=[f"{c} {o}" for c, o in CASES])
def test_a_hostile_value_runs_or_ends_in_one_line_writing_nothing(command, option, tmp_path, monkeypatch, capsys):
    """Past the parser: each command with each hostile value in each option the parser leaves
    to the library either runs (exit 0) or prints one ``rbsnn: error:`` line, exits 2 and
    leaves its folder as it was; never a traceback."""
    from robustbench_snn.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RBSNN_HOME", str(tmp_path / "home"))
    base = [a.replace("{tmp}", str(tmp_path)) for a in CHEAP[command]]
    for value in HOSTILE:
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        code = main([*base, f"{option}={value}"])
        err = capsys.readouterr().err
        assert code in (0, 2), (option, value[:40], code)
        if code == 2:
            assert err.startswith("rbsnn: error: ") and err.count("\n") == 1, (option, value[:40], err[:300])
            assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, (option, value[:40])


@pytest.mark.parametrize(("key", "value"), [("hidden", v) for v in ("0", "-0", "1.5", "1e9", "nan", "inf", "-5", "abc")]
                         + [("T", v) for v in ("0", "1.5", "1e9", "1001", "nan", "abc")])
def test_a_build_value_that_cannot_make_a_network_is_one_line_before_training(key, value, tmp_path, monkeypatch, capsys):
    """A width of 0 builds but fails on the first batch, a fractional T fails inside the
    neurons: both are refused before the first epoch, naming the value, with no zoo file written."""
    from robustbench_snn.cli import main

    monkeypatch.setenv("RBSNN_HOME", str(tmp_path / "home"))
    code = main(["train", "--model", "snn-mlp", "--epochs", "1", "--quiet", "--zoo-dir", str(tmp_path / "zoo"),
                 "--name", "hostile", "--build", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rbsnn: error: ") and err.count("\n") == 1, err
    assert f"{key}" in err
    assert not (tmp_path / "zoo").exists() or not any((tmp_path / "zoo").rglob("hostile*"))


@pytest.mark.parametrize("command", [
    ["eval", "--model", "snn-mlp", "--attack", "fgsm", "--n-examples", "2", "--quiet", "--out"],
    ["certify", "--model", "snn-mlp", "--sigma", "0.25", "--n-examples", "2", "--n", "20", "--n0", "5", "--quiet", "--board"],
], ids=["eval --out", "certify --board"])
def test_a_device_or_pipe_as_the_output_is_refused_not_replaced(command, tmp_path, monkeypatch, capsys):
    """``--out /dev/null`` is how users discard output; the atomic write's rename would swap the
    device for a plain file (system-wide, as root). A FIFO stands in for the device here."""
    import os
    import stat

    from robustbench_snn.cli import main
    from robustbench_snn.core.atomic import atomic_write_bytes

    monkeypatch.setenv("RBSNN_HOME", str(tmp_path / "home"))
    fifo = tmp_path / "board.csv"
    os.mkfifo(fifo)
    code = main([*command, str(fifo)])
    err = capsys.readouterr().err
    assert code == 2 and "is a device, pipe or socket" in err and err.count("\n") == 1, err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(UserInputError, match="is a device, pipe or socket"):
        atomic_write_bytes(fifo, b"row")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


#: What a Python caller may pass where a name, a count, a budget, a path or a mapping belongs.
HOSTILE_PY = [None, True, -1, 0, 1.5, float("nan"), float("inf"), 10**30, "", "abc", [1], {}, object(), "a\nb", "x" * 500]


def test_benchmark_takes_any_python_value_or_refuses_it_in_one_line():
    """Library first: every keyword of ``benchmark()``, walked from its signature, given values
    of the wrong type, range or shape, either evaluates or raises one ``UserInputError`` line
    (no TypeError from deep inside: a list as the threat model, None steps, a float data_dir...)."""
    import inspect
    import warnings

    from robustbench_snn import benchmark
    from robustbench_snn.models.zoo import load_checkpoint

    model, _ = load_checkpoint("snn-mlp", "digits")
    base = {"dataset": "digits", "n_examples": 2, "attack": "fgsm", "progress": False}
    for name in list(inspect.signature(benchmark).parameters)[1:]:
        for value in HOSTILE_PY:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    benchmark(model, **{**base, name: value})
            except UserInputError as e:
                assert "\n" not in str(e), (name, repr(value)[:40], str(e)[:200])
