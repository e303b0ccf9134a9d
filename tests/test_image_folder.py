"""Image-folder datasets (cifar10-jpeg, image-folder): a folder or its .tar.gz give the same
examples, in a class-balanced order, decoded once and cached by content; bad files are one line."""

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.core.errors import UserInputError
from robustbench_snn.data.image_folder import CIFAR10_CLASSES

from conftest import DATA_ROOT, ROOT

CIFAR_JPEG = DATA_ROOT / "cifar10-jpeg"


def _image(seed: int, size=(32, 32)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))


def _folder(root, classes=("cat", "dog", "frog"), per_class=3, fmt="PNG"):
    for split in ("train", "test"):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                _image(100 * c + i).save(root / split / name / f"{i:04d}.{fmt.lower()}", fmt)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RBSNN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_an_image_folder_loads_in_round_robin_order_with_exact_pixels(tmp_path, cache):
    root = _folder(tmp_path / "set")
    data = load_dataset("image-folder", "test", root)
    assert data.x.shape == (9, 3, 32, 32) and data.num_classes == 3
    assert data.y.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2]  # the first N examples are balanced
    expected = torch.from_numpy(np.array(_image(100 * 1 + 2))).permute(2, 0, 1).float() / 255  # dog/0002.png
    assert torch.equal(data.x[7], expected)


def test_the_archive_gives_the_same_examples_as_the_folder(tmp_path, cache):
    root = _folder(tmp_path / "set")
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "set.tar.gz", "w:gz") as tar:
        tar.add(root, arcname="set")
    a, b = load_dataset("image-folder", "test", root), load_dataset("image-folder", "test", archive_dir)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_decoded_once_and_a_changed_file_is_never_served_from_the_cache(tmp_path, cache):
    root = _folder(tmp_path / "set")
    first = load_dataset("image-folder", "train", root)
    assert len(list((cache / "images").glob("*.safetensors"))) == 1
    assert torch.equal(load_dataset("image-folder", "train", root).x, first.x)  # the cached copy
    _image(999).save(root / "train" / "cat" / "0000.png", "PNG")
    changed = load_dataset("image-folder", "train", root)
    assert not torch.equal(changed.x, first.x) and len(list((cache / "images").glob("*.safetensors"))) == 2


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "test" / "dog" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken"), r"test/dog/0001.png is not a readable image"),
    (lambda r: _image(5, (16, 16)).save(r / "test" / "dog" / "0001.png", "PNG"), r"test/dog/0001.png: 16x16 pixels; every image of 'cifar10-jpeg' must be 32x32"),
    (lambda r: (r / "test" / "unicorn").mkdir() or _image(5).save(r / "test" / "unicorn" / "0.png", "PNG"), r"class folder\(s\) unicorn .* valid: airplane, automobile"),
])
def test_bad_files_are_one_line_naming_them(tmp_path, cache, damage, message):
    root = _folder(tmp_path / "set", classes=("cat", "dog"))
    damage(root)
    with pytest.raises(UserInputError, match=message):
        load_dataset("cifar10-jpeg", "test", root)


def test_a_truncated_archive_and_a_missing_folder_are_one_line(tmp_path, cache, monkeypatch):
    monkeypatch.delenv("RBSNN_DATA", raising=False)  # no data root: nothing says where the images are
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 not really")
    with pytest.raises(UserInputError, match=r"x.tar.gz cannot be read as a .tar.gz of images"):
        load_dataset("cifar10-jpeg", "test", tmp_path / "a")
    with pytest.raises(UserInputError, match=r"needs --data-dir"):
        load_dataset("cifar10-jpeg", "test")
    (tmp_path / "b").mkdir()
    with pytest.raises(UserInputError, match=r"expected train/ and test/ class folders \(or one .tar.gz of them\) in .*; found neither"):
        load_dataset("cifar10-jpeg", "test", tmp_path / "b")


@pytest.mark.skipif(not (CIFAR_JPEG / "cifar10-jpeg.tar.gz").is_file(), reason=f"no cifar10-jpeg archive at {CIFAR_JPEG}")
def test_cifar10_jpeg_test_split_is_the_ten_thousand_images_balanced_from_the_first(cache):
    data = load_dataset("cifar10-jpeg", "test", CIFAR_JPEG)
    assert data.x.shape == (10_000, 3, 32, 32) and data.num_classes == len(CIFAR10_CLASSES) == 10
    assert data.y.bincount().tolist() == [1000] * 10 and data.y[:1000].bincount().tolist() == [100] * 10
    assert 0.4 < data.x.mean().item() < 0.55 and data.x.min() >= 0 and data.x.max() <= 1


def test_the_data_root_serves_a_dataset_without_data_dir(tmp_path, cache, monkeypatch):
    root = tmp_path / "data"
    _folder(root / "image-folder")
    monkeypatch.setenv("RBSNN_DATA", str(root))
    assert torch.equal(load_dataset("image-folder", "test").x, load_dataset("image-folder", "test", root / "image-folder").x)
    with pytest.raises(UserInputError, match=r"needs --data-dir, or \$RBSNN_DATA/cifar10-jpeg"):
        load_dataset("cifar10-jpeg", "test")
