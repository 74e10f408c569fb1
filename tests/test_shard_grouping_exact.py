"""``prep shard`` gathers a photo's rows into one run where the rows are checked (in the tasks
of an engine), then groups the runs: the samples and rejects are those of grouping the rows
one by one, in manifest order, as before. The former row-by-row grouping is kept here as the
reference and both run on random manifests with every case the rules name: ids repeated
within and across photos, a target shared by two scenes, rows with problems inside a photo's
rows, a photo's rows apart in the manifest, stored inputs, names that differ but join to one
path."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest

from exposure_core.manifest import PairRow, Reject, slug
from exposure_core.shardwrite import Sample
from pipeline.stages import shard

ROOT = Path("/data/pairs")


def _reference_key(rows: list[PairRow]) -> str:
    prefixes = {r.id.split("--", 1)[0] for r in rows if "--" in r.id}
    if len(prefixes) == 1 and all("--" in r.id for r in rows):
        return prefixes.pop()
    return slug(f"{rows[0].source}-{Path(rows[0].target).stem}")


def reference_group(
    checked: list[shard.Checked], root: Path, scene_split: dict[str, str]
) -> tuple[list[Sample], list[Reject]]:
    """The grouping as it was: row by row, in manifest order."""
    rejects: list[Reject] = []
    seen: set[str] = set()
    groups: dict[Path, list[PairRow]] = {}
    sizes: dict[Path, tuple[int, int]] = {}
    for row, problem, size in checked:
        reason = f"duplicate id {row.id!r}" if row.id in seen else problem
        target = root / row.target
        if reason is None and groups.get(target, [row])[0].scene != row.scene:
            reason = f"target {row.target} is shared by two scenes"
        if reason is not None or size is None:
            files = [str(root / f) for f in (row.input, row.target) if f]
            rejects.append(Reject(files[0], str(reason), "shard", {"id": row.id, "files": files}))
            continue
        seen.add(row.id)
        groups.setdefault(target, []).append(row)
        sizes.setdefault(target, size)
    samples: list[Sample] = []
    keys: Counter[str] = Counter()
    for target, group in groups.items():
        key = _reference_key(group)
        keys[key] += 1
        if keys[key] > 1:
            key = f"{key}-{keys[key]}"
        first = group[0]
        width, height = sizes[target]
        sample = Sample(
            key, first.scene, first.source, scene_split[first.scene],
            "hash" if first.split is None else "official", target, width, height,
        )  # fmt: skip
        for row in group:
            variant = shard._variant(row)
            if not (row.recipe and row.kind != "native"):
                assert row.input is not None
                variant = dataclasses.replace(variant, input=sample.add_input(root / row.input))
            sample.variants.append(variant)
        samples.append(sample)
    return samples, rejects


def random_manifest(rng: random.Random) -> list[shard.Checked]:
    """Checked rows: photos of a few variants each, then shuffled a little and spoiled."""
    rows: list[shard.Checked] = []
    for p in range(rng.randint(1, 12)):
        scene = f"scene{rng.randint(0, 5)}"
        target = rng.choice([f"photo{p}.png", f"./photo{p}.png", f"photo{p % 3}.png"])
        source = rng.choice(["demo", "folder"])
        split = rng.choice([None, "train"])
        size = (16 + p % 3, 12)
        for v in range(rng.randint(1, 5)):
            native = rng.random() < 0.2
            row_id = rng.choice(
                [f"p{p}--v{v}", f"p{rng.randint(0, 3)}--v{v}", f"p{p}--v{v // 2}", f"odd{p}{v}"]
            )
            row = PairRow(
                row_id, scene, source, split, f"in/p{p}v{v}.png" if native else None, target,
                "native" if native else "ev", None, -1.0 + v / 4, 2.2, *size,
                "gamma", not native,
            )  # fmt: skip
            problem = "input file unusable: truncated" if rng.random() < 0.1 else None
            rows.append((row, problem, None if problem else size))
    for _ in range(rng.randint(0, 3)):  # a photo's rows apart
        i, j = rng.randrange(len(rows)), rng.randrange(len(rows))
        rows[i], rows[j] = rows[j], rows[i]
    return rows


def _as_compared(result: tuple[list[Sample], list[Reject]]) -> tuple[list, list]:
    samples, rejects = result
    return [(dataclasses.asdict(s), s.meta()) for s in samples], rejects


@pytest.mark.parametrize("seed", range(300))
def test_grouped_runs_give_the_rows_samples_and_rejects(seed: int) -> None:
    rng = random.Random(seed)
    checked = random_manifest(rng)
    scene_split = {f"scene{k}": "train" for k in range(6)}
    expected = _as_compared(reference_group(checked, ROOT, scene_split))
    checks = shard.runs_of(checked)
    assert _as_compared(shard.group_samples(checks, ROOT, scene_split)) == expected
    pairs = dict.fromkeys((r.scene, r.split) for r, _, _ in checked)  # in first appearance
    assert list(dict.fromkeys(shard.scene_splits_of(checks))) == list(pairs)


def test_a_photo_written_as_synthesize_writes_it_is_one_run() -> None:
    rng = random.Random(0)
    checked = [c for c in random_manifest(rng) if c[1] is None]
    photos = {(r.target, r.scene, r.source, r.split) for r, _, _ in checked}
    ordered = sorted(checked, key=lambda c: (c[0].target, c[0].scene, c[0].source))
    runs = shard.runs_of(ordered)
    assert all(isinstance(r, shard.RowRun) for r in runs) and len(runs) == len(photos)
