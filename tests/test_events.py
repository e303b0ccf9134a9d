"""Event data (simulated event camera, tonic frames), the events threat model and its attacks."""

import numpy as np
import pytest
import torch

from robustbench_snn.data import events as E
from robustbench_snn.attacks import EventBall
from robustbench_snn.attacks.event_flips import random_flip, sparse_flip
from robustbench_snn.cli import main
from robustbench_snn.data.catalog import load_dataset
from robustbench_snn.core.encoders import support
from robustbench_snn.evaluation.harness import AttackConfig, evaluate


@pytest.fixture(scope="module")
def digits_events():
    return load_dataset("digits-events", "test")


@pytest.fixture(scope="module")
def recordings():
    """The events of the first 40 digits test images, as the dataset simulates them."""
    images = load_dataset("digits", "test").x[:40, 0].numpy()
    _, params = E.CAMERAS["digits-events"]
    return E.simulate(images, params, [E._example_rng(params, "test", i) for i in range(40)]), params


def test_events_stay_on_the_sensor_sorted_in_time(recordings):
    evs, params = recordings
    width, height, _ = E.sensor_size(params, (8, 8))
    duration = 3 * params.saccade_ms * 1000
    for ev in evs:
        assert ev.dtype == E.EVENT_DTYPE and len(ev) > 0
        assert ev["x"].min() >= 0 and ev["x"].max() < width and ev["y"].min() >= 0 and ev["y"].max() < height
        assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].min() >= 0 and ev["t"].max() <= duration
        assert set(np.unique(ev["p"])) <= {0, 1}


def test_every_saccade_makes_events_and_polarities_balance(recordings):
    evs, params = recordings
    third = params.saccade_ms * 1000
    per_saccade = np.array([[np.sum((ev["t"] >= k * third) & (ev["t"] < (k + 1) * third)) for k in range(3)] for ev in evs])
    noise = params.noise_hz * 3 * params.saccade_ms / 1000 * 12 * 12 * 2  # expected background events per recording
    assert (per_saccade > 10 * noise / 3).all()  # motion, not noise, makes the events of each saccade
    assert per_saccade.min(1).mean() > 0.5 * per_saccade.max(1).mean()  # no saccade is silent
    on = np.mean([ev["p"].mean() for ev in evs])
    assert 0.4 < on < 0.6  # what moves in also moves out: ON and OFF balance over a closed triangle


def test_simulation_is_per_example(recordings):
    evs, params = recordings
    images = load_dataset("digits", "test").x[:40, 0].numpy()
    alone = E.simulate(images[7:8], params, [E._example_rng(params, "test", 7)])[0]
    assert np.array_equal(alone, evs[7])  # an example's events do not depend on its batch


def test_a_blank_image_gives_only_background_noise():
    _, params = E.CAMERAS["digits-events"]
    (ev,) = E.simulate(np.zeros((1, 8, 8), np.float32), params, [np.random.default_rng(1)])
    expected = params.noise_hz * 3 * params.saccade_ms / 1000 * 12 * 12 * 2
    assert len(ev) < 4 * expected + 5


def test_frames_are_binary_tonic_bins(digits_events):
    x = digits_events.x
    assert x.shape[1:] == (E.EVENT_BINS, 2, 12, 12) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert 0.02 < x.mean() < 0.5


def test_the_filter_drops_isolated_events_and_keeps_supported_ones():
    frames = torch.zeros(2, 1, 2, 6, 6)  # [T, B, 2, H, W]
    frames[1, 0, 0, 0, 0] = 1  # isolated
    frames[0, 0, 1, 3, 3] = 1  # a neighbour one bin earlier ...
    frames[1, 0, 0, 3, 4] = 1  # ... supports this one
    kept = frames * support(frames)
    assert kept[1, 0, 0, 0, 0] == 0 and kept[1, 0, 0, 3, 4] == 1


def test_event_ball_projects_onto_k_binary_flips():
    x = torch.zeros(2, 4, 2, 3, 3)
    ball = EventBall(3)
    x_adv = x.clone()
    x_adv.view(2, -1)[:, :5] = torch.tensor([0.9, 0.2, 0.7, 0.6, 0.8])
    p = ball.project(x_adv, x)
    assert set(p.unique().tolist()) <= {0.0, 1.0} and (ball.distance(p, x) == 3).all()
    assert p.view(2, -1)[0, :5].tolist() == [1, 0, 1, 0, 1]  # the 3 largest changes survive
    with pytest.raises(ValueError):
        EventBall(2.5)


@pytest.fixture(scope="module")
def event_model():
    from robustbench_snn.models.zoo import load_checkpoint

    return load_checkpoint("snn-cnn", "digits-events")[0]


@pytest.mark.parametrize("budget", [0, 5, 20])
def test_event_attacks_change_at_most_k_cells_and_stay_binary(event_model, digits_events, budget):
    data = digits_events.head(32)
    for attack in (sparse_flip, random_flip):
        x_adv = attack(event_model, data.x, data.y, EventBall(budget), steps=budget or 1)
        changed = (x_adv != data.x).flatten(1).sum(1)
        assert changed.max() <= budget and set(x_adv.unique().tolist()) <= {0.0, 1.0} and x_adv.shape == data.x.shape
        if budget == 0:
            assert torch.equal(x_adv, data.x)


def test_gradient_flips_beat_random_flips_at_the_same_budget(event_model, digits_events):
    data = digits_events.head(100)
    cfg = dict(norm="events", eps=20, steps=20)
    greedy = evaluate(event_model, data, AttackConfig("sparse-flip", **cfg), quiet=True).robust_acc
    rand = evaluate(event_model, data, AttackConfig("random-flip", **cfg), quiet=True).robust_acc
    clean = evaluate(event_model, data, AttackConfig("random-flip", **{**cfg, "eps": 0}), quiet=True).robust_acc
    assert greedy <= rand <= clean and greedy < clean - 0.3


@pytest.mark.parametrize("argv, named", [
    (["--dataset", "digits", "--norm", "events"], "event dataset"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "sparse-flip", "--eps", "2.5"], "whole number"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "sparse-flip", "--eps", "1e9"], "at most 2304 events can be flipped"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "sparse-flip", "--eps", "9223372036854775808"], "valid: 0-2304"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "random-flip", "--eps", "1e9"], "valid: 0-2304"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "standard", "--eps", "2305"], "valid: 0-2304"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "pgd"], "sparse-flip"),
    (["--dataset", "digits-events", "--attack", "sparse-flip"], "--norm linf"),
    (["--dataset", "digits-events", "--norm", "events", "--attack", "assg"], "linf"),
])
def test_event_threat_model_errors_are_one_line(tmp_path, capsys, argv, named):
    code = main(["eval", "--model", "snn-cnn", "--n-examples", "4", "--out", str(tmp_path / "o.csv"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rbsnn: error:") and named in err and err.count("\n") == 1
    assert not (tmp_path / "o.csv").exists()


def write_nmnist_bin(path, events):
    """Events ``(x, y, t_us, p)`` in N-MNIST's native 40-bit format (Orchard et al.'s .bin)."""
    raw = bytearray()
    for x, y, t, p in events:
        raw += bytes([x, y, (p << 7) | ((t >> 16) & 127), (t >> 8) & 255, t & 255])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(raw))


def test_recorded_nmnist_is_read_by_tonic_from_data_dir(tmp_path):
    from robustbench_snn.data.events import EVENT_BINS, recorded_files

    for label in (3, 7):
        write_nmnist_bin(tmp_path / "NMNIST" / "Test" / str(label) / "00001.bin",
                         [(label, 5, 1000 * k, k % 2) for k in range(20)] + [(33, 33, 20_000, 1)]
                         + [(label, 5, 1000 * k, k % 2) for k in range(21, 40)])
    assert [lbl for _, lbl in recorded_files("nmnist", tmp_path, "test")] == [3, 7]
    data = load_dataset("nmnist", "test", tmp_path)
    assert data.x.shape == (2, EVENT_BINS, 2, 34, 34) and data.y.tolist() == [3, 7]
    assert data.x[0, :, :, 5, 3].sum() > 0 and data.x[1, :, :, 5, 7].sum() > 0  # events where they were written
    assert data.x[0, :, 1, 33, 33].sum() == 1  # the last event, ON, in the corner


def test_a_truncated_nmnist_recording_is_a_one_line_error(tmp_path, capsys):
    """Seven bytes: one 40-bit event and two bytes of the next."""
    from robustbench_snn.data.events import _recorded_frames

    path = tmp_path / "NMNIST" / "Train" / "3" / "00001.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(7))
    _recorded_frames.cache_clear()
    code = main(["train", "--model", "snn-cnn", "--dataset", "nmnist", "--data-dir", str(tmp_path), "--zoo-dir", str(tmp_path / "zoo"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"rbsnn: error: {path}") and err.count("\n") == 1, err
    assert not (tmp_path / "zoo").exists()


def test_missing_nmnist_files_are_one_line_errors(tmp_path, capsys):
    code = main(["train", "--model", "snn-cnn", "--dataset", "nmnist", "--data-dir", str(tmp_path), "--zoo-dir", str(tmp_path / "zoo"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rbsnn: error:") and "Train/<digit 0-9>/*.bin" in err and err.count("\n") == 1
    assert not (tmp_path / "zoo").exists()


def test_dvs_gesture_is_read_from_tonics_layout(tmp_path):
    from robustbench_snn.data.events import EVENT_BINS

    folder = tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_led"
    folder.mkdir(parents=True)
    t_ms = np.arange(50, dtype=np.float64) * 10
    np.save(folder / "3.npy", np.stack([np.full(50, 100), np.full(50, 7), np.arange(50) % 2, t_ms], 1))
    np.save(folder / "10.npy", np.stack([np.full(50, 5), np.full(50, 120), np.ones(50), t_ms], 1))
    data = load_dataset("dvs-gesture", "test", tmp_path)
    assert data.x.shape == (2, EVENT_BINS, 2, 128, 128) and sorted(data.y.tolist()) == [3, 10] and data.num_classes == 11
    first = data.y.tolist().index(3)
    assert data.x[first, :, :, 7, 100].sum() > 0 and data.x[first].sum() == data.x[first, :, :, 7, 100].sum()
    np.save(folder / "4.npy", np.array([[1.0, 2.0]]))  # not [N, 4]
    from robustbench_snn.data.events import _recorded_frames

    _recorded_frames.cache_clear()
    with pytest.raises(Exception, match=r"\[N, 4\]"):
        load_dataset("dvs-gesture", "test", tmp_path)


@pytest.mark.parametrize("bad, message", [
    (np.stack([np.full(5, -3.0), np.full(5, 7.0), np.ones(5), np.arange(5.0)], 1), "events outside the 128x128 sensor"),  # would wrap
    (np.stack([np.full(5, 3.0), np.full(5, 128.0), np.ones(5), np.arange(5.0)], 1), "events outside the 128x128 sensor"),
    (np.stack([np.full(5, np.nan), np.full(5, 7.0), np.ones(5), np.arange(5.0)], 1), "non-finite values"),
    (np.stack([np.full(5, 65536.0), np.full(5, 7.0), np.ones(5), np.arange(5.0)], 1), "events outside the 128x128 sensor"),  # 16 bits: 0
    (np.stack([np.full(5, 1e10), np.full(5, 7.0), np.ones(5), np.arange(5.0)], 1), "events outside the 128x128 sensor"),
    (np.stack([np.full(5, 3.5), np.full(5, 7.0), np.ones(5), np.arange(5.0)], 1), "not whole numbers"),
    (np.stack([np.full(5, 3.0), np.full(5, 7.0), np.full(5, 7.0), np.arange(5.0)], 1), "polarities other than 0 and 1 ([7.0])"),
    (np.stack([np.full(5, 3.0), np.full(5, 7.0), np.ones(5), -np.arange(1.0, 6.0)], 1), "timestamps outside 0 to 10^12 ms"),
    (None, "is not a DVS128 Gesture recording (EOFError"),
], ids=["negative-x", "y-past-the-edge", "nan", "x-65536", "x-1e10", "x-not-whole", "polarity-7", "negative-time", "empty-file"])
def test_a_gesture_recording_off_the_sensor_is_a_one_line_error(bad, message, tmp_path, capsys):
    from robustbench_snn.data.events import _recorded_frames

    folder = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_led"
    folder.mkdir(parents=True)
    if bad is None:
        (folder / "3.npy").write_bytes(b"")
    else:
        np.save(folder / "3.npy", bad)
    _recorded_frames.cache_clear()
    code = main(["train", "--model", "snn-cnn", "--dataset", "dvs-gesture", "--data-dir", str(tmp_path), "--zoo-dir", str(tmp_path / "zoo"),
                 "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"rbsnn: error: {folder / '3.npy'}") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "zoo").exists()


def write_aedat4(path, t_us, x, y, on, size=(128, 128)):
    """Events in AEDAT 4 (iniVation's DV format, CIFAR10-DVS's release as tonic reads it):
    magic line, the IOHeader flatbuffer (no compression, XML naming one EVTS stream of
    the sensor's size), then one packet: stream id, size, a size-prefixed EventPacket
    flatbuffer of 16-byte Event structs (t int64, x int16, y int16, on bool)."""
    import struct

    import flatbuffers

    desc = ('<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
            '<node name="0" path="/mainloop/Recorder/outInfo/0/"><attr key="compression" type="string">NONE</attr>'
            '<attr key="typeIdentifier" type="string">EVTS</attr><node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
            f'<attr key="sizeX" type="int">{size[0]}</attr><attr key="sizeY" type="int">{size[1]}</attr>'
            '</node></node></node></dv>')
    head = flatbuffers.Builder(256)
    text = head.CreateString(desc)
    head.StartObject(3)
    head.PrependUOffsetTRelativeSlot(2, text, 0)  # Ioheader.description
    head.Finish(head.EndObject(), b"IOHE")
    packet = flatbuffers.Builder(64 + 16 * len(t_us))
    packet.StartVector(16, len(t_us), 8)
    for i in reversed(range(len(t_us))):
        packet.Prep(8, 16)
        packet.Pad(3)
        packet.PrependBool(bool(on[i]))
        packet.PrependInt16(int(y[i]))
        packet.PrependInt16(int(x[i]))
        packet.PrependInt64(int(t_us[i]))
    elements = packet.EndVector()
    packet.StartObject(1)
    packet.PrependUOffsetTRelativeSlot(0, elements, 0)  # EventPacket.elements
    packet.FinishSizePrefixed(packet.EndObject(), b"EVTS")
    head_bytes, packet_bytes = bytes(head.Output()), bytes(packet.Output())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(head_bytes)) + head_bytes
                     + struct.pack("<iI", 0, len(packet_bytes)) + packet_bytes)


def _cifar10_dvs_folder(root, per_class=3, classes=("bird", "truck")):
    """``per_class`` recordings of ``classes``: recording ``k`` of a class puts its events at
    pixel (x=k, y=label) so a test can tell which file went where."""
    from robustbench_snn.data.events import CIFAR10_CLASSES

    for name in classes:
        label = CIFAR10_CLASSES.index(name)
        for k in range(per_class):
            n = 30
            write_aedat4(root / "CIFAR10DVS" / name / f"cifar10_{name}_{k}.aedat4", 10**6 + np.arange(n) * 1000,
                         np.full(n, k), np.full(n, label), np.arange(n) % 2)


def test_cifar10_dvs_is_read_from_aedat4_files_split_per_class(tmp_path):
    from robustbench_snn.data.events import EVENT_BINS, recorded_files

    _cifar10_dvs_folder(tmp_path, per_class=11)
    train, test = (recorded_files("cifar10-dvs", tmp_path, split) for split in ("train", "test"))
    # per class the first 90% in index order (9 of 11) train, the rest test, 10 after 9 (natural order)
    assert [(p.name, lbl) for p, lbl in test] == [("cifar10_bird_9.aedat4", 2), ("cifar10_bird_10.aedat4", 2),
                                                  ("cifar10_truck_9.aedat4", 9), ("cifar10_truck_10.aedat4", 9)]
    assert len(train) == 18 and not {p for p, _ in train} & {p for p, _ in test}
    data = load_dataset("cifar10-dvs", "test", tmp_path)
    assert data.x.shape == (4, EVENT_BINS, 2, 128, 128) and data.y.tolist() == [2, 2, 9, 9] and data.num_classes == 10
    for i, (k, label) in enumerate([(9, 2), (10, 2), (9, 9), (10, 9)]):
        assert data.x[i].sum() == data.x[i, :, :, label, k].sum() > 0  # every event where its file put it
        assert data.x[i, :, 0].sum() > 0 and data.x[i, :, 1].sum() > 0  # both polarities


def test_damaged_cifar10_dvs_file_is_a_one_line_error(tmp_path, capsys):
    _cifar10_dvs_folder(tmp_path)
    bad = tmp_path / "CIFAR10DVS" / "bird" / "cifar10_bird_0.aedat4"  # a train file of class bird
    bad.write_bytes(bad.read_bytes()[:100])
    code = main(["train", "--model", "snn-cnn", "--dataset", "cifar10-dvs", "--data-dir", str(tmp_path),
                 "--zoo-dir", str(tmp_path / "zoo"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("rbsnn: error:") and "cifar10_bird_0.aedat4" in err and "CIFAR10-DVS" in err
    assert err.count("\n") == 1 and not (tmp_path / "zoo").exists()


def test_missing_cifar10_dvs_names_the_class_folders(tmp_path, capsys):
    code = main(["train", "--model", "snn-cnn", "--dataset", "cifar10-dvs", "--data-dir", str(tmp_path),
                 "--zoo-dir", str(tmp_path / "zoo"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "<class>/*.aedat4" in err and err.count("\n") == 1 and not (tmp_path / "zoo").exists()


#: The event track of the zoo: the undefended CNN, adversarial training in frame space and
#: the event-specific filter, on the embedded and on the MNIST-simulated recordings.
EVENT_ZOO = ("snn-cnn", "at-snn", "denoise-snn")


@pytest.mark.artifacts
@pytest.mark.parametrize("dataset", ["digits-events", "mnist-events"])
def test_event_zoo_has_its_models_with_rows_in_both_threat_models(dataset):
    """Every event model has a card trained on ``dataset`` and committed rows: ``standard`` in
    frame space (Linf 8/255) and under the events budget, and the random-flip baseline at the
    same K, which never beats the gradient attack (the README's "Event data" table)."""
    from robustbench_snn.results.leaderboard import committed_path, read
    from robustbench_snn.models.zoo import read_card

    frames, flips = read(committed_path(dataset, "linf")), read(committed_path(dataset, "events"))
    for model in EVENT_ZOO:
        card = read_card(model, dataset)
        assert card["dataset"] == dataset and card["encoder"].startswith("events"), model
        frame_row = frames[(frames.model == model) & (frames.attack == "standard") & ((frames.eps - 8 / 255).abs() < 1e-6)]
        assert len(frame_row) == 1, f"{dataset} {model}: no frame-space standard row"
        mine = flips[flips.model == model].set_index("attack")
        assert {"standard", "random-flip"} <= set(mine.index), f"{dataset} {model}: missing an events row"
        assert mine.loc["standard", "eps"] == mine.loc["random-flip", "eps"]
        assert mine.loc["standard", "robust_acc"] <= mine.loc["random-flip", "robust_acc"]
