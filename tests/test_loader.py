from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from exposure_core import exposure, imageio, shardfmt
from exposure_core.errors import UserError
from exposure_core.imageio import toprows
from exposure_core.manifest import PairRow, write_jsonl
from exposure_models.training.loader import LoaderConfig, make_loader, shard_urls
from exposure_models.training.pairs import color_jitter
from pipeline.params import AugmentParams, SplitFractions, load_params
from pipeline.stages import shard

H, W, CROP = 40, 48, 16
ALL_AUGMENT = AugmentParams(hflip=True, vflip=True, rot90=True, jitter=0.0)


def _ramp() -> np.ndarray:
    """uint8 (H, W, 3): R = 4x, G = 4y, B = 7, so every pixel tells where it came from."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([4 * x, 4 * y, np.full_like(x, 7)], axis=-1).astype(np.uint8)


def _row(pair_id: str, scene: str, input_name: str, target_name: str, size=(H, W)) -> PairRow:
    return PairRow(
        pair_id, scene, "folder", None, input_name, target_name, "ev", None, 0.0, 2.2, *size[::-1]
    )


def _build(root: Path, max_samples: int = 1000) -> Path:
    """Shards holding: same-file pairs (target == input), inverted pairs, a small 16-bit pair.

    Each pair has a target file of its own, so each is one photo sample with a stored input.
    """
    pairs = root / "pairs"
    ramp = _ramp()
    small = (np.arange(10 * 12 * 3).reshape(10, 12, 3) * 181).astype(np.uint16)
    for k in range(4):
        imageio.write_image(pairs / f"s{k}" / "ramp.png", imageio.Codes(ramp))
        imageio.write_image(pairs / f"i{k}" / "ramp.png", imageio.Codes(ramp))
        imageio.write_image(pairs / f"i{k}" / "inverted.png", imageio.Codes(255 - ramp))
    imageio.write_image(pairs / "small" / "small16.png", imageio.Codes(small))
    rows = [_row(f"same{k}", f"s{k}", f"s{k}/ramp.png", f"s{k}/ramp.png") for k in range(4)]
    rows += [_row(f"inv{k}", f"i{k}", f"i{k}/ramp.png", f"i{k}/inverted.png") for k in range(4)]
    rows += [_row("small", "small", "small/small16.png", "small/small16.png", size=(10, 12))]
    write_jsonl(pairs / "manifest.jsonl", rows)
    base = load_params(None)
    params = dataclasses.replace(
        base,
        shard=dataclasses.replace(
            base.shard, split=SplitFractions(1.0, 0.0, 0.0), max_samples=max_samples
        ),
    )
    shard.run(params, pairs, root / "shards")
    return root / "shards"


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("one"))


@pytest.fixture(scope="module")
def many_shards(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("many"), max_samples=2)


def _codes(tensor: torch.Tensor) -> np.ndarray:
    """(3, h, w) float in [0, 1] -> (h, w, 3) uint8 codes."""
    return np.rint(tensor.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def _locate(out: np.ndarray) -> tuple[int, bool, int, int] | None:
    """The (rot90 k, hflip, y0, x0) that maps a ramp window onto ``out``, or None."""
    ramp = _ramp()
    for k in range(4):
        for flip in (False, True):
            undone = np.rot90(out, -k)
            undone = undone[:, ::-1] if flip else undone
            x0, y0 = int(undone[0, 0, 0]) // 4, int(undone[0, 0, 1]) // 4
            if np.array_equal(undone, ramp[y0 : y0 + CROP, x0 : x0 + CROP]):
                return k, flip, y0, x0
    return None


def test_train_batches_have_shape_range_and_dtype(shards):
    loader = make_loader(
        shard_urls(shards, "train"),
        LoaderConfig(batch_size=4, crop=CROP, train=True, augment=ALL_AUGMENT),
    )
    batches = list(loader)
    assert len(batches) == 2  # 9 pairs: the partial batch is dropped in training
    for batch in batches:
        assert batch.input.shape == batch.target.shape == (4, 3, CROP, CROP)
        assert batch.input.dtype == torch.float32
        assert float(batch.input.min()) >= 0.0 and float(batch.input.max()) <= 1.0
        assert len(batch.meta) == 4 and batch.skipped == 0
    assert loader.stats.samples == 8 and loader.stats.skipped == 0


def test_same_crop_and_flips_on_input_and_target(shards):
    loader = make_loader(
        shard_urls(shards, "train"),
        LoaderConfig(
            batch_size=4,
            crop=CROP,
            train=True,
            augment=ALL_AUGMENT,
            epoch_len=12,
            seed=3,
            shuffle_buffer=20,
        ),
    )
    ops, origins = set(), set()
    for batch in loader:
        for inp, tgt, meta in zip(batch.input, batch.target, batch.meta, strict=True):
            if meta["id"] == "small":
                continue
            found = _locate(_codes(inp))
            assert found is not None, f"{meta['id']}: input is not a flipped ramp window"
            ops.add(found[:2])
            origins.add(found[2:])
            if meta["id"].startswith("same"):
                assert torch.equal(inp, tgt)
            else:  # target = 255 - input, so geometry must match exactly
                torch.testing.assert_close(tgt, 1.0 - inp, atol=1e-6, rtol=0)
    assert len(ops) >= 6 and len(origins) >= 10  # flips, rotations and crops really vary


def test_jitter_changes_the_input_only(shards):
    augment = AugmentParams(hflip=False, jitter=0.4)
    loader = make_loader(
        shard_urls(shards, "train"),
        LoaderConfig(batch_size=4, crop=CROP, train=True, augment=augment),
    )
    changed = 0
    for batch in loader:
        for inp, tgt, meta in zip(batch.input, batch.target, batch.meta, strict=True):
            if meta["id"].startswith("same"):
                assert _locate(_codes(tgt))[:2] == (0, False)  # target: a plain crop
                changed += int(not torch.equal(inp, tgt))
    assert changed >= 2


def test_eval_gives_full_images_with_metadata_in_order(shards):
    loader = make_loader(
        shard_urls(shards, "train"), LoaderConfig(batch_size=1, crop=None, train=False)
    )
    batches = list(loader)
    assert len(batches) == 9
    index = [(b.meta[0]["__key__"], b.meta[0]["id"]) for b in batches]
    with tarfile.open(shards / "train-000000.tar") as tar:
        metas = [
            json.loads(tar.extractfile(n).read()) for n in tar.getnames() if n.endswith("json")
        ]
    assert index == [(m["key"], v["id"]) for m in metas for v in m["variants"]]
    for batch in batches:
        meta = batch.meta[0]
        assert meta["split"] == "train" and meta["kind"] == "ev"
        if meta["id"] == "small":
            assert batch.input.shape == (1, 3, 10, 12)
            assert float(batch.input[0, 2, 0, 0]) == pytest.approx(2 * 181 / 65535, abs=1e-7)
        else:
            assert batch.input.shape == (1, 3, H, W)
            assert _codes(batch.input[0]).tolist() == _ramp().tolist()


def test_small_images_are_padded_by_reflection(shards):
    loader = make_loader(
        shard_urls(shards, "train"), LoaderConfig(batch_size=1, crop=CROP, train=False)
    )
    small = next(b for b in loader if b.meta[0]["id"] == "small")
    codes = (np.arange(10 * 12 * 3).reshape(10, 12, 3) * 181).astype(np.float32) / 65535
    expected = np.pad(codes, ((3, 3), (2, 2), (0, 0)), mode="reflect")  # 10x12 -> 16x16
    np.testing.assert_allclose(small.input[0].permute(1, 2, 0).numpy(), expected, atol=1e-7)


def _corrupt_tars(shards: Path, root: Path) -> list[str]:
    """One tar with a garbage target in its 2nd sample, one truncated mid-way."""
    with tarfile.open(shards / "train-000000.tar") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    bad = root / "bad.tar"
    with tarfile.open(bad, "w") as out:
        for k, (member, data) in enumerate(members[:9]):  # three samples
            data = b"not an image at all" if k == 3 else data
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    cut = root / "cut.tar"
    whole = (shards / "train-000000.tar").read_bytes()
    cut.write_bytes(whole[: len(whole) // 2 + 700])  # inside a member
    return [str(bad), str(cut)]


def test_corrupt_samples_are_skipped_warned_and_counted(shards, tmp_path):
    bad, _ = _corrupt_tars(shards, tmp_path)
    with tarfile.open(bad) as tar:
        keys = [n.split(".")[0] for n in tar.getnames() if n.endswith(".json")]
    loader = make_loader(bad, LoaderConfig(batch_size=1, crop=None, train=False))
    with pytest.warns(RuntimeWarning, match=rf"skipping a corrupt sample.*{keys[1]}\.target"):
        batches = list(loader)
    assert [b.meta[0]["__key__"] for b in batches] == [keys[0], keys[2]]
    assert loader.stats.skipped == 1 == batches[-1].skipped


def test_truncated_shard_is_skipped_after_its_complete_samples(shards, tmp_path):
    _, cut = _corrupt_tars(shards, tmp_path)
    loader = make_loader([cut], LoaderConfig(batch_size=1, crop=None, train=False))
    with pytest.warns(RuntimeWarning, match="unexpected end of data"):
        batches = list(loader)
    assert 1 <= len(batches) < 9
    assert loader.stats.skipped >= 1  # read errors are counted; lost samples cannot be


@pytest.mark.parametrize("fixture", ["shards", "many_shards"])
def test_two_workers_read_every_sample_once(fixture, request):
    folder = request.getfixturevalue(fixture)
    urls = shard_urls(folder, "train")
    loader = make_loader(urls, LoaderConfig(batch_size=1, crop=None, train=False, workers=2))
    ids = sorted(b.meta[0]["id"] for b in loader)
    assert ids == sorted([f"same{k}" for k in range(4)] + [f"inv{k}" for k in range(4)] + ["small"])
    assert set(loader.stats.by_worker) == {0, 1}
    train = make_loader(
        urls, LoaderConfig(batch_size=2, crop=CROP, train=True, workers=2, augment=ALL_AUGMENT)
    )
    assert all(b.input.shape == (2, 3, CROP, CROP) for b in train)
    assert train.stats.samples == 8 if fixture == "shards" else train.stats.samples >= 6


def test_runs_are_reproducible_and_seeded(shards):
    def first_inputs(seed: int) -> torch.Tensor:
        urls = shard_urls(shards, "train")
        loader = make_loader(
            urls, LoaderConfig(batch_size=4, crop=CROP, train=True, seed=seed, augment=ALL_AUGMENT)
        )
        return torch.cat([b.input for b in loader])

    assert torch.equal(first_inputs(5), first_inputs(5))
    assert not torch.equal(first_inputs(5), first_inputs(6))


def test_epoch_len_gives_fixed_epochs_from_an_endless_stream(many_shards):
    url = str(many_shards / "train-{000000..000004}.tar")  # brace pattern
    loader = make_loader(url, LoaderConfig(batch_size=4, crop=CROP, train=True, epoch_len=3))
    assert len(loader) == 3
    assert [len(list(loader)) for _ in range(3)] == [3, 3, 3]
    assert loader.stats.samples == 36  # more than the 9 pairs: the stream repeats


def test_loader_argument_errors(shards, tmp_path):
    urls = shard_urls(shards, "train")
    with pytest.raises(ValueError, match="crop=None"):
        make_loader(urls, LoaderConfig(batch_size=1, crop=None, train=True))
    with pytest.raises(ValueError, match="crop=None"):
        make_loader(urls, LoaderConfig(batch_size=2, crop=None, train=False))
    with pytest.raises(ValueError, match="no shards for split 'val'"):
        shard_urls(shards, "val")
    with pytest.raises(UserError, match="prep shard"):
        shard_urls(tmp_path, "train")


def test_color_jitter_hand_values_and_errors():
    images = torch.full((2, 3, 2, 2), 0.4)
    images[1, 0] = 0.8
    identity = color_jitter(images, torch.ones(2, 3))
    torch.testing.assert_close(identity, images)
    darker = color_jitter(images, torch.tensor([[0.5, 1.0, 1.0], [1.0, 1.0, 0.0]]))
    torch.testing.assert_close(darker[0], torch.full((3, 2, 2), 0.2))
    gray = 0.2126 * 0.8 + 0.7152 * 0.4 + 0.0722 * 0.4  # saturation 0: luma in every channel
    torch.testing.assert_close(darker[1], torch.full((3, 2, 2), gray))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        color_jitter(torch.zeros(3, 2, 2), torch.ones(1, 3))
    with pytest.raises(ValueError, match="factors"):
        color_jitter(images, torch.ones(2, 2))


def test_several_crops_per_decoded_pair(shards, monkeypatch):
    calls = {"n": 0}
    real = imageio.decode_codes

    def counting(data, name="<bytes>"):
        calls["n"] += 1
        return real(data, name)

    monkeypatch.setattr(imageio, "decode_codes", counting)
    monkeypatch.setattr(toprows, "decode_codes", counting)  # decode_top_rows's full decodes
    loader = make_loader(
        shard_urls(shards, "train"),
        LoaderConfig(
            batch_size=4,
            crop=16,
            train=True,
            shuffle_buffer=1,
            seed=0,
            augment=AugmentParams(hflip=True),
            epoch_len=3,
            crops_per_sample=4,
        ),
    )
    batches = list(loader)
    assert [b.input.shape[0] for b in batches] == [4, 4, 4]
    # 12 training crops + the look-ahead of the crop shuffle (4 x 4), 4 crops per decoded pair
    assert calls["n"] <= 2 * ((12 + 4 * 4) // 4 + 1)  # two decodes (stored input, target)
    with pytest.raises(ValueError, match="crops_per_sample"):
        make_loader(
            shard_urls(shards, "train"),
            LoaderConfig(batch_size=2, crop=16, train=True, crops_per_sample=0),
        )


def test_resize_shrinks_before_cropping(shards):
    loader = make_loader(
        shard_urls(shards, "train"), LoaderConfig(batch_size=1, crop=None, train=False, resize=8)
    )
    batch = next(iter(loader))
    assert min(batch.input.shape[-2:]) == 8 and batch.input.shape == batch.target.shape


def test_identity_views_take_the_target_as_input(shards):
    urls = shard_urls(shards, "train")
    always = AugmentParams(hflip=True, identity=1.0)
    for batch in make_loader(
        urls, LoaderConfig(batch_size=4, crop=CROP, train=True, augment=always)
    ):
        assert torch.equal(batch.input, batch.target)
    some = AugmentParams(hflip=False, identity=0.5)
    kinds = set()
    for batch in make_loader(urls, LoaderConfig(batch_size=4, crop=CROP, train=True, augment=some)):
        for inp, tgt, meta in zip(batch.input, batch.target, batch.meta, strict=True):
            if not meta["id"].startswith("same"):
                kinds.add(bool(torch.equal(inp, tgt)))
    assert kinds == {True, False}  # some pairs are kept, some become identity pairs


def _recipe_shard(root: Path, fast: bool) -> str:
    """A tar of photo samples: the ramp as an 8-bit PNG target (Up-filtered as `prep shard`
    writes it when ``fast``, else OpenCV's default) with one overexpose recipe."""
    path = root / "recipes-000000.tar"
    codes = imageio.Codes(_ramp())
    target = imageio.encode_png_fast_decode(codes) if fast else imageio.encode(codes, ".png")
    with tarfile.open(path, "w") as tar:
        for k in range(3):
            recipe = {"id": f"r{k}--o", "kind": "overexpose", "tau": 0.5, "gamma": 2.2}
            meta = {"format": shardfmt.FORMAT_VERSION, "scene": f"r{k}", "split": "train"}
            meta |= {"width": W, "height": H, "variants": [recipe | {"input": None}]}
            for name, data in (
                (f"r{k}.json", json.dumps(meta).encode()),
                (f"r{k}.target.png", target),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize("fast", [False, True])
def test_rendered_crops_decode_only_the_rows_they_need(tmp_path, monkeypatch, fast):
    rows: list[int] = []
    real = imageio.decode_top_rows

    def counting(data, n, name="<bytes>"):
        rows.append(n)
        return real(data, n, name)

    monkeypatch.setattr(imageio, "decode_top_rows", counting)
    loader = make_loader(
        [_recipe_shard(tmp_path, fast)],
        LoaderConfig(
            batch_size=2,
            crop=CROP,
            train=True,
            shuffle_buffer=1,
            seed=0,
            augment=ALL_AUGMENT,
            epoch_len=8,
            crops_per_sample=2,
        ),
    )
    table = imageio.curve_table(exposure.overexpose(exposure.code_levels(8), 0.5), 8)
    for batch in loader:
        for inp, tgt in zip(batch.input, batch.target, strict=True):
            target = _codes(tgt)
            assert _locate(target) is not None  # a window of the photo, flipped/rotated
            assert np.array_equal(_codes(inp), table[target])  # the recipe, bit-exact
    assert len(rows) >= 8 and all(CROP <= n <= H for n in rows) and min(rows) < H
