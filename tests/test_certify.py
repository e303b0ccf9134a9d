"""Randomized-smoothing certification: bounds, closed forms, abstention, reproducibility, cross-check."""

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binomtest, norm
from torch import nn

from robustbench_snn.evaluation.certify import (
    ABSTAIN, CertifyConfig, EncoderNoise, GaussianNoise, certify, certify_dataset, clopper_pearson_lower, crosscheck,
    predict, summary,
)
from robustbench_snn.cli import main
from robustbench_snn.results.leaderboard import CERTIFIED, read
from robustbench_snn.results.provenance import host


@pytest.mark.parametrize("k, n, alpha", [(1, 10, 0.05), (95, 100, 0.001), (9_990, 10_000, 0.001), (5_000, 10_000, 0.01), (100, 100, 0.001)])
def test_clopper_pearson_matches_scipys_exact_interval(k, n, alpha):
    # scipy's exact (Clopper-Pearson) two-sided interval at 1 - 2 alpha has our one-sided bound as its low end
    expected = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
    assert clopper_pearson_lower(k, n, alpha) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert clopper_pearson_lower(0, n, alpha) == 0.0


class _Halfplane(nn.Module):
    """Class 1 iff ``w . x + b > 0``: logits ``[0, w . x + b]``."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w = nn.Parameter(w, requires_grad=False)
        self.b = b

    def forward(self, x):
        z = x.flatten(1) @ self.w.flatten() + self.b
        return torch.stack([torch.zeros_like(z), z], 1)


def test_linear_classifier_radius_matches_the_closed_form():
    # Gaussian smoothing of a half-space: p_A = Phi(d / sigma), so the exact radius is d, the distance to the boundary
    torch.manual_seed(0)
    w, b, sigma = torch.tensor([[[0.6, -0.8], [0.0, 0.0]]]), -0.1, 0.5
    model = _Halfplane(w, b)
    x = torch.tensor([[[0.9, 0.1], [0.3, 0.3]]])
    distance = (float((w * x).sum()) + b) / float(w.norm())  # 0.36
    n, alpha = 100_000, 0.001
    cls, radius = certify(model, GaussianNoise(sigma), x, 100, n, alpha, 10_000, 2)
    assert cls == 1
    p = norm.cdf(distance / sigma)
    lowest = sigma * norm.ppf(clopper_pearson_lower(int(p * n - 4 * math.sqrt(n * p * (1 - p))), n, alpha))
    assert lowest < radius < distance  # below the truth (a lower bound), within Monte-Carlo error of it
    assert distance - radius < 0.03


class _CoinFlip(nn.Module):
    """A base classifier that says 0 or 1 with probability 1/2 each, whatever the input."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        heads = (torch.rand(len(x)) < 0.5).float()
        return torch.stack([heads, 1 - heads], 1)


def test_tied_classes_abstain():
    torch.manual_seed(0)
    x = torch.zeros(1, 2, 2)
    assert certify(_CoinFlip(), GaussianNoise(0.25), x, 100, 10_000, 0.001, 1000, 2) == (ABSTAIN, 0.0)
    assert predict(_CoinFlip(), GaussianNoise(0.25), x, 10_000, 0.001, 1000, 2) == ABSTAIN


def test_encoder_radius_matches_the_closed_form_for_a_dark_pixel():
    # one pixel at 0, T steps: BC_min(eps) = (1 - eps)^(T/2), so TV <= m  <=>  eps <= 1 - (1 - m^2)^(1/T)
    T, p_lower = 8, 0.9
    m = p_lower - 0.5
    expected = 1 - (1 - m * m) ** (1 / T)
    assert EncoderNoise(T).radius(p_lower, torch.zeros(1, 1, 1)) == pytest.approx(expected, rel=1e-9)
    # more pixels or steps can only shrink the certificate; a higher p_A only grow it
    mech = EncoderNoise(T)
    x = torch.rand(1, 4, 4)
    assert mech.radius(0.9, x) <= mech.radius(0.9, x[:, :2, :2])
    assert mech.radius(0.8, x) < mech.radius(0.99, x)


@pytest.mark.parametrize("p, q", [(0.0, 0.1), (0.3, 0.45), (0.9, 1.0), (0.5, 0.2)])
def test_encoder_tv_bound_holds_exactly_on_small_spike_trains(p, q):
    # exact total variation between the spike distributions of two pixels over T=3 steps vs sqrt(1 - BC^2)
    T = 3

    def prob(s, r):
        return math.prod(r if bit else 1 - r for bit in s)

    tv = 0.5 * sum(abs(prob(s, p) - prob(s, q)) for s in itertools.product((0, 1), repeat=T))
    bc = (math.sqrt(p * q) + math.sqrt((1 - p) * (1 - q))) ** T
    assert tv <= math.sqrt(1 - bc * bc) + 1e-12
    mech = EncoderNoise(T)
    assert mech.log_bc_min(torch.tensor([p], dtype=torch.float64), abs(q - p)) <= math.log(bc) + 1e-12


def test_summary_counts_abstentions_as_wrong():
    rows = [{"predict": 1, "label": 1, "correct": 1, "radius": 0.6}, {"predict": ABSTAIN, "label": 2, "correct": 0, "radius": 0.0},
            {"predict": 3, "label": 4, "correct": 0, "radius": 0.9}, {"predict": 5, "label": 5, "correct": 1, "radius": 0.2}]
    s = summary(rows, "l2")
    assert s["cert_l2@0"] == 50.0 and s["cert_l2@0.25"] == 25.0 and s["cert_l2@0.75"] == 0.0
    assert s["acr"] == pytest.approx(0.2) and s["abstain"] == 25.0


def test_crosscheck_finds_no_violation(zoo_smooth_snn, digits_test):
    data = digits_test.head(6)
    cfg = CertifyConfig(n0=50, n=1000, alpha=0.001, batch=500, seed=0)
    mech = GaussianNoise(0.25)
    rows = certify_dataset(zoo_smooth_snn, mech, data, cfg)
    attempts, violations = crosscheck(zoo_smooth_snn, mech, data, rows, cfg)
    assert attempts == sum(r["predict"] != ABSTAIN and r["radius"] > 0 for r in rows) >= 3
    assert violations == 0


def _certify_cli(tmp_path, *extra):
    return main(["certify", "--model", "smooth-snn-s0.25", "--n0", "20", "--n", "300", "--batch", "300", "--n-examples", "4",
                 "--out", str(tmp_path), "--board", str(tmp_path / "board.csv"), "--quiet", *extra])


def test_same_seed_reproduces_the_per_example_file_byte_for_byte(tmp_path):
    assert _certify_cli(tmp_path / "a", "--no-time", "--no-crosscheck") == 0
    assert _certify_cli(tmp_path / "b", "--no-time", "--no-crosscheck") == 0
    name = "digits_smooth-snn-s0.25_gaussian_s0.25_n300.csv"
    first, second = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
    assert first == second
    assert _certify_cli(tmp_path / "c", "--no-time", "--no-crosscheck", "--seed", "1") == 0
    assert (tmp_path / "c" / name).read_bytes() != first  # the seed is what fixes the draws
    records = pd.read_csv(tmp_path / "a" / name)
    assert list(records.columns) == ["idx", "label", "predict", "radius", "correct", "time"]


def test_cli_writes_per_example_file_summary_row_and_plot(tmp_path, capsys):
    assert _certify_cli(tmp_path) == 0
    board = pd.read_csv(tmp_path / "board.csv")
    row = board.iloc[0]
    assert (row["model"], row["mechanism"], row["norm"], str(row["sigma"]), row["n"]) == ("smooth-snn-s0.25", "gaussian", "l2", "0.25", 300)
    assert row["crosscheck_violations"] == 0 and row["crosscheck_attempts"] >= 1
    assert {"cert_l2@0", "cert_l2@0.25", "cert_l2@0.5", "cert_l2@0.75", "cert_l2@1", "acr"} <= set(board.columns)
    assert (tmp_path / "digits_certified.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "certify --model smooth-snn-s0.25" in row["command"]
    assert json.loads(row["host"]) == host()  # the machine a command cannot carry


def test_certified_rows_made_before_host_was_recorded_still_read(tmp_path):
    old = tmp_path / "old.csv"
    columns = [c for c in CERTIFIED.columns if c != "host"]
    pd.DataFrame([{c: 1 for c in columns} | {"model": "m", "sigma": "0.25", "alpha": 0.001}]).to_csv(old, index=False)
    table = read(old, CERTIFIED)
    assert table.loc[0, "host"] == "" and table.loc[0, "model"] == "m"


@pytest.mark.parametrize("args, message", [
    (["--model", "snn-cnn", "--mechanism", "encoder"], "needs a model with a Poisson encoder"),
    (["--model", "snn-cnn", "--mechanism", "laplace", "--sigma", "0.25"], "mechanism 'laplace'"),
    (["--model", "snn-cnn"], "needs --sigma"),
    (["--model", "rsc-snn", "--mechanism", "encoder", "--sigma", "0.5"], "--sigma applies to --mechanism gaussian only"),
    (["--model", "snn-cnn", "--sigma", "-1"], "--sigma must be a finite number > 0, got '-1'"),
])
def test_certify_bad_input_is_one_line_exit_2(args, message, capsys, tmp_path):
    assert main(["certify", *args, "--board", str(tmp_path / "b.csv"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "b.csv").exists()


def test_encoder_mechanism_certifies_rsc_snn_with_a_small_linf_radius(zoo_rsc_snn, digits_test):
    data = digits_test.head(3)
    cfg = CertifyConfig(n0=20, n=500, alpha=0.001, batch=500, seed=0)
    rows = certify_dataset(zoo_rsc_snn, EncoderNoise(zoo_rsc_snn.T, zoo_rsc_snn.encoder.rate), data, cfg)
    radii = np.array([r["radius"] for r in rows if r["predict"] != ABSTAIN])
    assert len(radii) >= 2 and (radii > 0).all() and (radii < 2 / 255).all()  # Linf, and tiny: see certify's docstring


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode], ids=["no_grad", "inference_mode"])
def test_certify_model_under_a_callers_grad_mode_gives_the_same_run(zoo_smooth_snn, digits_test, mode):
    """A caller's no_grad or inference_mode must not change the certificates or make the
    PGD cross-check vacuous: certify_model turns autograd on itself."""
    from robustbench_snn.evaluation.certify import certify_model

    data = digits_test.head(4)
    cfg = CertifyConfig(n0=20, n=300, alpha=0.001, batch=300, seed=0)
    mech = GaussianNoise(0.25)
    plain = certify_model(zoo_smooth_snn, mech, data, cfg, compile="off", record_time=False)
    with mode():
        inside = certify_model(zoo_smooth_snn, mech, data, cfg, compile="off", record_time=False)
    assert inside.rows == plain.rows and plain.attempts >= 1
    assert (inside.attempts, inside.violations) == (plain.attempts, plain.violations)


def test_certify_model_refuses_a_sigma_wider_than_the_input_box_for_library_callers(zoo_smooth_snn, digits_test):
    """The CLI refuses it before printing; certify_model refuses it too, for a caller of the library."""
    from robustbench_snn.evaluation.certify import CertifyConfig, certify_model, make_mechanism
    from robustbench_snn.core.errors import UserInputError

    with pytest.raises(UserInputError, match=r"bad --sigma 9; .*valid: 0-8"):
        certify_model(zoo_smooth_snn, make_mechanism("gaussian", zoo_smooth_snn, 9.0), digits_test.head(2), CertifyConfig(10, 100, 0.001, 100, 0))
