import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from robustbench_snn.cli import main

RBSNN = Path(sys.executable).parent / "rbsnn"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, bad, valid",
    [
        (["eval", "--model", "nope", "--attack", "pgd"], "model 'nope'", "all, ann-cnn, at-snn, denoise-snn, gnr-snn, ilif-cnn, mps-snn, ms-resnet, plif-net, psn-cnn, qcfs-snn"),
        (["eval", "--model", "snn-cnn", "--attack", "cw"], "attack 'cw'", "apgd-ce, apgd-dlr, apgd-t, assg, ensemble19, fb-pgd, fgsm, mixed-pgd, pgd, random-flip, sparse-flip, square, standard, ta-pgd"),
        (["eval", "--model", "snn-cnn", "--dataset", "imagenet"], "dataset 'imagenet'", "cifar10, cifar10-dvs, cifar10-jpeg, digits, digits-events, dvs-gesture, fashion-mnist, image-folder, mnist, mnist-events, nmnist"),
        (["eval", "--model", "snn-cnn", "--norm", "l1"], "norm 'l1'", "events, l2, linf"),
        (["eval", "--model", "snn-cnn", "--surrogate", "relu"], "surrogate 'relu'", "atan, exp, exp-d, pcw, rect, rectangle, sigmoid, ste, triangle"),
        (["train", "--model", "nope"], "model 'nope'", "ann-cnn, at-snn, denoise-snn, gnr-snn, ilif-cnn, mps-snn, ms-resnet, plif-net, psn-cnn, qcfs-snn, qkformer, rat-snn, rsc-snn"),
        (["train", "--model", "snn-cnn", "--defense", "magic"], "defense 'magic'", "denoise, gaussian, gnr, mps, none, pgd-at, qcfs, rat, rsc, sr, ttfs"),
        (["train", "--model", "snn-cnn", "--defense", "pgd-at", "--defense-param", "epsilon=0.1"], "parameter of defense 'pgd-at' 'epsilon'", "eps, steps"),
    ],
)
def test_unknown_names_one_line_exit_2(capsys, argv, bad, valid):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("rbsnn: error: unknown ")
    assert bad in err and f"valid: {valid}" in err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["eval", "--model", "snn-cnn", "--eps", "abc"], "--eps 'abc'"),
        (["train", "--model", "snn-cnn", "--defense", "rsc", "--epochs", "1"], "defense 'rsc' needs a Poisson encoder; model 'snn-cnn' has encoder 'direct' (use rsc-snn, or a defense that works on any model: gaussian, gnr, none, pgd-at, rat, sr)"),
        (["train", "--model", "ann-cnn", "--defense", "mps", "--epochs", "1"], "defense 'mps' needs spiking neurons"),
        (["train", "--model", "snn-cnn", "--defense", "ttfs", "--epochs", "1"], "defense 'ttfs' needs a TTFS encoder"),
        (["train", "--model", "snn-cnn", "--defense", "qcfs", "--epochs", "1"], "defense 'qcfs' needs QCFS activations"),
        (["eval", "--model", "snn-cnn", "--steps", "0"], "--steps must be a positive integer"),
        (["eval", "--model", "snn-cnn", "--dataset", "mnist", "--data-dir", "/nonexistent"], "t10k-images-idx3-ubyte"),
        (["eval"], "--model"),
        (["frobnicate"], "frobnicate"),
        (["leaderboard", "--file", "/nonexistent.csv"], "no leaderboard"),
    ],
)
def test_bad_values_one_line_exit_2(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and needle in err


def test_console_script_exit_code_and_single_line():
    proc = subprocess.run([str(RBSNN), "eval", "--model", "bogus"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "valid: " in proc.stderr


def test_eval_writes_row_and_rerun_reproduces_exactly(capsys, tmp_path):
    out = tmp_path / "lb.csv"
    args = ["eval", "--model", "rsc-snn", "--attack", "pgd", "--n-examples", "40", "--steps", "3", "--eot", "2", "--draws", "3", "--out", str(out), "--quiet"]
    assert run(capsys, *args)[0] == 0
    first = pd.read_csv(out)
    assert run(capsys, *args)[0] == 0
    second = pd.read_csv(out)
    assert len(second) == 1
    cols = ["clean_acc", "robust_acc", "eps", "eot", "draws", "n_examples", "command"]
    pd.testing.assert_frame_equal(first[cols], second[cols])
    r = second.iloc[0]
    assert (r.model, r.encoder, r["T"], r.eot, r.draws, r.n_examples) == ("rsc-snn", "poisson", 8, 2, 3, 40)
    assert r.robust_acc <= r.clean_acc and r.eps == pytest.approx(8 / 255, abs=1e-6)
    assert r.command.startswith("rbsnn eval --model rsc-snn --attack pgd --dataset digits --norm linf --eps 8/255")


def test_row_command_reproduces_the_row(capsys, tmp_path):
    out = tmp_path / "lb.csv"
    assert run(capsys, "eval", "--model", "snn-cnn", "--eps", "0.05", "--n-examples", "60", "--out", str(out), "--quiet")[0] == 0
    row = pd.read_csv(out).iloc[0]
    argv = row.command.split()[1:] + ["--out", str(tmp_path / "again.csv"), "--quiet"]
    assert run(capsys, *argv)[0] == 0
    again = pd.read_csv(tmp_path / "again.csv").iloc[0]
    assert (again.clean_acc, again.robust_acc) == (row.clean_acc, row.robust_acc)


def test_per_example_scores_average_to_the_row(capsys, tmp_path):
    """--per-example writes one line per image whose column means are the row's numbers (a
    stochastic model: scores are fractions of draws), and a composite attack's members too."""
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.results.leaderboard import per_example_name

    out, folder = tmp_path / "lb.csv", tmp_path / "per-example"
    args = ["eval", "--model", "rsc-snn", "--attack", "pgd", "--n-examples", "30", "--steps", "2", "--eot", "2", "--draws", "3",
            "--out", str(out), "--per-example", str(folder), "--quiet"]
    assert run(capsys, *args)[0] == 0
    row = pd.read_csv(out).iloc[0]
    path = folder / per_example_name(row.to_dict())
    assert path.name == "digits_rsc-snn_T8_linf_eps8-255_pgd_atan-1_bptt.csv"
    table = pd.read_csv(path)
    assert list(table.example) == list(range(30))
    assert list(table.label) == load_dataset("digits", "test").y[:30].tolist()
    for column in ("clean", "robust"):  # fractions of 3 scoring draws
        assert ((3 * table[column]).round() - 3 * table[column]).abs().max() < 1e-4
    assert (table.robust <= table.clean + 1e-9).all()
    assert round(100 * table.clean.mean(), 2) == row.clean_acc and round(100 * table.robust.mean(), 2) == row.robust_acc

    args = ["eval", "--model", "ann-cnn", "--attack", "ensemble19", "--eps", "0.1", "--n-examples", "24", "--no-save",
            "--per-example", str(folder), "--quiet"]
    code, stdout, _ = run(capsys, *args)
    assert code == 0 and not out.with_name("digits_linf.csv").exists()
    table = pd.read_csv(folder / "digits_ann-cnn_T0_linf_eps0.1_ensemble19_ensemble19_bptt.csv")
    member = f"{100 * table.acc_own.mean():.2f}%"
    assert member in stdout and table.robust.mean() <= table.acc_own.mean() < table.clean.mean()


def test_train_then_eval_then_leaderboard(capsys, tmp_path):
    zoo = tmp_path / "zoo"
    code, out, _ = run(capsys, "train", "--model", "snn-mlp", "--epochs", "2", "--n-train", "300", "--T", "2", "--zoo-dir", str(zoo), "--quiet")
    assert code == 0 and "clean accuracy" in out
    card = pd.read_json(zoo / "digits" / "snn-mlp.json", typ="series")
    assert card["T"] == 2 and card["epochs"] == 2 and "--n-train 300" in card["command"]
    assert card["clean_acc"] > 50  # 2 epochs on 300 digits is far above chance (10%)
    lb = tmp_path / "lb.csv"
    assert run(capsys, "eval", "--model", "snn-mlp", "--zoo-dir", str(zoo), "--n-examples", "50", "--out", str(lb), "--quiet")[0] == 0
    code, out, _ = run(capsys, "leaderboard", "--file", str(lb))
    assert code == 0 and "snn-mlp" in out and "robust_acc" in out


def test_list_shows_models_attacks_and_zoo(capsys):
    code, out, _ = run(capsys, "list", "--dataset", "digits")
    assert code == 0
    # the first word of each entry line (two spaces in), so "pgd" is not found inside "apgd-ce"
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")}
    assert {"snn-cnn", "rsc-snn", "ann-cnn", "pgd", "fgsm", "standard", "ensemble19", "assg", "rsc-snn-r0.5"} <= listed
    assert "apgd" not in listed and "zoo digits" in out


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_a_one_line_error(capsys):
    code, _, err = run(capsys, "eval", "--model", "snn-cnn", "--device", "cuda", "--n-examples", "5")
    assert code == 2 and err.count("\n") == 1 and "no CUDA device" in err and "valid: auto, cpu" in err


def test_closed_pipe_exits_quietly():
    proc = subprocess.run(f"'{RBSNN}' list | head -1", shell=True, capture_output=True, text=True)
    assert proc.stdout.startswith("models") and "Traceback" not in proc.stderr


def test_defense_composes_with_any_architecture_and_eval_all(capsys, tmp_path):
    """`--defense` on another architecture writes MODEL+DEFENSE; `eval --model all` scores every checkpoint."""
    import json

    zoo = str(tmp_path / "zoo")
    code, out, _ = run(capsys, "train", "--model", "snn-mlp", "--defense", "sr", "--defense-param", "lam=0.1", "--epochs", "1", "--n-train", "64", "--zoo-dir", zoo, "--quiet")
    assert code == 0 and "snn-mlp+sr" in out
    card = json.loads((tmp_path / "zoo" / "digits" / "snn-mlp+sr.json").read_text())
    assert card["architecture"] == "snn-mlp" and card["defense"] == "sr" and card["defense_params"] == {"lam": 0.1, "h": 0.01}
    assert "--defense sr --defense-param lam=0.1" in card["command"]
    assert run(capsys, "train", "--model", "ann-cnn", "--epochs", "1", "--n-train", "64", "--zoo-dir", zoo, "--quiet")[0] == 0
    csv = tmp_path / "lb.csv"
    code, out, _ = run(capsys, "eval", "--model", "all", "--n-examples", "20", "--steps", "2", "--zoo-dir", zoo, "--out", str(csv), "--quiet")
    assert code == 0
    table = pd.read_csv(csv)
    assert sorted(table["model"]) == ["ann-cnn", "snn-mlp+sr"] and set(table["defense"]) == {"none", "sr"}


def test_init_from_fine_tunes_a_zoo_checkpoint(capsys, tmp_path):
    import json

    zoo = str(tmp_path / "zoo")
    assert run(capsys, "train", "--model", "snn-mlp", "--epochs", "1", "--n-train", "64", "--zoo-dir", zoo, "--quiet")[0] == 0
    code, _, _ = run(capsys, "train", "--model", "snn-mlp", "--defense", "pgd-at", "--init-from", "snn-mlp", "--epochs", "1", "--n-train", "64", "--zoo-dir", zoo, "--quiet")
    assert code == 0
    card = json.loads((tmp_path / "zoo" / "digits" / "snn-mlp+pgd-at.json").read_text())
    assert card["init_from"].startswith("snn-mlp@") and "--init-from snn-mlp" in card["command"]
    code, _, err = run(capsys, "train", "--model", "snn-cnn", "--init-from", "snn-mlp", "--zoo-dir", zoo, "--name", "x")
    assert code == 2 and err.count("\n") == 1 and "(a 'snn-mlp' network) does not fit 'snn-cnn' as built" in err
    assert not (tmp_path / "zoo" / "digits" / "x.json").exists()


def test_init_from_takes_another_architecture_whose_weights_fit(capsys, tmp_path):
    """rsc-snn is snn-cnn's body behind a weightless Poisson encoder: it starts from snn-cnn's
    trained weights (the card names the start); a width that does not fit is refused."""
    import json

    import torch
    from safetensors.torch import load_file

    zoo = str(tmp_path / "zoo")
    assert run(capsys, "train", "--model", "snn-cnn", "--epochs", "1", "--n-train", "64", "--zoo-dir", zoo, "--quiet")[0] == 0
    start = load_file(str(tmp_path / "zoo" / "digits" / "snn-cnn.safetensors"))
    code, _, _ = run(capsys, "train", "--model", "rsc-snn", "--init-from", "snn-cnn", "--epochs", "1", "--n-train", "64",
                     "--lr", "1e-12", "--zoo-dir", zoo, "--quiet")
    assert code == 0
    card = json.loads((tmp_path / "zoo" / "digits" / "rsc-snn.json").read_text())
    assert card["init_from"].startswith("snn-cnn@") and card["encoder"] == "poisson"
    tuned = load_file(str(tmp_path / "zoo" / "digits" / "rsc-snn.safetensors"))
    conv = next(k for k in start if k.endswith("weight") and start[k].dim() == 4)
    assert torch.allclose(tuned[conv], start[conv], atol=1e-6)  # lr ~0: the start is the snn-cnn weights
    code, _, err = run(capsys, "train", "--model", "rsc-snn", "--init-from", "snn-cnn", "--build", "channels=8,8",
                       "--zoo-dir", zoo, "--name", "y")
    assert code == 2 and err.count("\n") == 1 and "does not fit 'rsc-snn' as built" in err and "in the checkpoint" in err


def test_eval_T_override_is_recorded_and_keyed(capsys, tmp_path):
    csv = tmp_path / "lb.csv"
    for T in ("4", "8"):
        code, _, _ = run(capsys, "eval", "--model", "qcfs-snn", "--T", T, "--n-examples", "20", "--steps", "2", "--out", str(csv), "--quiet")
        assert code == 0
    table = pd.read_csv(csv)
    assert sorted(table["T"]) == [4, 8] and all(f"--T {t}" in c for t, c in zip(table["T"], table["command"]))
    code, _, err = run(capsys, "eval", "--model", "mps-snn", "--T", "3", "--n-examples", "5", "--no-save")
    assert code == 2 and err.count("\n") == 1 and "weights do not fit" in err


def test_version_names_the_package_and_the_commit_rows_record(capsys):
    """`rbsnn --version`: what a reviewer cites, and the commit a row made now records."""
    from robustbench_snn.results.provenance import git_commit, version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"rbsnn {version()} (commit {git_commit()})\n"


def _readme_commands() -> tuple[list[str], list[str]]:
    """The ``rbsnn`` command lines README.md and the docs show: whole lines of their code blocks,
    and the inline ones of their prose (often a command's name only, or with a placeholder)."""
    root = Path(__file__).parents[1]
    text = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").rglob("*.md")), root / "CHANGELOG.md"])
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    lines = [m.group(1) for b in blocks for line in b.splitlines() if (m := re.match(r"\s*(?:\.venv/bin/)?rbsnn (.*)$", line))]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    inline = [re.sub(r"\s+", " ", m) for m in re.findall(r"`(?:\.venv/bin/)?rbsnn ([^`]+)`", prose)]
    return lines, inline


def test_every_command_the_readme_and_docs_show_parses(capsys):
    """Each `rbsnn` line of README.md's and the docs' code blocks parses as written (an option renamed or
    dropped would break it); inline ones may leave out required arguments or use a
    placeholder (`DIR`, `...`), but every option they name exists and takes the value shown."""
    import shlex

    from robustbench_snn.cli_parser import build_parser
    from robustbench_snn.core.errors import UserInputError

    lines, inline = _readme_commands()
    assert len(lines) >= 20 and len(inline) >= 40  # the extraction found them
    for line in lines:
        try:
            build_parser().parse_args(shlex.split(line, comments=True))
        except SystemExit as stop:  # --help, --version
            assert stop.code == 0, line
    for text in inline:
        if "..." in text or re.search(r"\b[A-Z]{2,}\b", text):
            continue
        try:
            build_parser().parse_args(shlex.split(text))
        except UserInputError as e:
            assert str(e).startswith("the following arguments are required"), (text, str(e))
        except SystemExit as stop:  # --help, --version
            assert stop.code == 0, text
    capsys.readouterr()
