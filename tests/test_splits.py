from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from exposure_core.manifest import ManifestError
from exposure_core.splits import (
    SplitError,
    assign_splits,
    check_fractions,
    hash_split,
    official_scene_splits,
    scene_unit,
)

DEFAULT = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_check_fractions_accepts_rounding_and_rejects_bad_sums():
    assert check_fractions({"train": 0.7, "val": 0.2, "test": 0.1})["val"] == 0.2
    assert check_fractions({"train": 0.8, "val": 0.1, "test": 0.1 + 5e-7})["test"] > 0.1
    with pytest.raises(SplitError, match="sum to 1"):
        check_fractions({"train": 0.8, "val": 0.1, "test": 0.2})
    with pytest.raises(SplitError, match=r"shard\.split\.val"):
        check_fractions({"train": 1.0, "val": -0.1, "test": 0.1})
    with pytest.raises(SplitError, match="expected keys"):
        check_fractions({"train": 1.0})


def test_scene_unit_hand_value():
    digest = hashlib.sha256(b"split:demo-astronaut").digest()
    assert scene_unit("demo-astronaut") == int.from_bytes(digest[:8], "big") / 2**64
    assert scene_unit("demo-astronaut") == pytest.approx(0.08883269749293965, abs=1e-15)
    assert hash_split("demo-astronaut", DEFAULT) == "train"
    assert hash_split("scene-0", DEFAULT) == "val"  # unit 0.8526


def test_hash_split_follows_fractions():
    counts = Counter(hash_split(f"scene-{k}", DEFAULT) for k in range(4000))
    assert counts["train"] / 4000 == pytest.approx(0.8, abs=0.03)
    assert counts["val"] / 4000 == pytest.approx(0.1, abs=0.02)
    assert counts["test"] / 4000 == pytest.approx(0.1, abs=0.02)


def test_zero_fraction_never_chosen_even_with_rounding_slack():
    fractions = {"train": 0.7, "val": 0.3 - 5e-7, "test": 0.0}
    splits = {hash_split(f"s{k}", fractions) for k in range(3000)}
    assert splits == {"train", "val"}


def test_adding_scenes_never_moves_an_existing_one():
    first = [(f"scene-{k}", None) for k in range(200)]
    more = [(f"other-{k}", None) for k in range(300)]
    before = assign_splits(first, DEFAULT)
    after = assign_splits(more + first, DEFAULT)
    assert all(after[scene] == split for scene, split in before.items())


def test_official_split_wins_and_is_normalised():
    rows = [("a", "validation"), ("a", "validation"), ("b", "eval15"), ("c", None)]
    assigned = assign_splits(rows, {"train": 1.0, "val": 0.0, "test": 0.0})
    assert assigned == {"a": "val", "b": "test", "c": "train"}


def test_disagreeing_rows_name_the_scene():
    with pytest.raises(SplitError, match="'sc-7'"):
        official_scene_splits([("sc-7", "train"), ("sc-7", "test")])
    with pytest.raises(SplitError, match="none, train"):
        official_scene_splits([("sc-8", "train"), ("sc-8", None)])
    with pytest.raises(ManifestError, match="unknown split"):
        official_scene_splits([("sc-9", "holdout")])
