from __future__ import annotations

import dataclasses
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exposure_core import imageio, shardfmt, shardwrite
from exposure_core.errors import StrictError
from exposure_core.fsutil import sha256_file
from exposure_core.manifest import PairRow, write_jsonl
from exposure_core.schema import ConfigError
from exposure_core.splits import SplitError
from pipeline.params import Params, SplitFractions, load_params
from pipeline.stages import shard


def _params(split=(0.6, 0.2, 0.2), **kw) -> Params:
    base = load_params(None)
    return dataclasses.replace(
        base, shard=dataclasses.replace(base.shard, split=SplitFractions(*split), **kw)
    )


def _image(path: Path, seed: int, size=(12, 16)) -> None:
    rng = np.random.default_rng(seed)
    imageio.write_image(path, rng.random((*size, 3), dtype=np.float32))


def _rows(pairs: Path, scenes: list[tuple[str, str | None]], variants: int = 3) -> list[PairRow]:
    """Each scene: one target and ``variants`` inputs (tiny PNGs) in pairs/<scene>/."""
    rows = []
    for k, (scene, split) in enumerate(scenes):
        (pairs / scene).mkdir(parents=True, exist_ok=True)
        _image(pairs / scene / "target.png", 1000 + k)
        for v in range(variants):
            _image(pairs / scene / f"v{v}.png", 10 * k + v)
            rows.append(
                PairRow(
                    id=f"{scene}--v{v}",
                    scene=scene,
                    source="msec" if split else "folder",
                    split=split,
                    input=f"{scene}/v{v}.png",
                    target=f"{scene}/target.png",
                    kind="overexpose" if v % 2 else "ev",
                    tau=0.7 if v % 2 else None,
                    ev=None if v % 2 else float(v),
                    gamma=2.2,
                    width=16,
                    height=12,
                )
            )
    return rows


def _manifest(pairs: Path, rows: list[PairRow]) -> Path:
    write_jsonl(pairs / "manifest.jsonl", rows)
    return pairs / "manifest.jsonl"


MIXED = [(f"h{k:02d}", None) for k in range(24)] + [
    ("o-train", "training"),
    ("o-val", "validation"),
    ("o-test", "testing"),
    ("o-train2", "our485"),
]


def _samples(out: Path) -> dict[str, dict]:
    """key -> the photo sample's json, plus its tar and member names, read back from the tars."""
    found: dict[str, dict] = {}
    for tar_path in sorted(out.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                key, suffix = member.name.split(".", 1)
                entry = found.setdefault(key, {"members": [], "tar": tar_path.name})
                entry["members"].append(suffix)
                if suffix == shardfmt.META_MEMBER:
                    entry |= json.loads(tar.extractfile(member).read())
    return found


def test_shards_are_byte_identical_on_rerun(tmp_path):
    manifest = _manifest(tmp_path / "pairs", _rows(tmp_path / "pairs", MIXED))
    params = _params(max_samples=10)
    shard.run(params, manifest, tmp_path / "a")
    shard.run(params, manifest.parent, tmp_path / "b")  # the folder works too
    names = sorted(p.name for p in (tmp_path / "a").glob("*.tar"))
    assert len(names) > 3
    assert names == sorted(p.name for p in (tmp_path / "b").glob("*.tar"))
    for name in [*names, "index.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with tarfile.open(tmp_path / "a" / names[0]) as tar:
        member = tar.getmembers()[0]
    assert (member.mtime, member.uid, member.uname, member.mode) == (0, 0, "", 0o444)


def test_scenes_never_cross_splits_and_official_splits_win(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED)
    shard.run(_params(), _manifest(tmp_path / "pairs", rows), tmp_path / "out")
    samples = _samples(tmp_path / "out")
    assert len(samples) == len(MIXED)  # one sample per photo (target)
    by_scene: dict[str, set[str]] = {}
    for sample in samples.values():
        by_scene.setdefault(sample["scene"], set()).add(sample["split"])
        assert sample["tar"].startswith(sample["split"] + "-")
        # these rows are not recipes: their inputs are stored beside the one target
        assert sorted(sample["members"]) == [
            "in0.png", "in1.png", "in2.png", "shard-format-2.json", "target.png"
        ]  # fmt: skip
    assert all(len(splits) == 1 for splits in by_scene.values())
    assert by_scene["o-train"] == by_scene["o-train2"] == {"train"}
    assert by_scene["o-val"] == {"val"} and by_scene["o-test"] == {"test"}
    hashed = Counter(next(iter(by_scene[s])) for s, split in MIXED if split is None)
    assert set(hashed) == {"train", "val", "test"}  # 24 scenes at 0.6/0.2/0.2


def test_sample_bytes_and_json_are_the_manifest_rows(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED[:6])
    shard.run(_params(split=(1, 0, 0)), _manifest(tmp_path / "pairs", rows), tmp_path / "out")
    row = rows[4]  # h01--v1: the photo h01's second variant
    with tarfile.open(tmp_path / "out" / "train-000000.tar") as tar:
        data = tar.extractfile("h01.in1.png").read()
        target = tar.extractfile("h01.target.png").read()
        meta = json.loads(tar.extractfile("h01.shard-format-2.json").read())
    assert data == (tmp_path / "pairs" / row.input).read_bytes()
    source = imageio.read_codes(tmp_path / "pairs" / row.target)
    assert target == imageio.encode_png_fast_decode(source)  # re-encoded to decode fast
    assert np.array_equal(imageio.decode_codes(target).array, source.array)
    assert meta["format"] == shardfmt.FORMAT_VERSION
    assert (meta["key"], meta["scene"], meta["split"], meta["split_from"]) == (
        "h01", "h01", "train", "hash",
    )  # fmt: skip
    assert (meta["width"], meta["height"]) == (16, 12)
    assert meta["variants"][1] == {
        "id": row.id, "kind": row.kind, "tau": row.tau, "ev": row.ev, "gamma": row.gamma,
        "curve": "gamma", "input": "in1.png",
    }  # fmt: skip
    assert [v["id"] for v in meta["variants"]] == [r.id for r in rows[3:6]]


def test_index_counts_match_the_tars(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED)
    manifest = _manifest(tmp_path / "pairs", rows)
    shard.run(_params(max_samples=7), manifest, tmp_path / "out")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    samples = _samples(tmp_path / "out")
    assert index["format"] == shardfmt.FORMAT_VERSION
    assert index["samples"] == len(samples) == len(MIXED)
    assert index["pairs"] == len(rows)
    for split in ("train", "val", "test"):
        mine = [s for s in samples.values() if s["split"] == split]
        assert index["counts"][split] == len(mine)
        assert index["pair_counts"][split] == sum(len(s["variants"]) for s in mine)
        kinds = Counter(v["kind"] for s in mine for v in s["variants"])
        assert index["kinds"][split] == dict(kinds)
        assert index["sources"][split] == dict(Counter(s["source"] for s in mine))
        assert index["scenes"][split] == sorted({s["scene"] for s in mine})
    for entry in index["shards"]:
        path = tmp_path / "out" / entry["name"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == sha256_file(path)
        assert 0 < entry["samples"] <= 7
        mine = [s for s in samples.values() if s["tar"] == entry["name"]]
        assert entry["samples"] == len(mine)
        assert entry["pairs"] == sum(len(s["variants"]) for s in mine)
    assert index["manifest_sha256"] == sha256_file(manifest)
    assert index["fractions"] == {"train": 0.6, "val": 0.2, "test": 0.2}
    assert list(json.loads((tmp_path / "out" / "index.json").read_text())) == sorted(index)


def test_max_bytes_bounds_every_shard(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED[:10])
    manifest = _manifest(tmp_path / "pairs", rows)
    limit = 40 * 1024
    shard.run(_params(split=(1, 0, 0), max_bytes=limit), manifest, tmp_path / "out")
    tars = sorted((tmp_path / "out").glob("*.tar"))
    assert len(tars) > 1
    assert all(t.stat().st_size <= limit for t in tars)
    assert sum(len(s["variants"]) for s in _samples(tmp_path / "out").values()) == len(rows)


def test_order_inside_a_split_is_a_seeded_shuffle(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED[:12])
    manifest = _manifest(tmp_path / "pairs", rows)

    def order(seed: int) -> list[str]:
        out = tmp_path / f"s{seed}"
        shard.run(_params(split=(1, 0, 0), seed=seed), manifest, out)
        with tarfile.open(out / "train-000000.tar") as tar:
            return [n.split(".")[0] for n in tar.getnames() if n.endswith(".json")]

    first, again, other = order(0), order(0), order(1)
    assert first == again != other
    assert sorted(first) == sorted(other) == sorted({r.scene for r in rows})
    assert first != sorted(first)  # scenes are mixed, not in manifest order


def test_bad_pairs_are_rejected_and_left_out(tmp_path):
    pairs = tmp_path / "pairs"
    rows = _rows(pairs, MIXED[:8])
    _image(pairs / "big.png", 5, size=(14, 16))
    bad = [
        dataclasses.replace(rows[0], id="mismatch", input="big.png"),
        dataclasses.replace(rows[1], id="noinput", input="h00/missing.png"),
        dataclasses.replace(rows[2], id="notarget", target="h00/gone.png"),
        dataclasses.replace(rows[3], id="oddkind", kind="blur"),
        dataclasses.replace(rows[4], input=rows[5].input),  # duplicate id
    ]
    manifest = _manifest(pairs, rows + bad)
    shard.run(_params(split=(1, 0, 0)), manifest, tmp_path / "out")
    rejects = [
        json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().split("\n") if x
    ]
    reasons = {r["extra"]["id"]: r["reason"] for r in rejects}
    assert set(reasons) == {"mismatch", "noinput", "notarget", "oddkind", rows[4].id}
    assert "differ in size" in reasons["mismatch"]
    assert "no such file" in reasons["noinput"] and "target" in reasons["notarget"]
    assert "unknown kind" in reasons["oddkind"] and "duplicate id" in reasons[rows[4].id]
    assert all(len(r["extra"]["files"]) == 2 for r in rejects)
    samples = _samples(tmp_path / "out")
    variants = {v["id"]: v for s in samples.values() for v in s["variants"]}
    assert set(variants) == {r.id for r in rows}  # the first row of a duplicated id is kept
    assert variants[rows[4].id]["input"] == "in1.png"
    with pytest.raises(StrictError, match="differ in size"):
        shard.run(_params(split=(1, 0, 0)), manifest, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_empty_split_fails_naming_it_unless_its_fraction_is_zero(tmp_path):
    rows = _rows(tmp_path / "pairs", [("only-a", "train"), ("only-b", "test")])
    manifest = _manifest(tmp_path / "pairs", rows)
    with pytest.raises(SplitError, match=r"split 'val' is empty.*2 scene\(s\).*shard\.split\.val"):
        shard.run(_params(split=(0.8, 0.1, 0.1)), manifest, tmp_path / "out")
    summary = shard.run(_params(split=(0.9, 0.0, 0.1)), manifest, tmp_path / "out")
    assert summary.counts["samples"] == 2 and summary.counts["pairs"] == len(rows)
    assert [p.name for p in sorted((tmp_path / "out").glob("*.tar"))] == [
        "test-000000.tar",
        "train-000000.tar",
    ]


def test_failed_run_keeps_previous_output(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED[:4])
    manifest = _manifest(tmp_path / "pairs", rows)
    shard.run(_params(split=(1, 0, 0)), manifest, tmp_path / "out")
    before = (tmp_path / "out" / "index.json").read_bytes()
    with pytest.raises(ConfigError, match="sum to 1"):
        shard.run(_params(split=(0.5, 0.1, 0.1)), manifest, tmp_path / "out")
    _manifest(tmp_path / "pairs", [*rows, dataclasses.replace(rows[0], split="test")])
    with pytest.raises(SplitError, match="disagree"):
        shard.run(_params(split=(1, 0, 0)), manifest, tmp_path / "out")
    assert (tmp_path / "out" / "index.json").read_bytes() == before


def test_plan_size_prediction_is_exact(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED[:3])
    params = _params(split=(1, 0, 0))
    shard.run(params, _manifest(tmp_path / "pairs", rows), tmp_path / "out")
    samples, rejects = shard.validate(rows, tmp_path / "pairs", dict.fromkeys(
        (r.scene for r in rows), "train"), 10**8)  # fmt: skip
    assert not rejects and len(samples) == 3
    shardwrite.write_tar(tmp_path / "one.tar", samples)
    predicted = shardwrite.tar_bytes(sum(shardwrite.sample_bytes(s) for s in samples))
    assert (tmp_path / "one.tar").stat().st_size == predicted
    assert shardwrite.tar_bytes(0) == tarfile.RECORDSIZE  # an empty tar is one record


def _recipes(pairs: Path, scenes: int, **row) -> list[PairRow]:
    """Rows of synthesize --recipes-only: recipes on a clean photo, no input files."""
    rows = []
    for k in range(scenes):
        _image(pairs / f"photo{k}.png", 50 + k)
        for v, (kind, tau, ev) in enumerate([("overexpose", 0.7, None), ("ev", None, -1.0)]):
            rows.append(
                PairRow(
                    f"p{k}--v{v}",
                    f"p{k}",
                    "folder",
                    None,
                    None,
                    f"photo{k}.png",
                    kind,
                    tau,
                    ev,
                    2.2,
                    16,
                    12,
                    "gamma",
                    True,
                )
            )
    return [dataclasses.replace(r, **row) if r.id == "p0--v0" else r for r in rows]


def test_recipe_rows_store_the_photo_once(tmp_path):
    rows = _recipes(tmp_path / "pairs", 3)
    shard.run(_params(split=(1, 0, 0)), _manifest(tmp_path / "pairs", rows), tmp_path / "out")
    samples = _samples(tmp_path / "out")
    assert set(samples) == {"p0", "p1", "p2"}
    for sample in samples.values():
        assert sorted(sample["members"]) == ["shard-format-2.json", "target.png"]
        assert [v["input"] for v in sample["variants"]] == [None, None]
    with tarfile.open(tmp_path / "out" / "train-000000.tar") as tar:
        stored = tar.extractfile("p1.target.png").read()
    source = imageio.read_codes(tmp_path / "pairs" / "photo1.png")
    assert np.array_equal(imageio.decode_codes(stored).array, source.array)  # lossless
    assert not (tmp_path / "out" / shard.TARGETS_DIR).exists()


def test_targets_are_stored_as_they_are_unless_a_png_that_stays_small(tmp_path):
    gray = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))
    gray.save(tmp_path / "gray.png")  # 3x larger as RGB: kept as it is
    imageio.write_image(tmp_path / "photo.jpg", np.full((8, 8, 3), 0.5, np.float32))
    imageio.write_image(tmp_path / "photo.png", np.full((8, 8, 3), 0.5, np.float32))
    folder = tmp_path / "targets"
    folder.mkdir()
    for name in ("gray.png", "photo.jpg"):
        assert shardwrite.stored_target(tmp_path / name, folder, "k") == tmp_path / name
    out = shardwrite.stored_target(tmp_path / "photo.png", folder, "p")
    assert out == folder / "p.png"
    assert np.array_equal(
        imageio.read_codes(out).array, imageio.read_codes(tmp_path / "photo.png").array
    )
    assert imageio.top_rows_size(out.read_bytes()) == (8, 8)  # the loader's partial decode applies


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tau": 1.5}, "tau 1.5 is outside (0, 1]"),
        ({"tau": 0.0}, "tau 0.0 is outside (0, 1]"),
        ({"kind": "blur"}, "unknown kind 'blur'"),
        ({"curve": "log"}, "unknown curve 'log'"),
    ],
)
def test_bad_recipes_are_rejected_counted_and_named(tmp_path, change, reason):
    rows = _recipes(tmp_path / "pairs", 2, **change)
    summary = shard.run(
        _params(split=(1, 0, 0)), _manifest(tmp_path / "pairs", rows), tmp_path / "out"
    )
    assert summary.counts["rejected"] == 1 and summary.counts["pairs"] == len(rows) - 1
    (reject,) = [
        json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    ]
    assert reject["extra"]["id"] == "p0--v0" and reason in reject["reason"]


def test_check_progress_counts_rows_though_the_tasks_return_runs(tmp_path, monkeypatch):
    rows = _rows(tmp_path / "pairs", MIXED[:3])
    manifest = _manifest(tmp_path / "pairs", rows)
    counted: dict[str, int] = {}
    real_track = shard.track

    def counting(items, description, total=None, weight=None):
        for item in real_track(items, description, total=total, weight=weight):
            counted[description] = counted.get(description, 0) + (weight or (lambda _: 1))(item)
            counted[f"{description} total"] = total
            yield item

    monkeypatch.setattr(shard, "track", counting)
    checks, _ = shard.read_checked(manifest, 10**8)
    assert counted["shard: check pairs"] == counted["shard: check pairs total"] == len(rows)
    assert len(checks) == 3  # one run per photo


def test_a_tar_is_hashed_as_it_is_written(tmp_path):
    rows = _rows(tmp_path / "pairs", MIXED[:3])
    samples, _ = shard.validate(rows, tmp_path / "pairs", dict.fromkeys(
        (r.scene for r in rows), "train"), 10**8)  # fmt: skip
    path = tmp_path / "one.tar"
    size, digest = shardwrite.write_members(path, [s.members() for s in samples])
    assert (size, digest) == (path.stat().st_size, sha256_file(path))
    with shardwrite.TarSeries(tmp_path / "series", "train", 2, 10**9) as tars:
        for s in samples:
            tars.add([(n, c if isinstance(c, bytes) else c.read_bytes()) for n, c in s.members()])
    for entry in tars.written:
        written = tmp_path / "series" / entry["name"]
        assert (entry["bytes"], entry["sha256"]) == (written.stat().st_size, sha256_file(written))
