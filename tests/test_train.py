import pytest
import torch

from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.defenses import Defense
from robustbench_snn.models.registry import create_model
from robustbench_snn.training.trainer import TrainConfig, fit, recalibrate_batchnorm


def test_recalibrated_batchnorm_holds_the_exact_data_statistics():
    data = load_dataset("digits", "train").head(300)
    model = create_model("snn-cnn", data.in_shape, 10, T=2)
    fit(model, data, TrainConfig(epochs=1, batch_size=100), Defense(), quiet=True)
    recalibrate_batchnorm(model, data, batch_size=300)
    conv_bn = model.body[0].module  # Conv2d -> BatchNorm2d
    with torch.no_grad():
        current = conv_bn[0](model.encoder(data.x).flatten(0, 1))  # [T*N, C, H, W]
    assert torch.allclose(conv_bn[1].running_mean, current.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(conv_bn[1].running_var, current.var((0, 2, 3)), rtol=1e-3)
    assert conv_bn[1].momentum == 0.1 and not model.training


def test_training_lowers_loss_and_is_seeded():
    data = load_dataset("digits", "train").head(256)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("snn-mlp", data.in_shape, 10, T=2)
        losses.append(fit(model, data, TrainConfig(epochs=3, seed=5), Defense(), quiet=True))
    assert losses[0] == losses[1]
    assert losses[0][-1] < losses[0][0]


class _Interrupt(Exception):
    pass


class _StopAfter(Defense):
    """Standard loss that raises after ``n`` optimizer steps (a killed run)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def after_step(self, model) -> None:
        self.n -= 1
        if self.n == 0:
            raise _Interrupt


def _fresh_poisson(data):
    """The same freshly initialised Poisson model each call (its encoder draws make RNG streams matter)."""
    torch.manual_seed(0)
    return create_model("rsc-snn", data.in_shape, 10, T=2)


def _same_weights(a, b) -> bool:
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    """Interrupt mid-epoch 2 of a Poisson model (so RNG streams matter), resume, compare bit for bit."""
    data = load_dataset("digits", "train").head(192)
    cfg = TrainConfig(epochs=3, batch_size=64, seed=3)

    straight = _fresh_poisson(data)
    fit(straight, data, cfg, Defense(), quiet=True)

    state = tmp_path / "run.train-state.pt"
    with pytest.raises(_Interrupt):
        fit(_fresh_poisson(data), data, cfg, _StopAfter(4), quiet=True, state_path=state)  # 3 steps per epoch: dies in epoch 2
    torch.manual_seed(123)  # whatever happened to the global RNG since
    resumed = _fresh_poisson(data)
    losses = fit(resumed, data, cfg, Defense(), quiet=True, state_path=state, resume=True)
    assert len(losses) == 3
    assert _same_weights(straight, resumed)


def test_a_run_resumed_inside_an_epoch_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    """Killed mid-epoch after a state write inside the epoch (``save_every_s=0``: one after every
    step), the resumed run starts at the next batch of that epoch, not at the epoch's start,
    and ends with the same weights and epoch losses as a run never interrupted."""
    from robustbench_snn.training.trainer import _load_state

    data = load_dataset("digits", "train").head(192)
    cfg = TrainConfig(epochs=2, batch_size=64, seed=3)

    straight = _fresh_poisson(data)
    expected = fit(straight, data, cfg, Defense(), quiet=True)

    state = tmp_path / "run.train-state.pt"
    with pytest.raises(_Interrupt):
        fit(_fresh_poisson(data), data, cfg, _StopAfter(5), quiet=True, state_path=state, save_every_s=0.0)  # dies after step 2 of epoch 2
    saved = _load_state(state)
    assert saved["epoch_step"] == 64 and len(saved["losses"]) == 1  # written after step 1 of epoch 2
    steps = _StepCounter()
    resumed = _fresh_poisson(data)
    losses = fit(resumed, data, cfg, steps, quiet=True, state_path=state, resume=True)
    assert steps.n == 2 and losses == expected
    assert _same_weights(straight, resumed)
    assert "epoch_perm" not in _load_state(state)  # the last write is the epoch's end


@pytest.mark.parametrize("edit", [{"epoch_step": 65}, {"epoch_step": 192}, {"epoch_step": None}, {"epoch_total": float("nan")},
                                  {"epoch_perm": torch.zeros(192, dtype=torch.long)}, {"epoch_perm": torch.arange(10)}])
def test_a_broken_epoch_in_progress_is_refused_on_resume(edit, tmp_path):
    from robustbench_snn.core.errors import UserInputError
    from robustbench_snn.training.trainer import _load_state, _save_state

    data = load_dataset("digits", "train").head(192)
    cfg = TrainConfig(epochs=2, batch_size=64, seed=3)
    state = tmp_path / "run.train-state.pt"
    with pytest.raises(_Interrupt):
        fit(create_model("snn-mlp", data.in_shape, 10, T=2), data, cfg, _StopAfter(2), quiet=True, state_path=state, save_every_s=0.0)
    edited = {k: v for k, v in {**_load_state(state), **edit}.items() if v is not None}  # None: the field is missing
    _save_state(state, **edited)
    with pytest.raises(UserInputError, match="broken epoch in progress"):
        fit(create_model("snn-mlp", data.in_shape, 10, T=2), data, cfg, Defense(), quiet=True, state_path=state, resume=True)


class _StepCounter(Defense):
    def __init__(self) -> None:
        self.n = 0

    def after_step(self, model) -> None:
        self.n += 1


def test_a_resumed_cards_training_time_counts_every_run(tmp_path):
    """The card's train_seconds of a resumed run is the earlier runs' seconds (kept in the
    training state) plus this run's, not this run's alone."""
    from robustbench_snn.training.trainer import _load_state, _save_state, train_model

    data = load_dataset("digits", "train").head(128)
    test = load_dataset("digits", "test").head(50)
    cfg = TrainConfig(epochs=2, batch_size=64, seed=3)
    state = tmp_path / "run.train-state.pt"
    with pytest.raises(_Interrupt):
        fit(create_model("snn-mlp", data.in_shape, 10, T=2), data, cfg, _StopAfter(3), quiet=True, state_path=state)  # dies in epoch 2
    saved = _load_state(state)
    assert 0 < saved["seconds"] < 60
    _save_state(state, **{**saved, "seconds": 5000.0})  # as if epoch 1 had taken 5,000 s in an earlier session
    _, card = train_model("snn-mlp", data, test, cfg, {"T": 2}, quiet=True, state_path=state, resume=True)
    assert 5000 <= card["train_seconds"] < 5060  # this run adds well under a second (rounded to 0.1 s)


def test_resume_without_state_is_a_clear_error(tmp_path):
    from robustbench_snn.core.errors import UserInputError

    data = load_dataset("digits", "train").head(64)
    with pytest.raises(UserInputError, match="no training state"):
        fit(create_model("snn-mlp", data.in_shape, 10), data, TrainConfig(epochs=1), quiet=True, state_path=tmp_path / "x.pt", resume=True)


def test_rescoring_a_card_keeps_the_weights_and_records_what_it_replaced(tmp_path):
    """A card scored by older code is re-measured from its unchanged weights; with today's
    scoring the numbers are the same, and the card says when and what they were."""
    import shutil

    from robustbench_snn.training.trainer import rescore_checkpoint
    from robustbench_snn.models.zoo import DEFAULT_ZOO, load_checkpoint, read_card

    shutil.copytree(DEFAULT_ZOO / "digits", tmp_path / "digits", ignore=shutil.ignore_patterns("*rsc*", "*smooth*", "*at*"))
    before = read_card("snn-mlp", "digits", tmp_path)
    weights = (tmp_path / "digits" / "snn-mlp.safetensors").read_bytes()
    card = rescore_checkpoint("snn-mlp", "digits", root=tmp_path)
    assert card["clean_acc"] == before["clean_acc"] and card["rescored"]["was"] == {"clean_acc": before["clean_acc"], "clean_acc_draws": 1}
    assert read_card("snn-mlp", "digits", tmp_path) == card and (tmp_path / "digits" / "snn-mlp.safetensors").read_bytes() == weights
    load_checkpoint("snn-mlp", "digits", tmp_path)  # the weights still match the card's hash


def test_crop_flip_shifts_and_mirrors_each_image_from_the_generator():
    from robustbench_snn.training.trainer import crop_flip

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) + 1
    a = crop_flip(x, torch.Generator().manual_seed(0))
    b = crop_flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape  # the same draws give the same batch
    g = torch.Generator().manual_seed(0)
    shifts, flips = torch.randint(0, 9, (2, 2), generator=g), torch.rand(2, generator=g) < 0.5
    for i in range(2):
        padded = torch.nn.functional.pad(x[i], (4, 4, 4, 4))
        dy, dx = shifts[i].tolist()
        expected = padded[:, dy:dy + 8, dx:dx + 8]
        assert torch.equal(a[i], expected.flip(-1) if flips[i] else expected)


def test_build_lists_and_a_bad_augmentation_on_the_command_line(capsys):
    from robustbench_snn.cli import main
    from robustbench_snn.runners.train_zoo import literal

    assert literal("32,64,128") == (32, 64, 128) and literal("a,b") == "a,b" and literal("0.5") == 0.5
    assert main(["train", "--model", "snn-cnn", "--augment", "mixup", "--epochs", "1"]) == 2
    assert "unknown augmentation 'mixup'; valid: crop-flip, none" in capsys.readouterr().err
    assert main(["train", "--model", "snn-cnn", "--build", "channels=8,-1", "--epochs", "1"]) == 2
    assert "bad --build channels=(8, -1)" in capsys.readouterr().err
    for bad in ("channels=", "channels=0,4", "channels=8,2.5", "hidden=0"):
        assert main(["train", "--model", "snn-cnn", "--build", bad, "--epochs", "1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "must be a non-empty list of positive integers" in err


def test_the_cnn_bodies_take_any_number_of_stages_and_keep_the_two_stage_layout():
    from robustbench_snn.models.registry import create_model

    three = create_model("snn-cnn", (3, 32, 32), 10, channels=(8, 16, 32), hidden=24)
    assert three(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert create_model("ann-cnn", (3, 32, 32), 10, channels=(8, 16, 32)).net[-4].in_features == 32 * 4 * 4
    two = create_model("snn-cnn", (1, 8, 8), 10)
    assert list(two.state_dict()) == list(create_model("snn-cnn", (1, 8, 8), 10, channels=[16, 32]).state_dict())
    with pytest.raises(ValueError, match="pool a 8x8 image to nothing"):
        create_model("qcfs-snn", (1, 8, 8), 10, channels=(4, 4, 4, 4))
