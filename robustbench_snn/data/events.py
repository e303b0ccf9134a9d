"""Event-camera data: ``digits-events`` and ``mnist-events``, simulated from the
images as N-MNIST was recorded from MNIST, binned into frames by tonic.

N-MNIST (Orchard et al., "Converting static image datasets to spiking
neuromorphic datasets using saccades", Front. Neurosci. 2015) was recorded by
an ATIS sensor that made three saccades (a triangle of small motions, about
100 ms each) in front of each MNIST digit shown on a monitor, giving 34x34
sensor images for 28x28 digits. Nothing can be downloaded here, so this module
*simulates* that recording, deterministically (one seeded generator per
example), with the dynamic-vision-sensor model of the ESIM / v2e simulators
(Rebecq et al., CoRL 2018; Hu et al., CVPRW 2021):

* **motion** -- the digit, bilinearly interpolated, moves along the saccade
  triangle ``SACCADE`` (pixels, relative to the centred position), each
  saccade ``steps`` time steps of ``saccade_ms`` in all;
* **log intensity** -- each pixel sees ``L = log(I + log_eps)``;
* **contrast threshold** -- a pixel emits an ON (OFF) event each time ``L``
  rose (fell) by its threshold ``C_p = threshold * (1 + mismatch * n_p)``
  (``n_p`` standard normal, fixed per pixel and example) since its last
  event, its reference level then moving by ``C_p``;
* **refractory period** -- at most ``step / refractory_ms`` events per pixel
  per step, spread over the step;
* **background activity** -- noise events at ``noise_hz`` per pixel and
  polarity, uniform in time, random polarity (Poisson).

Events are tonic's structured arrays (``x, y, t, p``; ``t`` in microseconds)
with its ``sensor_size`` ``(W, H, 2)``; :func:`to_frames` bins them with
``tonic.transforms.ToFrame(n_time_bins=EVENT_BINS)`` and binarizes (a cell is 1
when at least one event of that polarity fell there in that bin), so an
example is ``x: [T, 2, H, W]`` in {0, 1}, fed to the same SNN bodies by the
``events`` encoder (:class:`~robustbench_snn.core.encoders.EventEncoder`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tonic
import torch
import torch.nn.functional as F
from numpy.lib import recfunctions
from tonic.datasets import DVSGesture
from tonic.io import read_aedat4, read_mnist_file

from ..core.errors import UserInputError
from .dataset import DataNotFoundError, Dataset, require_dir, resolve_folder
from .frame_cache import array_digest, cached_frames, files_digest
from .image_folder import CIFAR10_CLASSES
from .images import IMAGE_LOADERS

#: Frames per example (the model's time steps on event data).
EVENT_BINS = 8
#: tonic's event dtype.
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
#: The saccade triangle's vertices in units of the amplitude (dx, dy); N-MNIST's order.
SACCADE = ((0.0, 0.0), (1.0, 1.0), (-1.0, 1.0))


@dataclass(frozen=True)
class CameraParams:
    """The simulated sensor and recording (see the module docstring)."""
    margin: int  # sensor = image + 2 * margin on each axis (N-MNIST: 3, 28 -> 34)
    amplitude: float  # saccade size in pixels
    steps: int = 40  # time steps per saccade
    saccade_ms: float = 100.0  # duration of one saccade
    threshold: float = 0.25  # contrast threshold C (log-intensity units)
    mismatch: float = 0.05  # relative per-pixel spread of C
    refractory_ms: float = 1.0
    noise_hz: float = 0.5  # background events per pixel and polarity per second
    log_eps: float = 0.1
    seed: int = 0


#: The two embedded-style datasets: their source images and their sensor.
CAMERAS = {
    "digits-events": ("digits", CameraParams(margin=2, amplitude=1.0)),
    "mnist-events": ("mnist", CameraParams(margin=3, amplitude=2.0)),
}


def _example_rng(params: CameraParams, split: str, index: int) -> np.random.Generator:
    """One generator per (seed, split, example): an example's events never depend on the others."""
    return np.random.default_rng([params.seed, 0 if split == "train" else 1, index])


def saccade_offsets(params: CameraParams) -> np.ndarray:
    """``[3 * steps, 2]`` (dx, dy) of the image in pixels at each time step."""
    verts = np.asarray(SACCADE + SACCADE[:1]) * params.amplitude
    frac = (np.arange(params.steps) + 1) / params.steps
    return np.concatenate([a + frac[:, None] * (b - a) for a, b in zip(verts[:-1], verts[1:])])


def _render(images: np.ndarray, params: CameraParams) -> np.ndarray:
    """``[N, S, H', W']``: each image ``[H, W]`` on the sensor at every time step, bilinearly shifted."""

    n, h, w = images.shape
    m = params.margin
    canvas = torch.zeros(n, h + 2 * m, w + 2 * m)
    canvas[:, m:m + h, m:m + w] = torch.from_numpy(np.asarray(images, np.float32))
    offsets = torch.from_numpy(saccade_offsets(params)).float()  # [S, 2]
    steps, (hh, ww) = len(offsets), canvas.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(hh, dtype=torch.float32), torch.arange(ww, dtype=torch.float32), indexing="ij")
    # pixel (y, x) at offset (dx, dy) shows the canvas at (x - dx, y - dy); grid_sample wants [-1, 1]
    gx = (xs[None] - offsets[:, 0, None, None]) / (ww - 1) * 2 - 1
    gy = (ys[None] - offsets[:, 1, None, None]) / (hh - 1) * 2 - 1
    grid = torch.stack([gx, gy], -1).repeat(n, 1, 1, 1)  # [N * S, H', W', 2]
    src = canvas[:, None, None].expand(n, steps, 1, hh, ww).reshape(n * steps, 1, hh, ww)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.view(n, steps, hh, ww).numpy()


def simulate(images: np.ndarray, params: CameraParams, rngs: list[np.random.Generator]) -> list[np.ndarray]:
    """The events of each image ``[H, W]`` in [0, 1] of ``images [N, H, W]``: structured
    arrays sorted by ``t``. Example ``i`` draws only from ``rngs[i]``, in a fixed order,
    so its events do not depend on the batch it is simulated in."""
    log_i = np.log(_render(images, params) + params.log_eps)  # [N, S, H', W']
    n, n_steps, hh, ww = log_i.shape
    dt_us = params.saccade_ms * 1000.0 / params.steps
    per_step = max(1, int(dt_us // (params.refractory_ms * 1000.0)))
    c = np.stack([params.threshold * (1 + params.mismatch * rng.standard_normal((hh, ww))) for rng in rngs])
    jitter = np.stack([rng.uniform(0.0, 1.0, (n_steps - 1, per_step, hh, ww)).astype(np.float32) for rng in rngs])
    ref = log_i[:, 0].copy()
    found = []  # (example, y, x, t, polarity) per step and event slot
    for k in range(1, n_steps):
        delta = log_i[:, k] - ref
        count = np.minimum(np.floor(np.abs(delta) / c), per_step).astype(np.int64)
        if not count.any():
            continue
        sign = np.sign(delta)
        ref = ref + sign * count * c
        for j in range(int(count.max())):
            e, y, x = np.nonzero(count > j)
            t = (k - 1) * dt_us + (j + jitter[e, k - 1, j, y, x]) * dt_us / count[e, y, x]
            found.append((e, y, x, t, sign[e, y, x] > 0))
    duration = n_steps * dt_us
    result = []
    for i, rng in enumerate(rngs):
        mine = [(y[e == i], x[e == i], t[e == i], p[e == i]) for e, y, x, t, p in found]
        n_noise = rng.poisson(params.noise_hz * duration * 1e-6 * hh * ww * 2)
        mine.append((rng.integers(0, hh, n_noise), rng.integers(0, ww, n_noise), rng.uniform(0, duration, n_noise),
                     rng.integers(0, 2, n_noise).astype(bool)))
        events = np.zeros(sum(len(part[0]) for part in mine), EVENT_DTYPE)
        for field_name, column in zip("yxtp", zip(*mine)):
            events[field_name] = np.concatenate(column)
        result.append(events[np.argsort(events["t"], kind="stable")])
    return result


def sensor_size(params: CameraParams, image_shape: tuple[int, int]) -> tuple[int, int, int]:
    """tonic's ``(W, H, polarities)``."""
    h, w = image_shape
    return (w + 2 * params.margin, h + 2 * params.margin, 2)


def to_frames(events: np.ndarray, size: tuple[int, int, int], bins: int = EVENT_BINS) -> np.ndarray:
    """``[bins, 2, H, W]`` float32 in {0, 1}: tonic's ``ToFrame`` over the whole recording, binarized."""

    if len(events) == 0:
        return np.zeros((bins, 2, size[1], size[0]), np.float32)
    counts = tonic.transforms.ToFrame(sensor_size=size, n_time_bins=bins)(events)
    return (counts > 0).astype(np.float32)


#: Images simulated together (memory: about 2 MB per MNIST image).
SIM_BATCH = 100


@functools.lru_cache(maxsize=4)
def _frames(name: str, split: str, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    source, params = CAMERAS[name]
    images = IMAGE_LOADERS[source](split, resolve_folder(source, data_dir))

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        size = sensor_size(params, images.in_shape[1:])
        frames = []
        for lo in range(0, len(images), SIM_BATCH):
            batch = images.x[lo:lo + SIM_BATCH, 0].numpy()
            rngs = [_example_rng(params, split, lo + i) for i in range(len(batch))]
            frames += [to_frames(events, size) for events in simulate(batch, params, rngs)]
        return torch.from_numpy(np.stack(frames)), images.y

    parts = {"camera": asdict(params), "bins": EVENT_BINS, "source": array_digest(images.x, images.y)}
    return cached_frames(name, split, parts, make)


def load_events(name: str, split: str, data_dir: Path | None):
    """The :class:`~robustbench_snn.data.dataset.Dataset` of ``name`` (``x: [N, T, 2, H, W]``)."""
    x, y = _frames(name, split, str(data_dir) if data_dir is not None else None)
    return Dataset(name, split, x, y, 10)


def off_sensor(events: np.ndarray, sensor: tuple[int, ...]) -> str | None:
    """Why ``events`` (:data:`EVENT_DTYPE`) do not fit a ``sensor`` of (width, height, 2)
    polarities, or None. Checked before binning: tonic's ``ToFrame`` indexes with the
    coordinates, so a negative one would wrap to the far edge instead of failing."""
    if not len(events):
        return None
    width, height = sensor[0], sensor[1]
    if events["x"].min() < 0 or events["y"].min() < 0 or events["x"].max() >= width or events["y"].max() >= height:
        return f"events outside the {width}x{height} sensor"
    if not np.isin(events["p"], (0, 1)).all():
        return f"polarities other than 0 and 1 ({sorted(set(np.unique(events['p']).tolist()) - {0, 1})[:3]})"
    if events["t"].min() < 0:
        return "negative timestamps"
    return None


def _read_nmnist(path: Path) -> np.ndarray:
    """One N-MNIST recording (40-bit events) by tonic's reader."""
    return read_mnist_file(str(path), dtype=EVENT_DTYPE)


def _read_gesture(path: Path) -> np.ndarray:
    """One DVS128 Gesture recording as tonic's ``DVSGesture.__getitem__`` reads it (an ``[N, 4]``
    array of x, y, polarity, ms; ms -> us; tonic's dtype), with ``allow_pickle=False``."""
    raw = np.load(path, allow_pickle=False)
    if raw.ndim != 2 or raw.shape[1] != 4:
        raise ValueError(f"an array of shape {list(raw.shape)}, not [N, 4] (x, y, p, t ms)")
    raw = raw.astype(np.float64)
    if not np.isfinite(raw).all():
        raise ValueError("non-finite values")
    # checked here, before the cast to tonic's dtype: its 16-bit x, y and boolean polarity would
    # wrap 65,536 to 0 and read 7 as 1, and an off-sensor event would pass as an on-sensor one
    x, y, p, t = raw.T
    if ((x != np.round(x)) | (y != np.round(y)) | (x < 0) | (y < 0) | (x >= 128) | (y >= 128)).any():
        raise ValueError("events outside the 128x128 sensor (or at coordinates that are not whole numbers)")
    if not np.isin(p, (0, 1)).all():
        raise ValueError(f"polarities other than 0 and 1 ({sorted(set(np.unique(p).tolist()) - {0, 1})[:3]})")
    if (t < 0).any() or (t > 1e12).any():
        raise ValueError("timestamps outside 0 to 10^12 ms")
    raw[:, 3] *= 1000
    return recfunctions.unstructured_to_structured(raw, DVSGesture.dtype)


def _read_aedat4(path: Path) -> np.ndarray:
    """One CIFAR10-DVS recording (AEDAT 4) by tonic's ``read_aedat4`` (the ``aedat``
    decoder), as tonic's ``CIFAR10DVS.__getitem__`` reads it, in our dtype. The Rust
    decoder reports a damaged file as a bare ``RuntimeError`` and tonic an empty one as
    ``Exception``: both become the ``ValueError`` of a file that is not a recording."""
    try:
        raw = read_aedat4(str(path))
    except Exception as e:  # noqa: BLE001 - see the docstring
        raise ValueError(str(e)) from None
    events = np.zeros(len(raw), EVENT_DTYPE)
    for ours, theirs in zip("txyp", raw.dtype.names):
        events[ours] = raw[theirs]
    return events


def _natural(path: Path) -> tuple:
    """Sort key with numbers compared as numbers (``x_2`` before ``x_10``)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def split_per_class(files: list[tuple[Path, int]], split: str, train_fraction: float) -> list[tuple[Path, int]]:
    """``split``'s share of each class: its first ``train_fraction`` (rounded down, at least
    one file left for test when the class has two or more) in natural order, or the rest."""
    chosen = []
    for label in sorted({lbl for _, lbl in files}):
        mine = sorted((p for p, lbl in files if lbl == label), key=_natural)
        n_train = min(int(len(mine) * train_fraction), max(len(mine) - 1, 1))
        chosen += [(p, label) for p in (mine[:n_train] if split == "train" else mine[n_train:])]
    return chosen


@dataclass(frozen=True)
class Recorded:
    """A recorded event dataset, read from ``--data-dir`` file by file with tonic's reader
    for its format. tonic's dataset classes are not used: they download whenever a folder
    holds fewer than all the files, and a partial folder must be an error, not a download."""
    title: str
    parent: str  # tonic's folder for the dataset (its ``location_on_system``)
    folders: tuple[str, str] | None  # train, test; None: one folder, split by split_per_class
    pattern: str  # recordings under a split folder
    layout: str  # the expected files, for the error
    sensor: tuple[int, int, int]
    classes: int
    read: Callable[[Path], np.ndarray]
    label: Callable[[Path], int | None]  # the label in the file's path; None: not a recording
    train_fraction: float | None = None  # with folders None: split_per_class's share for train


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


RECORDED = {
    "nmnist": Recorded("N-MNIST", "NMNIST", ("Train", "Test"), "[0-9]/*.bin", "<digit 0-9>/*.bin (train.zip / test.zip extracted)",
                       (34, 34, 2), 10, _read_nmnist, lambda p: _number(p.parent.name)),
    "dvs-gesture": Recorded("DVS128 Gesture", "DVSGesture", ("ibmGestureTrain", "ibmGestureTest"), "user*_*/*.npy",
                            "user<NN>_<lighting>/<label>.npy (tonic's preprocessed layout)", (128, 128, 2), 11, _read_gesture,
                            lambda p: _number(p.stem)),
    "cifar10-dvs": Recorded("CIFAR10-DVS", "CIFAR10DVS", None, "*/*.aedat4",
                            "<class>/*.aedat4 (airplane.zip ... truck.zip extracted; tonic's AEDAT 4 release)", (128, 128, 2), 10,
                            _read_aedat4, lambda p: CIFAR10_CLASSES.index(p.parent.name) if p.parent.name in CIFAR10_CLASSES else None,
                            # no official split: per class, the first 90% in index order train, the rest test
                            # (900 / 100 of 1,000), as SpikingJelly's split_to_train_test_set(0.9, ...) and the
                            # SNN papers that follow Fang et al. (ICCV 2021) do
                            train_fraction=0.9),
}
#: Every dataset whose examples are event frames (the ones ``--norm events`` takes).
EVENT_DATASETS = (*CAMERAS, *RECORDED)


def require_event_data(threat_model: str, dataset: str, is_event_data: bool, flag: str = "--norm") -> None:
    """Refuse the events threat model on a dataset of images (``flag``: how the threat
    model was given, named in the message)."""
    if threat_model == "events" and not is_event_data:
        raise UserInputError(f"{flag} events needs an event dataset ({', '.join(EVENT_DATASETS)}); {dataset!r} holds images")


def recorded_files(name: str, root: Path, split: str) -> list[tuple[Path, int]]:
    """``(file, label)`` of every recording of ``split`` under ``root`` or ``root/<parent>``."""
    spec = RECORDED[name]
    folder = "" if spec.folders is None else spec.folders[0 if split == "train" else 1]
    for base in (root / spec.parent / folder, root / folder):
        files = sorted((p, label) for p in base.glob(spec.pattern) if (label := spec.label(p)) is not None)
        if files and spec.train_fraction is not None:
            files = split_per_class(files, split, spec.train_fraction)
            if not files:
                raise DataNotFoundError(f"dataset {name!r}: every class in {base} has one recording, so none is left for "
                                        f"{split!r} (the first {spec.train_fraction:.0%} of each class train, the rest test)")
        if files:
            return files
    where = f"{folder}/{spec.layout}" if folder else spec.layout
    raise DataNotFoundError(f"dataset {name!r}: expected {where} in {root} or {root / spec.parent}; nothing is downloaded")


@functools.lru_cache(maxsize=2)
def _recorded_frames(name: str, split: str, data_dir: str) -> tuple[torch.Tensor, torch.Tensor]:
    spec = RECORDED[name]
    files = recorded_files(name, Path(data_dir), split)

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        frames, labels = [], []
        for path, label in files:
            try:
                events = spec.read(path)
            except (OSError, ValueError, EOFError, IndexError) as e:  # EOFError: an empty .npy; IndexError: a truncated event
                raise UserInputError(f"{path} is not a {spec.title} recording ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'truncated'})") from None
            if not 0 <= label < spec.classes:
                raise UserInputError(f"{path}: label {label} outside the {spec.classes} classes of {spec.title}")
            why = off_sensor(events, spec.sensor)
            if why:
                raise UserInputError(f"{path}: {why} of {spec.title}")
            frames.append(to_frames(events, spec.sensor))
            labels.append(label)
        return torch.from_numpy(np.stack(frames)), torch.tensor(labels)

    parts = {"bins": EVENT_BINS, "files": files_digest(Path(data_dir), [p for p, _ in files]),
             "labels": [label for _, label in files]}
    return cached_frames(name, split, parts, make)


def load_recorded(name: str, split: str, data_dir: Path | None):
    """A recorded event dataset from ``data_dir`` (never downloaded): ``x [N, T, 2, H, W]``, binned as the simulated sets."""
    spec = RECORDED[name]
    folders = f"{' and '.join(spec.folders)} folders" if spec.folders else f"class folders ({spec.layout})"
    root = require_dir(name, data_dir, f"{spec.title}'s {folders}")
    x, y = _recorded_frames(name, split, str(root))
    return Dataset(name, split, x, y, spec.classes)


def load_event_dataset(name: str, split: str, data_dir: Path | None):
    """Any event dataset: simulated (:data:`CAMERAS`) or recorded (:data:`RECORDED`)."""
    return load_events(name, split, data_dir) if name in CAMERAS else load_recorded(name, split, data_dir)
