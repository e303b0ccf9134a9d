import gzip
import pickle

import numpy as np
import pytest
import torch

from conftest import MNIST_DIR, needs_mnist
from robustbench_snn.data.catalog import DATASETS, load_dataset
from robustbench_snn.data.dataset import DataNotFoundError
from robustbench_snn.data.images import read_idx
from robustbench_snn.core.errors import UnknownNameError


def test_digits_is_embedded_fixed_split_in_unit_range():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (1297, 500)
    assert train.x.shape[1:] == (1, 8, 8) and test.in_shape == (1, 8, 8)
    assert train.x.min() >= 0 and train.x.max() <= 1 and train.x.max() == 1
    assert train.y.dtype == torch.int64 and set(test.y.unique().tolist()) == set(range(10))
    again = load_dataset("digits", "test")
    assert torch.equal(again.x, test.x) and torch.equal(again.y, test.y)
    # stratified: each class's share of the test split is its share of the whole set
    all_y = torch.cat([train.y, test.y])
    expected = 500 * torch.bincount(all_y).double() / len(all_y)
    assert (torch.bincount(test.y).double() - expected).abs().max() <= 1


def _write_idx(path, array: np.ndarray, gz: bool):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["", "MNIST/raw"])
def test_mnist_idx_reader_plain_and_torchvision_layout(tmp_path, gz, layout):
    root = tmp_path / layout
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    suffix = ".gz" if gz else ""
    _write_idx(root / f"t10k-images-idx3-ubyte{suffix}", images, gz)
    _write_idx(root / f"t10k-labels-idx1-ubyte{suffix}", labels, gz)
    ds = load_dataset("mnist", "test", tmp_path)
    assert ds.x.shape == (7, 1, 28, 28)
    assert torch.allclose(ds.x[:, 0], torch.from_numpy(images / 255.0).float())
    assert ds.y.tolist() == labels.tolist()


def test_idx_rejects_truncated_file(tmp_path):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says"):
        read_idx(p)


def test_missing_files_name_what_is_expected(tmp_path, monkeypatch):
    monkeypatch.delenv("RBSNN_DATA", raising=False)  # no data root: nothing says where MNIST is
    with pytest.raises(DataNotFoundError, match="t10k-images-idx3-ubyte"):
        load_dataset("fashion-mnist", "test", tmp_path)
    with pytest.raises(DataNotFoundError, match="--data-dir"):
        load_dataset("mnist", "test")
    with pytest.raises(DataNotFoundError, match="test_batch"):
        load_dataset("cifar10", "test", tmp_path)


def test_cifar10_python_batches(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072) % 256
    with open(base / "test_batch", "wb") as f:
        pickle.dump({"data": data.astype(np.uint8), "labels": [3, 5]}, f)
    ds = load_dataset("cifar10", "test", tmp_path)
    assert ds.x.shape == (2, 3, 32, 32) and ds.y.tolist() == [3, 5]
    assert ds.x[0, 0, 0, 1].item() == pytest.approx(1 / 255)


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="valid: " + ", ".join(sorted(DATASETS))):
        load_dataset("imagenet")
    with pytest.raises(UnknownNameError, match="split"):
        load_dataset("digits", "val")


@needs_mnist
def test_real_mnist_test_split():
    ds = load_dataset("mnist", "test", MNIST_DIR)
    assert ds.x.shape == (10000, 1, 28, 28)
    assert ds.y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first t10k labels
    assert torch.bincount(ds.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
