"""``rbsnn submit``: the examples go through; every malformed submission gets one
line ``rbsnn: error: ...``, exit 2, and nothing written anywhere."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from robustbench_snn.cli import main
from robustbench_snn.results.leaderboard import read
from robustbench_snn.results.provenance import ROOT
from robustbench_snn.submission.card import load_submission
from robustbench_snn.submission.card import CARD_FIELDS, validate_card

EXAMPLES = ROOT / "examples"

pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")


def _tree_digest(*folders: Path) -> str:
    h = hashlib.sha256()
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.exists() else []:
            if p.is_file():
                h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("example", [pytest.param("snntorch-cnn", marks=pytest.mark.slow),
                                     pytest.param("spikingjelly-cnn", marks=pytest.mark.slow), "plain-snn"])
def test_each_example_submits_and_its_row_records_the_claim_and_the_run(example, tmp_path, capsys):
    out, archive = tmp_path / "board.csv", tmp_path / "submissions"
    assert main(["submit", str(EXAMPLES / example), "--n-examples", "8", "--out", str(out), "--archive", str(archive), "--quiet"]) == 0
    card = json.loads((EXAMPLES / example / "card.json").read_text())
    row = read(out).iloc[0]
    assert row["model"] == card["name"] and row["source"] == "submitted" and row["attack"] == "standard"
    assert row["n_examples"] == 8 and row["claimed_robust"] == card["claimed_robust"]
    assert row["command"].endswith(f"digits/{card['name']} --n-examples 8") and "square" in row["attacks"]
    kept = archive / "digits" / card["name"]
    assert sorted(p.name for p in kept.iterdir()) == ["card.json", "measured.json", "model.py", "weights.safetensors"]
    assert json.loads((kept / "measured.json").read_text())["row"]["robust_acc"] == row["robust_acc"]


def _copy(example: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / example, tmp_path / example))


def _card_edit(**changes):
    def edit(folder: Path) -> None:
        card = json.loads((folder / "card.json").read_text())
        card.update(changes)
        for k, v in changes.items():
            if v is ...:
                del card[k]
        (folder / "card.json").write_text(json.dumps(card))
    return edit


def _write(name: str, data: bytes):
    return lambda folder: (folder / name).write_bytes(data)


def _reshape_weights(folder: Path) -> None:
    w = load_file(str(folder / "weights.safetensors"))
    w["fc2.weight"] = torch.zeros(10, 99)
    save_file(w, str(folder / "weights.safetensors"))


def _drop_weight(folder: Path) -> None:
    w = load_file(str(folder / "weights.safetensors"))
    del w["fc1.bias"]
    w["extra.bias"] = torch.zeros(3)
    save_file(w, str(folder / "weights.safetensors"))


def _wrong_output(folder: Path) -> None:
    (folder / "model.py").write_text((folder / "model.py").read_text() + "\n\n_orig = build\n\ndef build():\n    m = _orig()\n    m.fc2 = nn.Linear(128, 9)\n    return m\n")
    _write_matching_weights(folder)


def _nan_output(folder: Path) -> None:
    (folder / "model.py").write_text((folder / "model.py").read_text() + "\n\n_orig = build\n\nclass _NaN(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.m = _orig()\n    def forward(self, x):\n        return self.m(x) * float('nan')\n\ndef build():\n    return _NaN()\n")
    w = load_file(str(folder / "weights.safetensors"))
    save_file({f"m.{k}": v for k, v in w.items()}, str(folder / "weights.safetensors"))


def _write_matching_weights(folder: Path) -> None:
    w = load_file(str(folder / "weights.safetensors"))
    w["fc2.weight"], w["fc2.bias"] = torch.zeros(9, 128), torch.zeros(9)
    save_file(w, str(folder / "weights.safetensors"))


BAD = {
    "card-not-json": (_write("card.json", b"{name: "), "is not valid JSON"),
    "card-a-list": (_write("card.json", b"[]"), "must hold a JSON object"),
    "card-integer-of-5000-digits": (_write("card.json", b'{"eps": ' + b"9" * 5000 + b"}"), r"is not valid JSON \(Exceeds the limit"),
    "card-nested-100000-deep": (_write("card.json", b"[" * 100_000 + b"]" * 100_000), "is not usable JSON: nested too deeply"),
    "card-missing-eps": (_card_edit(eps=...), "missing field.s. eps"),
    "card-bad-eps": (_card_edit(eps="8/0"), "bad eps '8/0'"),
    "card-bad-name": (_card_edit(name="../../x"), "bad name '../../x'"),
    "card-claim-above-clean": (_card_edit(claimed_robust=99.0, claimed_clean=50.0), "bad claimed_robust 99.0"),
    "card-claims-as-fractions": (_card_edit(claimed_robust=0.924, claimed_clean=0.97), "claims are percentages"),
    "card-eps-rounds-to-zero": (_card_edit(eps="1/" + "9" * 30), r"bad eps .1/9+.; expected the claimed budget"),
    "card-unknown-dataset": (_card_edit(dataset="imagenet"), "unknown card.json dataset 'imagenet'; valid:"),
    "card-zoo-name": (_card_edit(name="snn-cnn"), "is a zoo model of 'digits'"),
    "card-events-on-images": (_card_edit(threat_model="events", eps=5), "card.json threat_model events needs an event dataset"),
    "card-l2-beyond-the-box": (_card_edit(threat_model="l2", eps=100), r"bad eps 100 under l2: .* valid: 0-8"),
    "pickle-file": (_write("model.pt", b"\x80\x04payload"), "model.pt is a pickle-based file"),
    "truncated-weights": (_write("weights.safetensors", b"\x10\x00\x00"), "not a readable safetensors file"),
    "wrong-shape-weights": (_reshape_weights, r"wrong shape: fc2.weight \[10, 99\] \(model: \[10, 128\]\)"),
    "missing-and-extra-weights": (_drop_weight, "missing: fc1.bias; unexpected: extra.bias"),
    "wrong-output-shape": (_wrong_output, r"output has shape \[8, 9\].*expected \[8, 10\]"),
    "nan-output": (_nan_output, "output is not finite"),
    "factory-missing": (_card_edit(factory="make_it"), "defines no function 'make_it'"),
    "model-exits": (lambda folder: _prepend(folder, "raise SystemExit(0)"), r"model.py exited \(SystemExit 0\) while it was loaded"),
}


def _prepend(folder: Path, line: str) -> None:
    (folder / "model.py").write_text(line + "\n" + (folder / "model.py").read_text())


def test_a_model_py_that_parses_arguments_at_import_loads(tmp_path):
    """Research code often builds an argparse parser at import: it sees no options (not
    rbsnn's own, which it would reject and exit on), and rbsnn's argv is restored."""
    import sys

    folder = _copy("plain-snn", tmp_path)
    _prepend(folder, "import argparse\nARGS = argparse.ArgumentParser().parse_args()")
    argv = list(sys.argv)
    sub = load_submission(folder)
    assert isinstance(sub.model, torch.nn.Module) and sys.argv == argv


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_submission_gets_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    mutate, message = BAD[case]
    folder = _copy("plain-snn", tmp_path)
    mutate(folder)
    before = _tree_digest(ROOT / "leaderboards", ROOT / "submissions")
    assert main(["submit", str(folder), "--n-examples", "8", "--out", str(tmp_path / "board.csv")]) == 2  # not --quiet: nothing else on stderr
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rbsnn: error: ")
    assert __import__("re").search(message, err[0]), err[0]
    assert _tree_digest(ROOT / "leaderboards", ROOT / "submissions") == before
    assert not (tmp_path / "board.csv").exists()


def test_card_schema_accepts_the_examples_and_names_every_required_field():
    for example in ("snntorch-cnn", "spikingjelly-cnn", "plain-snn"):
        validate_card(json.loads((EXAMPLES / example / "card.json").read_text()))
    assert {"name", "authors", "paper", "dataset", "threat_model", "eps", "T", "encoder", "neuron_library",
            "claimed_clean", "claimed_robust", "claim_attack"} <= set(CARD_FIELDS)


def test_global_switches_flipped_by_model_py_do_not_reach_the_evaluation(tmp_path):
    """A model.py that turns autograd off at import would have turned every white-box member
    into a zero-gradient one (measured: robust 75.00% instead of 62.50% on 8 images); the
    grad mode and default dtype are restored after loading it, so the row is the plain one."""
    both = _copy("plain-snn", tmp_path / "both")
    _prepend(both, "import torch\ntorch.set_grad_enabled(False)\ntorch.set_default_dtype(torch.float64)")
    load_submission(both)
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
    folder = _copy("plain-snn", tmp_path)
    _prepend(folder, "import torch\ntorch.set_grad_enabled(False)")
    rows = []
    for name, source in (("flipped", folder), ("plain", _copy("plain-snn", tmp_path / "plain"))):
        assert main(["submit", str(source), "--n-examples", "8", "--out", str(tmp_path / f"{name}.csv"),
                     "--archive", str(tmp_path / f"archive-{name}"), "--quiet"]) == 0
        rows.append(read(tmp_path / f"{name}.csv").iloc[0])
    assert rows[0]["robust_acc"] == rows[1]["robust_acc"] and rows[0]["bwd_per_example"] == rows[1]["bwd_per_example"]


def test_a_name_taken_by_other_authors_is_refused_unless_forced(tmp_path, capsys):
    """Two groups choosing one name: the second would silently replace the first's row and
    archive. Refused before the evaluation unless --force; the same authors resubmitting
    (an updated model) replace their own."""
    board, archive = tmp_path / "board.csv", tmp_path / "archive"
    args = ["--n-examples", "8", "--out", str(board), "--archive", str(archive), "--quiet"]
    first = _copy("plain-snn", tmp_path / "first")
    assert main(["submit", str(first), *args]) == 0
    kept = (archive / "digits" / "example-plain-snn" / "card.json").read_bytes()
    rival = _copy("plain-snn", tmp_path / "rival")
    _card_edit(authors="Another Group")(rival)
    assert main(["submit", str(rival), *args]) == 2
    err = capsys.readouterr().err
    assert "submission name 'example-plain-snn' is taken on 'digits' by robustbench-snn maintainers" in err and err.count("\n") == 1, err
    assert (archive / "digits" / "example-plain-snn" / "card.json").read_bytes() == kept
    assert main(["submit", str(first), *args]) == 0  # the same authors: a resubmission
    assert main(["submit", str(rival), *args, "--force"]) == 0
    assert json.loads((archive / "digits" / "example-plain-snn" / "card.json").read_text())["authors"] == "Another Group"


def _replace_forward(folder: Path, body: str) -> None:
    """Make the plain-snn example's model run ``body`` (Python lines) at every forward pass."""
    hook = "\n".join("    " + line for line in body.splitlines())
    with open(folder / "model.py", "a") as f:
        f.write(f"\n\n_forward = PlainSNN.forward\n\n\ndef _hooked(self, x):\n{hook}\n    return _forward(self, x)\n\n\n"
                "PlainSNN.forward = _hooked\n")


HOSTILE = {  # what model.py does -> (extra submit options, the one line's text)
    "sleeps-in-forward": ("import time\ntime.sleep(2)", ["--time-limit", "4"], "ran past its time limit of 4 s"),
    "loops-at-import": (None, ["--time-limit", "4"], "ran past its time limit of 4 s"),
    "os-exit-0-in-forward": ("import os\nos._exit(0)", [], r"ended \(exit status 0\) without a result"),
    "allocates-without-bound": ("import torch\nheap = [torch.ones(1 << 27) for _ in range(1000)]", ["--memory-limit", "2048"],
                                "ran out of memory|allocate memory|killed by|without a result"),
    "raises-stopiteration": ("raise StopIteration", [], "the model failed on a batch of shape .*StopIteration"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_model_py_ends_in_one_line_within_its_limits_and_writes_nothing(case, tmp_path, capsys):
    """model.py runs in a child process (robustbench_snn.submission.worker): it may sleep, loop,
    exit, raise or allocate; rbsnn submit ends with one line and exit 2 within the limit."""
    import time

    body, options, message = HOSTILE[case]
    folder = _copy("plain-snn", tmp_path)
    if body is None:
        _prepend(folder, "while True:\n    pass")
    else:
        _replace_forward(folder, body)
    before = _tree_digest(ROOT / "leaderboards", ROOT / "submissions")
    start = time.monotonic()
    assert main(["submit", str(folder), "--n-examples", "8", "--out", str(tmp_path / "board.csv"),
                 "--archive", str(tmp_path / "archive"), "--quiet", *options]) == 2
    assert time.monotonic() - start < 120
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rbsnn: error: ") and __import__("re").search(message, err[0]), err
    assert _tree_digest(ROOT / "leaderboards", ROOT / "submissions") == before
    assert not (tmp_path / "board.csv").exists() and not list((tmp_path / "archive").rglob("*.json"))


def test_chdir_and_environment_changes_in_model_py_stay_in_its_process(tmp_path, monkeypatch, capsys):
    """A model.py that changes directory and environment at import: the relative submission
    folder still resolves and the row goes where the parent's environment says."""
    import os

    folder = _copy("plain-snn", tmp_path)
    _prepend(folder, "import os\nos.chdir('/')\nos.environ['RBSNN_HOME'] = '/nonexistent'")
    monkeypatch.chdir(tmp_path)
    cwd, home = os.getcwd(), os.environ["RBSNN_HOME"]
    assert main(["submit", "plain-snn", "--n-examples", "8", "--quiet", "--archive", "archive"]) == 0
    assert os.getcwd() == cwd and os.environ["RBSNN_HOME"] == home
    assert read(Path(home) / "leaderboards" / "digits_linf.csv").model.eq("example-plain-snn").any()
    assert (tmp_path / "archive" / "digits" / "example-plain-snn" / "measured.json").is_file()


def test_two_authors_submitting_one_name_at_once_leave_exactly_one_row(tmp_path):
    """Both evaluate in parallel; the write is under the name's lock, which checks the owner
    again: one row and one archive, the other submission refused as taken."""
    from concurrent.futures import ThreadPoolExecutor

    from robustbench_snn.core.errors import UserInputError
    from robustbench_snn.submission.submit import run_submission

    folders = []
    for author in ("Ada", "Grace"):
        folder = _copy("plain-snn", tmp_path / author)
        _card_edit(authors=[author])(folder)
        folders.append(folder)
    out, archive = tmp_path / "board.csv", tmp_path / "archive"

    def submit(folder):
        try:
            run_submission(folder, out=out, archive_root=archive, n_examples=8, progress=False)
            return "kept"
        except UserInputError as e:
            return str(e)

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(submit, folders))
    assert sorted(o == "kept" for o in outcomes) == [False, True], outcomes
    assert "is taken" in next(o for o in outcomes if o != "kept")
    board = read(out)
    assert len(board) == 1
    winner = folders[outcomes.index("kept")]
    kept = json.loads((archive / "digits" / "example-plain-snn" / "card.json").read_text())
    assert kept["authors"] == json.loads((winner / "card.json").read_text())["authors"]


def test_an_archive_that_cannot_be_written_is_refused_before_the_evaluation(tmp_path, capsys):
    """It used to fail after the row was upserted, leaving a row whose command named no archive."""
    folder = _copy("plain-snn", tmp_path)
    assert main(["submit", str(folder), "--n-examples", "8", "--out", str(tmp_path / "board.csv"), "--archive", "/proc/nope", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--archive '/proc/nope/digits' cannot be written" in err[0], err
    assert not (tmp_path / "board.csv").exists()


@pytest.mark.parametrize(("example", "edit", "message"), [
    ("snntorch-cnn", {"T": 8}, "card.json says T 8, but the model's neurons run 4 time steps per pass"),
    ("spikingjelly-cnn", {"T": 2}, "card.json says T 2, but the model's neurons run 4 time steps per pass"),
    ("plain-snn", {"encoder": "poisson"}, "encoder 'poisson' names a random (rate) coding, but the model gives the same output twice"),
])
def test_a_card_whose_t_or_encoder_the_model_contradicts_is_refused(example, edit, message, tmp_path, capsys):
    """The row records the card's T and encoder, so they are checked against the model first."""
    folder = _copy(example, tmp_path)
    _card_edit(**edit)(folder)
    assert main(["submit", str(folder), "--n-examples", "8", "--out", str(tmp_path / "board.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "board.csv").exists()
