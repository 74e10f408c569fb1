"""Photo shards: variants rendered from recipes are the synthesized files, bit for bit; fresh
tau; format versions; bad recipes; corrupt tar headers (sha256 verification, expected pairs)."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from exposure_core import imageio, shardfmt, shardwrite
from exposure_core.errors import UserError
from exposure_core.fsutil import MARKER
from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
from pipeline.evaluation.results import read_metrics
from pipeline.evaluation.testsets import test_set as read_test_set
from pipeline.params import AugmentParams, Params, SplitFractions, SynthesizeParams, load_params
from pipeline.stages import shard, synthesize

ALL_FLIPS = AugmentParams(hflip=True, vflip=True, rot90=True, jitter=0.0)


def _params(split=(0.5, 0.0, 0.5), **synth) -> Params:
    base = load_params(None)
    return dataclasses.replace(
        base,
        synthesize=dataclasses.replace(SynthesizeParams(workers=1), **synth),
        shard=dataclasses.replace(base.shard, split=SplitFractions(*split)),
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory, demo_photos) -> Path:
    """8-bit PNG, JPEG (decoded codes differ from any PNG) and 16-bit PNG photos."""
    folder = tmp_path_factory.mktemp("photos")
    imageio.write_image(folder / "coffee.png", demo_photos["coffee"][:64, :96])
    imageio.write_image(folder / "chelsea.jpg", demo_photos["chelsea"][:72, :80])
    imageio.write_image(folder / "rocket.png", demo_photos["rocket"][:80, :64], bits=16)
    imageio.write_image(folder / "astronaut.png", demo_photos["astronaut"][::6, ::6])
    return folder


def _loader_pairs(shards: Path) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """id -> (input, target) as float32 (H, W, 3) and meta, from every split, in eval mode."""
    out = {}
    index = shardfmt.read_index(shards)
    for split in sorted({s["split"] for s in index["shards"]}):
        for batch in make_loader(
            shard_urls(shards, split), LoaderConfig(batch_size=1, crop=None, train=False)
        ):
            arrays = (t[0].permute(1, 2, 0).numpy() for t in (batch.input, batch.target))
            out[batch.meta[0]["id"]] = (*arrays, batch.meta[0])
    return out


@pytest.mark.parametrize("curve", ["gamma", "srgb"])
def test_rendered_variants_are_the_synthesized_files(tmp_path, photos, curve) -> None:
    pairs = tmp_path / "pairs"
    params = _params(curve=curve)
    synthesize.run(params, photos, pairs)
    shard.run(params, pairs, tmp_path / "shards")
    recipes = _params(curve=curve, write_images=False)
    synthesize.run(recipes, photos, tmp_path / "recipes")
    shard.run(recipes, tmp_path / "recipes", tmp_path / "recipe-shards")
    rows = [json.loads(x) for x in (pairs / "manifest.jsonl").read_text().splitlines()]
    assert rows and all(r["recipe"] for r in rows)
    from_files = _loader_pairs(tmp_path / "shards")
    from_recipes = _loader_pairs(tmp_path / "recipe-shards")
    assert set(from_files) == set(from_recipes) == {r["id"] for r in rows}
    for row in rows:
        written = imageio.read_image(pairs / row["input"])
        target = imageio.read_image(pairs / row["target"])
        for got in (from_files[row["id"]], from_recipes[row["id"]]):
            assert np.array_equal(got[0], written), row["id"]  # bit-identical
            assert np.array_equal(got[1], target)
            assert got[2]["tau"] == row["tau"] and got[2]["curve"] == curve
    # evaluation reads the test split without the loader and gets the same arrays
    test = read_test_set(tmp_path / "recipe-shards")
    items = list(test.items)
    assert items and test.expected == len(items) and not test.skipped
    for item in items:
        assert np.array_equal(item.input, from_files[item.id][0])
        assert np.array_equal(item.target, from_files[item.id][1])


def test_recipes_only_writes_no_images_and_stores_each_photo_once(tmp_path, photos) -> None:
    params = _params(write_images=False)
    synthesize.run(params, photos, tmp_path / "pairs")
    assert sorted(p.name for p in (tmp_path / "pairs").iterdir()) == [
        MARKER,
        "manifest.jsonl",
        "rejects.jsonl",
    ]
    rows = [json.loads(x) for x in (tmp_path / "pairs" / "manifest.jsonl").read_text().split("\n")
            if x]  # fmt: skip
    assert all(r["recipe"] for r in rows)
    assert all(r["input"] is None for r in rows if r["ev"] != 0)
    assert all(r["input"] == r["target"] for r in rows if r["ev"] == 0)  # EV 0: the photo
    assert {(tmp_path / "pairs" / r["target"]).resolve() for r in rows} == {
        p.resolve() for p in photos.iterdir()
    }
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    members = []
    for tar_path in (tmp_path / "shards").glob("*.tar"):
        with tarfile.open(tar_path) as tar:
            members += [(m.name, m.size) for m in tar.getmembers()]
    assert sorted(m.split(".", 1)[1] for m, _ in members) == sorted(
        ["shard-format-2.json"] * 4 + ["target.png"] * 3 + ["target.jpg"]
    )
    # each photo once: the JPEG as it is, the PNGs re-encoded losslessly (shardwrite.stored_target)
    sizes = {p.suffix: p.stat().st_size for p in photos.iterdir() if p.suffix == ".jpg"}
    assert [size for m, size in members if m.endswith(".target.jpg")] == [sizes[".jpg"]]
    images = sum(size for m, size in members if ".target." in m)
    total = sum(p.stat().st_size for p in photos.iterdir())
    assert images <= shardwrite.MAX_TARGET_GROWTH * total


def test_fresh_tau_draws_a_new_tau_per_visit(tmp_path, photos) -> None:
    params = _params(split=(1.0, 0.0, 0.0), write_images=False, tau_samples=1, evs=[])
    synthesize.run(params, photos, tmp_path / "pairs")
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    urls = shard_urls(tmp_path / "shards", "train")
    stored = {r["id"]: r["tau"] for r in map(json.loads, (tmp_path / "pairs" / "manifest.jsonl")
              .read_text().splitlines())}  # fmt: skip

    def taus(fresh: tuple[float, float] | None) -> tuple[list[tuple[str, float]], float]:
        loader = make_loader(
            urls,
            LoaderConfig(
                batch_size=2, crop=16, train=True, epoch_len=8, shuffle_buffer=1, fresh_tau=fresh
            ),
        )
        batches = list(loader)
        mean = float(torch.cat([b.input for b in batches]).mean())
        return [(m["id"], m["tau"]) for b in batches for m in b.meta], mean

    kept, mean_kept = taus(None)
    assert all(stored[i] == t for i, t in kept)
    fresh, mean_fresh = taus((0.2, 0.3))
    assert len({t for _, t in fresh}) == len(fresh)  # a new draw at each visit
    assert all(0.2 <= t <= 0.3 and t != stored[i] for i, t in fresh)
    # the inputs really are rendered with the drawn tau (0.2..0.3 < the stored 0.5..1)
    assert mean_fresh > mean_kept + 0.05


def _rewrite(src: Path, dst: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Copy a tar, passing each (name, bytes) through ``change`` (None drops the member)."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin.getmembers():
            data = change(member.name, tin.extractfile(member).read())  # type: ignore[union-attr]
            if data is not None:
                member.size = len(data)
                tout.addfile(member, io.BytesIO(data))


@pytest.fixture()
def recipe_shards(tmp_path, photos) -> Path:
    params = _params(split=(0.0, 0.0, 1.0), write_images=False)
    synthesize.run(params, photos, tmp_path / "pairs")
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    return tmp_path / "shards"


def test_bad_recipes_in_a_shard_are_skipped_counted_and_named(recipe_shards, tmp_path) -> None:
    def damage(name: str, data: bytes) -> bytes:
        if not name.endswith(".json"):
            return data
        meta = json.loads(data)
        meta["variants"][0]["tau"] = 1.5
        meta["variants"][1]["kind"] = "blur"
        return json.dumps(meta).encode()

    (name,) = [p.name for p in recipe_shards.glob("test-*.tar")]
    bad = tmp_path / "bad"
    bad.mkdir()
    _rewrite(recipe_shards / name, bad / name, damage)
    index = json.loads((recipe_shards / "index.json").read_text())
    (bad / "index.json").write_text(json.dumps(index))
    loader = make_loader([str(bad / name)], LoaderConfig(batch_size=1, crop=None, train=False))
    with pytest.warns(RuntimeWarning) as record:
        batches = list(loader)
    warned = [str(w.message) for w in record]
    assert sum("bad recipe" in m and "tau 1.5 is outside (0, 1]" in m for m in warned) == 4
    assert sum("bad recipe" in m and "unknown kind 'blur'" in m for m in warned) == 4
    assert len(batches) == index["pairs"] - 2 * 4 and loader.stats.skipped == 2 * 4
    test = read_test_set(bad, verify=False)
    items = list(test.items)
    assert len(items) == test.expected - 8
    assert sum("unknown kind 'blur'" in s for s in test.skipped) == 4
    assert sum("tau 1.5 is outside" in s for s in test.skipped) == 4


def test_format_versions_are_named(recipe_shards, tmp_path) -> None:
    index = json.loads((recipe_shards / "index.json").read_text())
    old = tmp_path / "old"
    old.mkdir()
    (old / "index.json").write_text(json.dumps({k: v for k, v in index.items() if k != "format"}))
    with pytest.raises(shardfmt.ShardFormatError, match="shard format version 1, written by an"):
        shard_urls(old, "test")
    with pytest.raises(shardfmt.ShardFormatError, match="version 1.*re-run `prep shard`"):
        read_test_set(old)
    (old / "index.json").write_text(json.dumps(index | {"format": 3}))
    with pytest.raises(shardfmt.ShardFormatError, match="version 3, newer than the 2"):
        shard_urls(old, "test")
    # a sample of another version is an error too, not a skipped sample
    (name,) = [p.name for p in recipe_shards.glob("test-*.tar")]

    def newer(member: str, data: bytes) -> bytes:
        return json.dumps(json.loads(data) | {"format": 3}).encode() if member.endswith("json") \
            else data  # fmt: skip

    _rewrite(recipe_shards / name, tmp_path / name, newer)
    with pytest.raises(shardfmt.ShardFormatError, match=r"version 3"):
        list(
            make_loader([str(tmp_path / name)], LoaderConfig(batch_size=1, crop=None, train=False))
        )


def _break_header(tar_path: Path, member_index: int) -> None:
    """Overwrite the header bytes of one tar member (name and checksum fields) in place."""
    with tarfile.open(tar_path) as tar:
        offset = tar.getmembers()[member_index].offset
    with open(tar_path, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * 160)


def test_corrupt_member_header_is_a_corrupt_shard(recipe_shards) -> None:
    (name,) = [p.name for p in recipe_shards.glob("test-*.tar")]
    index = shardfmt.read_index(recipe_shards)
    _break_header(recipe_shards / name, 3)  # the second sample's first member
    check = shardfmt.check_shards(recipe_shards, "test")
    assert check.usable == [] and "sha256" in check.corrupt[0] and name in check.corrupt[0]
    with pytest.raises(UserError, match=r"1 of 1 test shard\(s\) corrupt.*sha256"):
        shardfmt.check_shards(recipe_shards, "test", max_corrupt=0.5)
    unverified = shardfmt.check_shards(recipe_shards, "test", verify=False)
    assert len(unverified.usable) == 1 and unverified.expected_pairs == index["pairs"]
    # tarfile alone stops silently at the bad header; the strict reader does not
    with pytest.raises(shardfmt.CorruptShardError, match=r"sample\(s\) read, index.json lists 4"):
        list(shardfmt.iter_tar(recipe_shards / name, expected=4))
    test = read_test_set(recipe_shards, verify=False)
    items = list(test.items)
    assert 0 < len(items) < test.expected
    assert any("index.json lists 4" in s for s in test.skipped)


def test_training_skips_corrupt_shards_up_to_a_fraction(tmp_path, photos) -> None:
    params = dataclasses.replace(_params(split=(1.0, 0.0, 0.0), write_images=False))
    params = dataclasses.replace(params, shard=dataclasses.replace(params.shard, max_samples=1))
    synthesize.run(params, photos, tmp_path / "pairs")
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    names = sorted(p.name for p in (tmp_path / "shards").glob("train-*.tar"))
    assert len(names) == 4
    _break_header(tmp_path / "shards" / names[1], 0)
    check = shardfmt.check_shards(tmp_path / "shards", "train", max_corrupt=0.25)
    assert [Path(u).name for u in check.urls(tmp_path / "shards")] == names[:1] + names[2:]
    assert len(check.corrupt) == 1 and names[1] in check.corrupt[0]
    with pytest.raises(UserError, match=r"1 of 4 train shard\(s\) corrupt \(more than 10%\)"):
        shardfmt.check_shards(tmp_path / "shards", "train", max_corrupt=0.1)
    (tmp_path / "shards" / names[2]).unlink()
    with pytest.raises(UserError, match=rf"{names[2]}: missing"):
        shardfmt.check_shards(tmp_path / "shards", "train", max_corrupt=0.25)


def test_an_endless_stream_over_unreadable_shards_fails_instead_of_spinning(
    recipe_shards, monkeypatch
) -> None:
    from exposure_models.training import pairs as pairs_module

    (name,) = [p.name for p in recipe_shards.glob("test-*.tar")]
    _break_header(recipe_shards / name, 1)  # only the first member (a target) can be read
    monkeypatch.setattr(pairs_module, "MAX_SKIPS_IN_ROW", 20)
    loader = make_loader(
        [str(recipe_shards / name)], LoaderConfig(batch_size=2, crop=16, train=True, epoch_len=5)
    )
    with pytest.warns(RuntimeWarning), pytest.raises(UserError, match="20 corrupt samples in a"):
        next(iter(loader))


def test_cli_recipes_only_and_a_corrupt_shard_named_by_evaluate(tmp_path, photos) -> None:
    from typer.testing import CliRunner

    from exposure_models.checkpoint import save_generator
    from exposure_models.generator import UNetConfig, UNetGenerator
    from pipeline.cli import app

    params = tmp_path / "params.yaml"
    params.write_text("shard:\n  split: {train: 0.5, val: 0.0, test: 0.5}\n")
    runner = CliRunner()
    pairs, shards = tmp_path / "pairs", tmp_path / "shards"
    args = ["synthesize", "--input", str(photos), "--output", str(pairs), "--recipes-only"]
    result = runner.invoke(app, [*args, "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in pairs.iterdir()) == [MARKER, "manifest.jsonl", "rejects.jsonl"]
    args = ["shard", "--input", str(pairs), "--output", str(shards), "--params", str(params)]
    assert runner.invoke(app, args).exit_code == 0
    (name,) = [p.name for p in shards.glob("test-*.tar")]
    _break_header(shards / name, 2)
    save_generator(tmp_path / "g.pt", UNetGenerator(UNetConfig(depth=3, width=4)))
    evaluate = ["evaluate", "--shards", str(shards), "--model", str(tmp_path / "g.pt"),
                "--output", str(tmp_path / "reports"), "--params", str(params)]  # fmt: skip
    result = runner.invoke(app, evaluate, terminal_width=400)
    assert result.exit_code == 2 and "test pairs scored" in result.output
    assert name in result.output and "sha256" in result.output
    result = runner.invoke(app, [*evaluate, "--no-verify", "--allow-missing"], terminal_width=400)
    assert result.exit_code == 0, result.output
    metrics = read_metrics(tmp_path / "reports" / "metrics")
    assert 0 < metrics["n_images"] < metrics["n_expected"]


def test_training_crops_render_the_window_as_the_full_image_would(tmp_path, photos) -> None:
    params = _params(split=(1.0, 0.0, 0.0), write_images=False)
    synthesize.run(params, photos, tmp_path / "pairs")
    shard.run(params, tmp_path / "pairs", tmp_path / "shards")
    loader = make_loader(
        shard_urls(tmp_path / "shards", "train"),
        LoaderConfig(batch_size=2, crop=24, train=True, epoch_len=10, augment=ALL_FLIPS, seed=4),
    )
    checked = 0
    for batch in loader:
        for inp, tgt, meta in zip(batch.input, batch.target, batch.meta, strict=True):
            bits = 16 if "rocket" in meta["id"] else 8
            top = (1 << bits) - 1
            codes = np.rint(tgt.permute(1, 2, 0).numpy().astype(np.float64) * top)
            dtype = np.uint16 if bits == 16 else np.uint8
            window = imageio.Codes(codes.astype(dtype))
            variant = shardfmt.Variant(**{k: meta[k] for k in ("id", "kind", "tau", "ev", "gamma",
                                                              "curve")})  # fmt: skip
            expected = shardfmt.render(window, variant).array.astype(np.float32) / top
            assert np.array_equal(inp.permute(1, 2, 0).numpy(), expected), meta["id"]
            checked += 1
    assert checked == 20


def test_metadata_member_names_the_format_version(recipe_shards) -> None:
    (name,) = [p.name for p in recipe_shards.glob("test-*.tar")]
    with tarfile.open(recipe_shards / name) as tar:
        metas = [n for n in tar.getnames() if n.endswith(".json")]
    assert metas and all(n.endswith(f".shard-format-{shardfmt.FORMAT_VERSION}.json") for n in metas)
    # a format-1 reader reports a sample it cannot use by its member suffixes: the version shows
    sample = next(shardfmt.iter_tar(recipe_shards / name))
    assert shardfmt.META_MEMBER in sample
    # the plain ``<key>.json`` of earlier writers reads the same
    legacy = {("json" if k == shardfmt.META_MEMBER else k): v for k, v in sample.items()}
    assert (
        shardfmt.parse_sample(legacy, "x").variants == shardfmt.parse_sample(sample, "x").variants
    )
    with pytest.raises(ValueError, match="expected one metadata member"):
        shardfmt.parse_sample(sample | {"json": sample[shardfmt.META_MEMBER]}, "x")
