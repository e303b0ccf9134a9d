"""Nothing unpickles arbitrary objects: a crafted CIFAR batch in --data-dir and a
crafted training state in the zoo are refused without running their payload."""

import os
import pickle

import numpy as np
import pytest

from robustbench_snn.cli import main
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.core.errors import UserInputError


class Payload:
    """Unpickling this calls os.system: it would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_batch_is_refused_without_running(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    marker = tmp_path / "ran"
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "evil": Payload(marker)}
    (base / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(UserInputError, match="not a CIFAR-10 python batch.*posix.system|not a CIFAR-10 python batch.*os.system"):
        load_dataset("cifar10", "test", tmp_path)
    assert not marker.exists()
    # the same batch without the payload loads: the restriction admits what CIFAR holds
    (base / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}))
    assert len(load_dataset("cifar10", "test", tmp_path)) == 2


def test_a_crafted_training_state_is_refused_on_resume_without_running(tmp_path, capsys):
    marker = tmp_path / "ran"
    state = tmp_path / "digits" / "snn-mlp.train-state.pt"
    state.parent.mkdir()
    state.write_bytes(pickle.dumps({"config": Payload(marker)}))
    code = main(["train", "--model", "snn-mlp", "--epochs", "1", "--resume", "--zoo-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rbsnn: error: --resume:") and err.count("\n") == 1
    assert not marker.exists()


def test_resume_refuses_a_state_from_another_model_T_or_defense(tmp_path, capsys):
    """Interrupting run A then resuming with a different T or defense would mix two runs' weights."""
    from robustbench_snn.training.trainer import TrainConfig, _save_state, run_identity
    from robustbench_snn.data.catalog import load_dataset
    from robustbench_snn.models.registry import create_model

    from robustbench_snn.defenses import get_defense

    data = load_dataset("digits", "train").head(64)
    model = create_model("snn-mlp", data.in_shape, data.num_classes, T=2)
    cfg = TrainConfig(epochs=1, lr=0.002, batch_size=64, seed=0)
    state = tmp_path / "digits" / "snn-mlp.train-state.pt"
    _save_state(state, config=cfg.__dict__, identity=run_identity(model, get_defense("none"), data),
                model=model.state_dict(), losses=[])
    argv = ["train", "--model", "snn-mlp", "--epochs", "1", "--n-train", "64", "--resume", "--zoo-dir", str(tmp_path), "--quiet"]
    assert main(argv + ["--T", "3"]) == 2  # the state was written with T=2
    err = capsys.readouterr().err
    assert err.startswith("rbsnn: error: --resume:") and "is from another run (network:" in err and err.count("\n") == 1
