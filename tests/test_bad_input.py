"""Bad values on the command line (issue 15's list, the cases handled so far): each gets one
line ``rbsnn: error: ...`` naming the value and the valid range, exit 2, and leaves the
committed leaderboards and zoo byte-identical. No traceback."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robustbench_snn.cli import main
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.results.provenance import ROOT

CASES = [
    (["eval", "--model", "snn-mlp", "--eps", "1e400"], "bad --eps '1e400'"),
    (["eval", "--model", "snn-mlp", "--eps", ""], "bad --eps ''"),
    (["eval", "--model", "snn-mlp", "--eps", "5"], "Linf budget must be in [0, 1]"),
    (["eval", "--model", "snn-mlp", "--alpha", "-1"], "bad --alpha '-1'"),
    (["eval", "--model", "snn-mlp", "--alpha", "nan"], "bad --alpha 'nan'"),
    (["eval", "--model", "snn-mlp", "--alpha", "abc"], "bad --alpha 'abc'"),
    (["eval", "--model", "snn-mlp", "--alpha", "0"], "bad --alpha '0'; the step size must be > 0"),
    (["eval", "--model", "snn-mlp", "--compile", "yes"], "unknown compile mode 'yes'; valid: auto, off, on"),
    (["eval", "--model", "rsc-snn", "--attack", "ta-pgd", "--norm", "l2"], "bad eot 10 for attack 'ta-pgd' under l2"),
    (["eval", "--model", "rsc-snn", "--attack", "fb-pgd"], "bad eot 10 for attack 'fb-pgd' under linf"),
    (["eval", "--model", "snn-cnn", "--attack", "assg", "--norm", "l2"], "attack 'assg' is defined for the linf ball, got --norm l2; valid: linf"),
    (["eval", "--model", "snn-mlp", "--seed", str(2**64)], "--seed must be an integer in 0-9223372036854775807"),
    (["eval", "--model", "snn-mlp", "--T", "100000"], "--T must be a positive integer (1-1,000)"),
    (["eval", "--model", "snn-mlp", "--steps", "1e30"], "--steps must be a positive integer (1-10,000)"),
    (["eval", "--model", "snn-mlp", "--steps", "100000000"], "--steps must be a positive integer (1-10,000)"),
    (["eval", "--model", "snn-mlp", "--surrogate", "atan:inf"], "surrogate width must be in [0.001, 1000], got inf"),
    (["eval", "--model", "snn-mlp", "--surrogate", "atan:1e-300"], "surrogate width must be in [0.001, 1000], got 1e-300"),
    (["train", "--model", "snn-mlp", "--lr", "-1"], "--lr must be a finite number > 0, got '-1'"),
    (["train", "--model", "snn-mlp", "--lr", "nan"], "--lr must be a finite number > 0, got 'nan'"),
    (["train", "--model", "snn-mlp", "--lr", "inf"], "--lr must be a finite number > 0, got 'inf'"),
    (["train", "--model", "snn-mlp", "--name", "../../x"], "bad --name '../../x'"),
    (["train", "--model", "snn-mlp", "--name", "a/b"], "bad --name 'a/b'"),
    (["certify", "--model", "smooth-snn-s0.25", "--sigma", "inf"], "--sigma must be a finite number > 0, got 'inf'"),
    (["certify", "--model", "smooth-snn-s0.25", "--n", "1e12"], "--n must be a positive integer (1-10,000,000)"),
    (["certify", "--model", "smooth-snn-s0.25", "--sigma", "1e308"], "bad --sigma 1e+308; inputs have 64 values in [0, 1]"),
    (["certify", "--model", "smooth-snn-s0.25", "--sigma", "8.5"], "the box's diagonal sqrt(64) = 8 hides every input; valid: 0-8"),
    (["list", "--dataset", "nope"], "unknown dataset 'nope'; valid:"),
    (["eval", "--model", "ann-cnn", "--T", "4"], "cannot build 'ann-cnn' with {'T': 4}"),
    (["eval", "--model", "snn-cnn", "--zoo-dir", str(ROOT / "README.md")], "is a file, not a folder"),
    (["eval", "--model", "snn-mlp", "--per-example", str(ROOT / "README.md")], "--per-example " + repr(str(ROOT / "README.md")) + " is a file; give a folder"),
    # folders that pass the permission checks (as root) but cannot be made: found before the attack, not after it
    (["eval", "--model", "snn-mlp", "--per-example", "/proc/nope/x"], "--per-example '/proc/nope/x' cannot be written"),
    (["eval", "--model", "snn-mlp", "--out", "/proc/nope/x.csv"], "--out '/proc/nope/x.csv' cannot be written"),
    (["sweep", "--models", "snn-mlp", "--per-example", "/proc/nope/x"], "--per-example '/proc/nope/x' cannot be written"),
    # found by a second hostile pass (after the bring-your-own, peers, site and sweep issues):
    # empty paths that silently meant "the default" or "here", a surrogate without its width,
    # an L2 ball larger than the input box, and output paths only found bad after the work
    (["eval", "--model", "snn-mlp", "--surrogate", "atan:"], "bad surrogate width in 'atan:'"),
    (["eval", "--model", "snn-mlp", "--norm", "l2", "--eps", "100"], "bad eps 100 under l2: inputs have 64 values in [0, 1], so a budget above sqrt(64) = 8"),
    (["sweep", "--models", "snn-mlp", "--norm", "l2", "--eps", "0.5,9"], "bad eps 9 under l2"),
    (["eval", "--model", "snn-mlp", "--out", ""], "--out must be a file or folder path, got ''"),
    (["eval", "--model", "snn-mlp", "--per-example", " "], "--per-example must be a file or folder path, got ' '"),
    (["eval", "--model", "snn-mlp", "--data-dir", ""], "--data-dir must be a file or folder path, got ''"),
    (["train", "--model", "snn-mlp", "--name", ""], "bad --name ''"),
    (["sweep", "--models", "snn-mlp", "--store", str(ROOT / "README.md")], "--store " + repr(str(ROOT / "README.md")) + " is a file; give a folder"),
    (["sweep", "--models", "snn-mlp", "--store", "/proc/nope/x"], "--store '/proc/nope/x' cannot be written"),
    (["certify", "--model", "smooth-snn-s0.25", "--out", str(ROOT / "README.md")], "--out " + repr(str(ROOT / "README.md")) + " is a file; give a folder"),
    (["certify", "--model", "smooth-snn-s0.25", "--board", str(ROOT / "leaderboards")], "is a folder; give a CSV file path"),
    (["certify", "--model", "smooth-snn-s0.25", "--board", "/proc/nope/x.csv"], "--board '/proc/nope/x.csv' cannot be written"),
    (["certify", "--model", "smooth-snn-s0.25", "--alpha", "abc"], "--alpha must be a number in (0, 0.5), got 'abc'"),
    (["certify", "--model", "smooth-snn-s0.25", "--alpha", "0.5"], "--alpha must be a number in (0, 0.5), got '0.5'"),
    (["site", "--out", "/proc/nope/x"], "--out '/proc/nope/x' cannot be written"),
    (["site", "--out", str(ROOT / "README.md")], "is a file; give a folder"),
    (["leaderboard", "--file", ""], "--file must be a file or folder path, got ''"),
    (["train", "--model", "snn-mlp", "--defense", "pgd-at", "--defense-param", "eps=-1"], "bad --defense-param eps=-1.0 for defense 'pgd-at'"),
    (["train", "--model", "snn-mlp", "--defense", "pgd-at", "--defense-param", "eps=nan"], "bad --defense-param eps=nan"),
    (["train", "--model", "snn-mlp", "--defense", "pgd-at", "--defense-param", "steps=0"], "steps must be >= 1, got 0"),
    (["train", "--model", "snn-mlp", "--defense", "gaussian", "--defense-param", "sigma=-1"], "bad --defense-param sigma=-1.0"),
    (["train", "--model", "snn-mlp", "--defense", "gaussian", "--defense-param", "sigma=inf"], "bad --defense-param sigma=inf"),
    (["train", "--model", "snn-mlp", "--build", "nope=1"], "bad --build for model 'snn-mlp' (nope=1)"),
    (["train", "--model", "snn-mlp", "--build", "T=0"], "bad --build T 0; it must be a positive integer (1-1,000)"),
    (["train", "--model", "snn-mlp", "--build", "T=abc"], "bad --build T 'abc'; it must be a positive integer (1-1,000)"),
    (["train", "--model", "rsc-snn", "--build", "rate=abc"], "bad --build for model 'rsc-snn' (rate=abc)"),
]


def _digest() -> str:
    h = hashlib.sha256()
    for folder in (ROOT / "leaderboards", ROOT / "zoo"):
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.name.endswith(".lock"):
                h.update(str(p).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def before():
    return _digest()


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_value_one_line_exit_2_nothing_written(argv, message, capsys, before):
    assert main(argv + ["--quiet"] if argv[0] not in ("list", "site", "leaderboard", "report") else argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("rbsnn: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert _digest() == before


def test_a_file_as_zoo_dir_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "zoo-file").write_text("x")
    assert main(["train", "--model", "snn-mlp", "--zoo-dir", str(tmp_path / "zoo-file"), "--quiet"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys):
    import robustbench_snn.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "leaderboard", interrupted)
    assert cli.main(["leaderboard"]) == 130
    assert capsys.readouterr().err == "rbsnn: interrupted; no file was left half-written\n"


def test_ctrl_c_during_a_progress_bar_prints_its_line_on_a_line_of_its_own(monkeypatch, capsys):
    """An attack's bar is open when Ctrl-C lands: the bar is closed first, so the one line
    does not trail after the bar's last redraw ('...step/s]rbsnn: interrupted')."""
    import robustbench_snn.cli as cli

    def interrupted(args):
        from tqdm import tqdm

        bar = tqdm(total=10, desc="pgd digits", unit="step")  # alive in the traceback's frame, as an attack's is
        bar.update(3)
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "leaderboard", interrupted)
    assert cli.main(["leaderboard"]) == 130
    err = capsys.readouterr().err
    assert "pgd digits" in err and err.split("\n")[-2:] == ["rbsnn: interrupted; no file was left half-written", ""], err


def test_ctrl_c_ends_rbsnn_by_sigint_so_a_shell_loop_stops(tmp_path):
    """A terminal's Ctrl-C during an evaluation run from a shell loop: rbsnn prints its one
    line and ends killed by SIGINT (status 130), so bash stops the loop. An rbsnn that
    exited 130 normally let bash run the loop's next evaluation."""
    rbsnn = Path(sys.executable).with_name("rbsnn")
    out = tmp_path / "o.csv"
    loop = (f'for i in 1 2; do "{rbsnn}" eval --model snn-cnn --attack pgd --steps 10000 --quiet --out "{out}"; '
            'echo "status $?, next"; done')
    proc = subprocess.Popen(["bash", "-c", loop], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(8.0)  # the first evaluation is attacking
        os.killpg(proc.pid, signal.SIGINT)
        stdout, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert err == "rbsnn: interrupted; no file was left half-written\n"
    assert stdout == "" and proc.returncode == -signal.SIGINT and not out.exists()


def _zoo_copy(tmp_path, name="snn-mlp"):
    import shutil

    folder = tmp_path / "zoo" / "digits"
    folder.mkdir(parents=True)
    for suffix in (".json", ".safetensors"):
        shutil.copy(ROOT / "zoo" / "digits" / f"{name}{suffix}", folder)
    return folder


def _other_weights(folder):
    import shutil

    shutil.copy(ROOT / "zoo" / "digits" / "snn-cnn.safetensors", folder / "snn-mlp.safetensors")


def _truncate(folder):
    p = folder / "snn-mlp.safetensors"
    p.write_bytes(p.read_bytes()[:100])


def _card_text(text):
    return lambda folder: (folder / "snn-mlp.json").write_text(text)


def _card_with(**fields):
    import json

    def edit(folder):
        card = json.loads((folder / "snn-mlp.json").read_text())
        (folder / "snn-mlp.json").write_text(json.dumps({**card, **fields}))

    return edit


def _card_without(field):
    import json

    def edit(folder):
        card = json.loads((folder / "snn-mlp.json").read_text())
        del card[field]
        (folder / "snn-mlp.json").write_text(json.dumps(card))

    return edit


def _mismatched_pair(folder):
    """A re-save (card with a weights hash) whose weights rename was lost: the old weights stay."""
    import json

    from robustbench_snn.models.zoo import load_checkpoint, save_checkpoint

    model, card = load_checkpoint("snn-mlp", "digits", folder.parent)
    old_weights = (folder / "snn-mlp.safetensors").read_bytes()
    with __import__("torch").no_grad():
        next(model.parameters()).add_(1.0)
    save_checkpoint(model, card, folder.parent)
    (folder / "snn-mlp.safetensors").write_bytes(old_weights)
    assert "weights_sha256" in json.loads((folder / "snn-mlp.json").read_text())


def _nan_weights(folder):
    from robustbench_snn.models.zoo import load_checkpoint, save_checkpoint

    model, card = load_checkpoint("snn-mlp", "digits", folder.parent)
    with __import__("torch").no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    save_checkpoint(model, card, folder.parent)


ZOO_CASES = {
    "weights-nan": (_nan_weights, "output is not finite"),
    "weights-truncated": (_truncate, "is not a readable safetensors file"),
    "weights-random": (lambda f: (f / "snn-mlp.safetensors").write_bytes(bytes(range(256)) * 8), "is not a readable safetensors file"),
    "weights-empty": (lambda f: (f / "snn-mlp.safetensors").write_bytes(b""), "is not a readable safetensors file"),
    "weights-of-another-model": (_other_weights, "does not fit the network its card describes"),
    "card-invalid-json": (_card_text("{"), "is not valid JSON"),
    "card-empty": (_card_text(""), "is not valid JSON"),
    "card-a-list": (_card_text("[1, 2]"), "must hold a JSON object"),
    "card-missing-in_shape": (_card_without("in_shape"), "lacks in_shape"),
    "card-build_kwargs-a-list": (_card_with(build_kwargs=[1, 2]), "build_kwargs is not a JSON object"),
    "card-in_shape-huge": (_card_with(in_shape=[1, 10**9, 8]), "in_shape is not a list of 1 to 4 whole numbers"),
    "card-num_classes-text": (_card_with(num_classes="10"), "num_classes is not a whole number"),
    "card-integer-of-5000-digits": (_card_text('{"T": ' + "9" * 5000 + "}"), "is not valid JSON (Exceeds the limit"),
    "card-nested-100000-deep": (_card_text("[" * 100_000 + "]" * 100_000), "is not usable JSON: nested too deeply"),
    "weights-and-card-mismatched": (_mismatched_pair, "is not the file its card snn-mlp.json was written with"),
    "card-clean_acc-above-100": (_card_with(clean_acc=1e308), "clean_acc 1e+308 is not a number in [0, 100]"),
    "card-clean_acc-text": (_card_with(clean_acc="99<script>"), "clean_acc '99<script>' is not a number in [0, 100]"),
    "card-clean_acc-null": (_card_with(clean_acc=None), "clean_acc None is not a number in [0, 100]"),
    "card-epochs-negative": (_card_with(epochs=-1), "epochs -1 is not a whole number"),
    "card-train_seconds-text": (_card_with(train_seconds="abc"), "train_seconds 'abc' is not a number"),
    "card-T-fractional": (_card_with(T=1.5), "T 1.5 is not a whole number in [0, 1000]"),
}


@pytest.mark.parametrize("case", sorted(ZOO_CASES))
def test_a_broken_zoo_checkpoint_is_one_line_and_list_still_works(case, tmp_path, capsys, monkeypatch):
    mutate, message = ZOO_CASES[case]
    folder = _zoo_copy(tmp_path)
    mutate(folder)
    capsys.readouterr()
    out = tmp_path / "board.csv"
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--zoo-dir", str(tmp_path / "zoo"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()
    monkeypatch.setenv("RBSNN_ZOO", str(tmp_path / "zoo"))
    assert main(["list", "--dataset", "digits"]) == 0  # one bad checkpoint does not hide the zoo
    listed = capsys.readouterr().out
    assert "snn-mlp" in listed and ("unreadable card" in listed) == case.startswith("card-")
    if case == "weights-nan":  # certification refuses it too, before any draw
        assert main(["certify", "--model", "snn-mlp", "--sigma", "0.25", "--zoo-dir", str(tmp_path / "zoo"), "--out", str(tmp_path / "c"),
                     "--board", str(tmp_path / "cb.csv"), "--quiet"]) == 2
        assert "output is not finite" in capsys.readouterr().err and not (tmp_path / "cb.csv").exists()


def _idx(array, ndim_override=None) -> bytes:
    import numpy as np

    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim_override is None else ndim_override
    return bytes([0, 0, 8, ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


def _mnist_folder(tmp_path, images: bytes, labels: bytes, gz=True):
    import gzip

    pack = gzip.compress if gz else (lambda b: b)
    suffix = ".gz" if gz else ""
    (tmp_path / f"t10k-images-idx3-ubyte{suffix}").write_bytes(pack(images))
    (tmp_path / f"t10k-labels-idx1-ubyte{suffix}").write_bytes(pack(labels))
    return tmp_path


def _good_images(n=3):
    import numpy as np

    return np.zeros((n, 28, 28), np.uint8)


IDX_CASES = {
    "short-header": (lambda: (bytes([0, 0, 8]), _idx([1, 2, 3])), "is not an unsigned-byte IDX file"),
    "ndim-255": (lambda: (_idx(_good_images())[:3] + bytes([255]) + _idx(_good_images())[4:], _idx([1, 2, 3])), "255 dimensions"),
    "wrong-image-size": (lambda: (_idx(__import__("numpy").zeros((3, 8, 8), "uint8")), _idx([1, 2, 3])), "expected [N, 28, 28]"),
    "label-200": (lambda: (_idx(_good_images()), _idx([1, 200, 3])), "label 200 outside the 10 classes"),
    "zero-images": (lambda: (_idx(_good_images(0)), _idx([])), "holds no images"),
    "count-mismatch": (lambda: (_idx(_good_images(3)), _idx([1, 2])), "3 images but labels of shape [2]"),
    # a header declaring 10^6 images (784 MB): refused from the header, nothing read
    "huge-header": (lambda: (bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (10**6, 28, 28)), _idx([1, 2, 3])),
                    "header says [1000000, 28, 28], 784,000,000 bytes, more than the 268,435,456"),
    "longer-than-header": (lambda: (_idx(_good_images(3)) + bytes(1000), _idx([1, 2, 3])), "header says [3, 28, 28] but holds more bytes"),
}


def test_a_gzip_bomb_is_refused_reading_no_more_than_its_header_declares(tmp_path):
    """3 images declared, 256 MB of zeros behind them in a 250 KB gzip: refused, and the
    reader's peak allocation stays near the declared 2,352 bytes, not the inflated size."""
    import gzip
    import tracemalloc

    from robustbench_snn.data.images import read_idx

    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(_idx(_good_images(3)))
        for _ in range(256):
            f.write(bytes(2**20))
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(UserInputError, match=r"header says \[3, 28, 28\] but holds more bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**22, peak  # 4 MB: gzip's buffers, not the 256 MB it would inflate to


@pytest.mark.parametrize("case", sorted(IDX_CASES))
def test_a_malformed_mnist_file_is_one_line_and_writes_no_row(case, tmp_path, capsys):
    make, message = IDX_CASES[case]
    images, labels = make()
    (tmp_path / "mnist").mkdir()
    folder = _mnist_folder(tmp_path / "mnist", images, labels)
    out = tmp_path / "board.csv"
    assert main(["eval", "--model", "snn-cnn", "--dataset", "mnist", "--data-dir", str(folder), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"\x1f\x8b\x08\x00truncated", bytes(range(200))], ids=["truncated-gz", "random-gz"])
def test_a_broken_gzip_is_one_line(content, tmp_path, capsys):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(content)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(content)
    assert main(["eval", "--model", "snn-cnn", "--dataset", "mnist", "--data-dir", str(tmp_path), "--no-save", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: ") and "cannot be read" in err and err.count("\n") == 1


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is not a readable leaderboard CSV"),
    (b"model,dataset\nsnn-cnn,dig", "missing columns"),
    (b"model,dataset,defense\nx,digits,none\n", "missing columns"),
], ids=["empty", "truncated", "column-missing"])
def test_a_broken_leaderboard_csv_is_one_line(content, message, tmp_path, capsys):
    board = tmp_path / "board.csv"
    board.write_bytes(content)
    assert main(["leaderboard", "--file", str(board)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: ") and message in err and err.count("\n") == 1
    assert board.read_bytes() == content


def test_an_attack_batch_that_cannot_fit_is_refused_before_allocating(monkeypatch, capsys):
    """The bytes autograd keeps for one input, measured, times the batch and EOT copies,
    against the memory available: digits snn-cnn at T=1000 (27 MiB per input; 308 MiB on
    MNIST) in batches of 250 on a 1 GiB machine is refused in one line naming the batch that
    fits (counting the backward's own buffers, ATTACK_OVERHEAD), before any attack."""
    import robustbench_snn.evaluation.plan as plan

    monkeypatch.setattr(plan, "available_bytes", lambda device: 2**30)  # where benchmark()'s plan reads it
    assert main(["eval", "--model", "snn-cnn", "--T", "1000", "--no-save", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: an attack pass of 250 examples x 1 EOT copies would take about 14.8 GiB") and err.count("\n") == 1, err
    assert "(27.0 MiB of activations kept per input at T=1000, x2.25 for the backward); 1.0 GiB is available: lower --batch-size to 16 or below" in err


def test_saved_activation_bytes_grow_with_time_steps_and_a_batch_that_fits_runs():
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.interop.foreign_neurons import with_reset
    from robustbench_snn.evaluation.memory import ATTACK_OVERHEAD, check_attack_memory, saved_bytes_per_input
    from robustbench_snn.models.zoo import load_checkpoint

    x = load_dataset("digits", "test").x[:1]
    per_T = {T: saved_bytes_per_input(with_reset(load_checkpoint("snn-cnn", "digits", T=T)[0].eval()), x) for T in (4, 8, 16)}
    assert per_T[16] - per_T[8] == 2 * (per_T[8] - per_T[4]) > 0  # BPTT keeps every step: linear in T
    check_attack_memory(per_T[16], 250, 10, 16, per_T[16] * 2500 * ATTACK_OVERHEAD)  # exactly fits: no error
    with pytest.raises(UserInputError, match="lower --batch-size to 249 or below"):
        check_attack_memory(per_T[16], 250, 10, 16, per_T[16] * 2499 * ATTACK_OVERHEAD)


def test_live_bytes_follow_each_tensor_until_it_is_freed():
    """The certification check's count: outputs alive at once, not weights or their views.
    Linear(10, 1000) -> ReLU -> Linear(1000, 10) on one input holds the first layer's 1,000
    floats and the ReLU's 1,000 at once (8,000 bytes); an in-place ReLU holds one of them
    and then the last layer's 10 (4,040)."""
    from torch import nn

    from robustbench_snn.evaluation.memory import live_bytes_per_input

    x = torch.rand(1, 10)
    assert live_bytes_per_input(nn.Sequential(nn.Linear(10, 1000), nn.ReLU(), nn.Linear(1000, 10)), x) == 8000
    assert live_bytes_per_input(nn.Sequential(nn.Linear(10, 1000), nn.ReLU(inplace=True), nn.Linear(1000, 10)), x) == 4040


def test_a_certification_batch_that_cannot_fit_is_refused_before_any_pass(monkeypatch, capsys, tmp_path):
    """`rbsnn certify --batch` too large for the memory available: one line naming the batch
    that fits, before any draw, nothing written. The pass holds min(batch, n) draws, so
    a batch above --n asks no more than --n does."""
    import robustbench_snn.evaluation.certify as certify

    monkeypatch.setattr(certify, "available_bytes", lambda device: 2**27)  # 128 MiB, where certification reads it
    out, board = tmp_path / "out", tmp_path / "board.csv"
    args = ["certify", "--model", "smooth-snn-s0.25", "--sigma", "0.25", "--n-examples", "2", "--out", str(out), "--board", str(board), "--quiet"]
    assert main(args + ["--batch", "100000", "--n", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: a pass of 100000 noise draws would hold about ") and err.count("\n") == 1, err
    fits = int(re.search(r"lower --batch to (\d+) or below", err).group(1))
    assert 100 < fits < 100000 and not list(out.rglob("*")) and not board.exists()  # --out is made before work, left empty
    assert main(args + ["--batch", "100000", "--n", "300", "--n0", "30", "--no-crosscheck"]) == 0  # 300 draws per pass fit


def test_an_allocation_failure_is_one_line(monkeypatch, capsys):
    import robustbench_snn.cli as cli

    def fails(args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 200704000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setitem(cli.COMMANDS, "leaderboard", fails)
    assert cli.main(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: out of memory (") and "lower --batch-size" in err and err.count("\n") == 1, err


@pytest.mark.parametrize(("column", "value", "message"), [
    ("eps", "abc", "row 2: eps 'abc' is not a number"),
    ("robust_acc", "n/a", "row 2: robust_acc is empty"),  # pandas reads "n/a" as missing
    ("T", "", "row 2: empty T (a key column)"),
    ("model", "", "row 2: empty model (a key column)"),
], ids=["eps-text", "accuracy-text", "T-empty", "model-empty"])
def test_a_leaderboard_with_a_broken_cell_is_refused_before_the_attack(column, value, message, tmp_path, capsys, monkeypatch):
    """A hand-edited board with a broken cell was found only when the row was upserted, after
    the attack (a traceback, the work lost): it is read when --out is checked, before any work."""
    import pandas as pd

    import robustbench_snn.runners.sweep as sweep

    board = tmp_path / "board.csv"
    df = pd.read_csv(ROOT / "leaderboards" / "digits_linf.csv", dtype=str, keep_default_na=False).head(3)
    df.loc[0, column] = value
    df.to_csv(board, index=False)
    before = board.read_bytes()
    monkeypatch.setattr(sweep, "benchmark", lambda *a, **k: pytest.fail("the attack ran"))  # rbsnn eval runs it through sweep
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--out", str(board), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rbsnn: error: {board} ") and message in err and err.count("\n") == 1, err
    assert board.read_bytes() == before


def _full_disk(*args, **kwargs):
    """A stand-in for a write call on a full disk."""
    import errno

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_at_the_start_is_refused_before_the_attack(tmp_path, monkeypatch, capsys):
    """--out on a full disk: the folder's probe write fails, so eval stops before attacking."""
    import tempfile

    monkeypatch.setattr(tempfile, "TemporaryFile", _full_disk)
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--quiet", "--out", str(tmp_path / "o.csv")]) == 2
    out = capsys.readouterr()
    assert out.err == f"rbsnn: error: --out '{tmp_path / 'o.csv'}' cannot be written (No space left on device)\n"
    assert "robust" not in out.out  # no attack ran


def test_a_disk_that_fills_during_the_run_is_one_line_after_the_numbers(tmp_path, monkeypatch, capsys):
    """The disk fills while the attack runs: the result is printed, then one line saying the
    leaderboard could not be written and is unchanged; exit 2, no traceback. The lock file
    that cannot be made (no inode left) is the same one line."""
    import types

    import filelock

    import robustbench_snn.core.atomic as atomic

    out = tmp_path / "o.csv"
    monkeypatch.setattr(atomic, "os", types.SimpleNamespace(**{**vars(os), "replace": _full_disk}))
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--quiet", "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert "robust" in printed.out and not out.exists()
    assert printed.err == f"rbsnn: error: could not write {out} (No space left on device); it is unchanged. Free space, or choose another path, and run the command again\n"
    monkeypatch.undo()
    monkeypatch.setattr(filelock.FileLock, "acquire", _full_disk)
    assert main(["eval", "--model", "snn-mlp", "--attack", "fgsm", "--quiet", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"rbsnn: error: could not write {out}.lock (No space left on device)")


def test_a_full_disk_under_the_zoo_is_refused_before_training(tmp_path, monkeypatch, capsys):
    """train's --zoo-dir is probed after every other input is checked and before the epochs
    (it failed at the first epoch's checkpoint)."""
    import tempfile

    monkeypatch.setattr(tempfile, "TemporaryFile", _full_disk)
    assert main(["train", "--model", "snn-mlp", "--epochs", "1", "--quiet", "--zoo-dir", str(tmp_path / "zoo")]) == 2
    printed = capsys.readouterr()
    assert printed.err == f"rbsnn: error: --zoo-dir '{tmp_path / 'zoo' / 'digits'}' cannot be written (No space left on device)\n"
    assert "clean accuracy" not in printed.out and not list((tmp_path / "zoo").rglob("*.*"))
