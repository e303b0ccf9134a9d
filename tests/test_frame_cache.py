"""The event-frame disk cache: a hit gives the frames made, without making them again;
anything else (another key, a damaged file, no cache) makes them."""

from __future__ import annotations

import pytest
import torch

from robustbench_snn.data import frame_cache
from robustbench_snn.data.frame_cache import cached_frames


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RBSNN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "events"


def frames(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(5, 3, 2, 4, 7, generator=g) < 0.3).float(), torch.arange(5)


class Maker:
    """Counts calls: the cache must call it once per key."""

    def __init__(self, seed=0):
        self.calls, self.seed = 0, seed

    def __call__(self):
        self.calls += 1
        return frames(self.seed)


def test_a_hit_returns_the_same_frames_without_making_them(cache):
    make = Maker()
    first = cached_frames("set", "test", {"a": 1}, make)
    second = cached_frames("set", "test", {"a": 1}, make)
    assert make.calls == 1 and len(list(cache.glob("*.safetensors"))) == 1
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1]) and second[0].dtype == torch.float32
    # bit-packed: 5*3*2*4*7 = 840 cells in 105 bytes, far below float32's 3,360
    assert next(cache.glob("*.safetensors")).stat().st_size < 3360


def test_another_key_or_split_makes_them_again(cache):
    make = Maker()
    for parts, split in (({"a": 1}, "test"), ({"a": 2}, "test"), ({"a": 1}, "train")):
        cached_frames("set", split, parts, make)
    assert make.calls == 3


def test_a_damaged_file_is_ignored_and_rewritten(cache):
    make = Maker()
    cached_frames("set", "test", {"a": 1}, make)
    path = next(cache.glob("*.safetensors"))
    for damage in (path.read_bytes()[:40], b"", b"\x00" * 64):
        path.write_bytes(damage)
        got = cached_frames("set", "test", {"a": 1}, make)
        assert torch.equal(got[0], frames()[0])
    assert make.calls == 4 and cached_frames("set", "test", {"a": 1}, make) and make.calls == 4  # the last rewrite is read


def test_a_file_of_another_key_under_this_name_is_not_used(cache):
    cached_frames("set", "test", {"a": 1}, Maker(seed=0))
    path = next(cache.glob("*.safetensors"))
    stranger = frame_cache._path(frame_cache.FRAMES, "set", "test", frame_cache.cache_key({"name": "set", "split": "test", "a": 2}))
    path.rename(stranger)  # frames of key a=1 under the file name of key a=2
    make = Maker(seed=1)
    got = cached_frames("set", "test", {"a": 2}, make)
    assert make.calls == 1 and torch.equal(got[0], frames(1)[0])


def test_off_writes_nothing_and_an_unwritable_folder_only_warns(tmp_path, monkeypatch):
    monkeypatch.setenv("RBSNN_CACHE", "off")
    make = Maker()
    cached_frames("set", "test", {}, make)
    cached_frames("set", "test", {}, make)
    assert make.calls == 2 and not any(tmp_path.iterdir())
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RBSNN_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="RBSNN_CACHE"):
        got = cached_frames("set", "test", {}, make)
    assert torch.equal(got[0], frames()[0])


def test_frames_that_are_not_binary_are_refused(cache):
    with pytest.raises(ValueError, match="binary"):
        cached_frames("set", "test", {}, lambda: (torch.full((1, 1, 2, 2, 2), 0.5), torch.zeros(1, dtype=torch.long)))


def test_simulated_event_frames_are_cached_and_equal_to_a_fresh_simulation(cache, monkeypatch):
    from robustbench_snn.data.events import _frames

    _frames.cache_clear()
    made = _frames("digits-events", "test", None)
    assert len(list(cache.glob("digits-events-test-*.safetensors"))) == 1
    _frames.cache_clear()
    monkeypatch.setattr("robustbench_snn.data.events.simulate", lambda *a, **k: pytest.fail("simulated again"))
    read = _frames("digits-events", "test", None)
    assert torch.equal(made[0], read[0]) and torch.equal(made[1], read[1])
    _frames.cache_clear()
