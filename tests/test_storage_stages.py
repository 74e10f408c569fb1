"""More stages on ``s3://`` against the loopback ``moto_server`` (tests/_s3.py): ``prep evaluate
--paired`` from a bucket, ``prep export`` and ``prep download`` to one. Each is compared with
the same command on local folders; the refusals end in one line naming the URL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from exposure_core import storage
from exposure_core.errors import UserError
from exposure_core.manifest import PairRow, SourceItem, read_jsonl, write_jsonl
from pipeline.evaluation.methods import EV0_RENDER
from tests import _datasets
from tests._s3 import BUCKET, S3Server

pytest.importorskip("s3fs", reason="the [s3] extra (pip install -e '.[s3]')")
pytest.importorskip("moto", reason="moto[server] (the [s3] extra)")

from tests.test_object_storage import _bucket, error_lines, ok, prep

PARAMS = """\
io: {min_side: 16}
shard: {split: {train: 0.0, val: 0.0, test: 1.0}}
evaluate: {workers: 1, samples: 0, baselines: [identity], oracle: false}
enhance: {device: cpu}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s3 = S3Server(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield s3
    s3.stop()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A test-only shard folder of two native pairs and a small generator."""
    import torch

    from exposure_models.checkpoint import save_generator
    from exposure_models.generator import UNetConfig, UNetGenerator
    from pipeline.params import load_params
    from pipeline.stages import shard

    root = tmp_path_factory.mktemp("stages")
    (root / "params.yaml").write_text(PARAMS)
    pairs = root / "pairs"
    pairs.mkdir()
    rows = []
    for n in range(2):
        (pairs / f"p{n}.target.png").write_bytes(_datasets.photo(n, ".png"))
        (pairs / f"p{n}.input.png").write_bytes(_datasets.photo(n + 10, ".png"))
        rows.append(
            PairRow(f"p{n}", f"scene-{n}", "lol", "test", f"p{n}.input.png",
                    f"p{n}.target.png", "native", None, None, None, 80, 64)
        )  # fmt: skip
    write_jsonl(pairs / "manifest.jsonl", rows)
    shard.run(load_params(root / "params.yaml"), pairs, root / "shards")
    torch.manual_seed(0)
    save_generator(root / "generator.pt", UNetGenerator(UNetConfig(depth=3, width=4)))
    return root


def _rows(report: Path, set_name: str) -> list[dict[str, str]]:
    text = (report / "per_image.csv").read_text(encoding="utf-8")
    return [r for r in csv.DictReader(io.StringIO(text)) if r["set"] == set_name]


def test_evaluate_scores_a_paired_msec_folder_in_the_bucket(server: S3Server, root: Path) -> None:
    fs = _bucket(server, root)
    for name, payload in _datasets.msec_split("testing", ["a0001-x"]).items():
        (root / "msec" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "msec" / name).write_bytes(payload)
        fs.pipe(f"{BUCKET}/eval/msec/{name}", payload)
    env = server.env(root / "cache")
    common = ("evaluate", "--shards", "shards", "--model", "generator.pt")
    url = f"s3://{BUCKET}/eval/msec/testing"
    ok(prep(root, env, *common, "--output", "from-bucket", "--paired", url))
    ok(prep(root, {}, *common, "--output", "from-disk", "--paired", "msec/testing"))
    from_bucket = _rows(root / "from-bucket", "paired:testing")
    assert len(from_bucket) == 5 * 3  # five EV renders; model, identity and the EV 0 render
    assert {r["method"] for r in from_bucket} == {"model", "identity", EV0_RENDER}
    assert from_bucket == _rows(root / "from-disk", "paired:testing")
    breakdown = json.loads((root / "from-bucket" / "breakdown.json").read_text())
    local = json.loads((root / "from-disk" / "breakdown.json").read_text())
    assert breakdown["paired"] == local["paired"]

    missing = prep(root, env, *common, "--output", "nowhere", "--paired", f"{url}-not-there")
    lines = error_lines(missing)
    assert missing.returncode != 0 and len(lines) == 1, lines
    assert f"{url}-not-there" in lines[0] and "no such object or folder" in lines[0]
    assert not (root / "nowhere" / "README.md").exists()


def test_export_writes_its_pairs_to_the_bucket(server: S3Server, root: Path) -> None:
    fs = _bucket(server, root)
    fs.put(str(root / "shards"), f"{BUCKET}/exp/shards", recursive=True)
    env = server.env(root / "cache")
    out = f"s3://{BUCKET}/exp/pairs"
    ok(
        prep(
            root,
            env,
            "export",
            "--input",
            f"s3://{BUCKET}/exp/shards",
            "--output",
            out,
            params=None,
        )
    )
    ok(prep(root, {}, "export", "--input", "shards", "--output", "export", params=None))
    local = sorted(p.name for p in (root / "export").iterdir())
    remote = sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{BUCKET}/exp/pairs"))
    assert remote == local and "index.json" in remote and ".prep-output" in remote
    for name in local:
        assert fs.cat(f"{BUCKET}/exp/pairs/{name}") == (root / "export" / name).read_bytes(), name

    before = {p: fs.cat(p) for p in fs.find(f"{BUCKET}/exp/shards")}
    shards_url = f"s3://{BUCKET}/exp/shards"
    done = prep(root, env, "export", "--input", "shards", "--output", shards_url, params=None)
    lines = error_lines(done)
    assert done.returncode == 2 and len(lines) == 1, lines
    assert (
        f"s3://{BUCKET}/exp/shards" in lines[0] and "holds the shards of `prep shard`" in lines[0]
    )
    assert {p: fs.cat(p) for p in fs.find(f"{BUCKET}/exp/shards")} == before


def test_download_publishes_the_raw_folder_to_the_bucket(server: S3Server, root: Path) -> None:
    fs = _bucket(server, root)
    photos = root / "photos"
    for n in range(2):
        (photos / f"f{n}.png").parent.mkdir(parents=True, exist_ok=True)
        (photos / f"f{n}.png").write_bytes(_datasets.photo(20 + n, ".png"))
        fs.pipe(f"{BUCKET}/dl/photos/f{n}.png", (photos / f"f{n}.png").read_bytes())
    (root / "params-dl.yaml").write_text(
        PARAMS + f"data: {{sources: [folder], folder: {{path: 's3://{BUCKET}/dl/photos'}}}}\n"
    )
    env = server.env(root / "cache-dl")
    raw = f"s3://{BUCKET}/dl/raw"
    ok(prep(root, env, "download", "--output", raw, params="params-dl.yaml"))
    names = sorted(p.split("/dl/raw/", 1)[1] for p in fs.find(f"{BUCKET}/dl/raw"))
    assert names == [".prep-output", "folder/index.jsonl", "rejects.jsonl", "sources.lock.json"]
    index = fs.cat(f"{BUCKET}/dl/raw/folder/index.jsonl").decode()
    paths = [json.loads(line)["path"] for line in index.splitlines()]
    assert paths == ["../../photos/f0.png", "../../photos/f1.png"]  # the same in the bucket
    # a machine that never saw the run: filter reads the index and the photos it names
    ok(
        prep(
            root, server.env(root / "cache-other"), "filter", "--input", raw,
            "--output", f"s3://{BUCKET}/dl/filtered", params="params-dl.yaml",
        )
    )  # fmt: skip
    manifest = fs.cat(f"{BUCKET}/dl/filtered/manifest.jsonl").decode().splitlines()
    assert len(manifest) == 2
    # a rerun replaces its own prefix (its marker)
    ok(prep(root, env, "download", "--output", raw, params="params-dl.yaml"))

    (root / "params-local.yaml").write_text(
        PARAMS + f"data: {{sources: [folder], folder: {{path: '{photos}'}}}}\n"
    )
    done = prep(
        root, env, "download", "--output", f"s3://{BUCKET}/dl/raw2", params="params-local.yaml"
    )
    lines = error_lines(done)
    assert done.returncode == 2 and len(lines) == 1, lines
    assert f"s3://{BUCKET}/dl/raw2" in lines[0] and "data.folder.path" in lines[0]
    assert not fs.exists(f"{BUCKET}/dl/raw2")
    (root / "params-msec.yaml").write_text(
        PARAMS + f"data: {{sources: [msec], msec: {{path: '{root / 'msec'}'}}}}\n"
    )
    done = prep(
        root, env, "download", "--output", f"s3://{BUCKET}/dl/raw3", params="params-msec.yaml"
    )
    lines = error_lines(done)
    assert done.returncode == 2 and len(lines) == 1 and "data.msec.path" in lines[0], lines
    assert not fs.exists(f"{BUCKET}/dl/raw3")


def test_download_of_the_demo_source_to_the_bucket_matches_the_local_run(
    server: S3Server, root: Path
) -> None:
    (root / "params-demo.yaml").write_text(PARAMS + "data: {sources: [demo]}\n")
    fs = _bucket(server, root)
    raw = f"s3://{BUCKET}/demo/raw"
    ok(
        prep(
            root, server.env(root / "cache"), "download", "--output", raw, params="params-demo.yaml"
        )
    )
    ok(prep(root, {}, "download", "--output", "raw-demo", params="params-demo.yaml"))
    local = root / "raw-demo"
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    remote = sorted(p.split("/demo/raw/", 1)[1] for p in fs.find(f"{BUCKET}/demo/raw"))
    assert remote == sorted([*files, ".prep-output"])
    for name in files:
        if name != "sources.lock.json":
            assert fs.cat(f"{BUCKET}/demo/raw/{name}") == (local / name).read_bytes(), name
    items = list(read_jsonl(local / "demo" / "index.jsonl", SourceItem))
    assert len(items) == 6


def test_evaluate_sr_reads_model_shards_and_photos_from_the_bucket(
    server: S3Server, root: Path
) -> None:
    import torch

    from exposure_models.checkpoint import save_generator
    from exposure_models.seednets.sr import RRDBConfig, RRDBGenerator

    torch.manual_seed(0)
    model = RRDBGenerator(RRDBConfig(features=8, blocks=1, growth=4, base="bicubic"))
    sr = {"train": {"sr": {"scale": 4, "degradation": "bicubic"}}}
    save_generator(root / "sr.pt", model.eval(), sr)
    fs = _bucket(server, root)
    fs.put_file(str(root / "sr.pt"), f"{BUCKET}/sr/sr.pt")
    fs.put(str(root / "shards"), f"{BUCKET}/sr/shards", recursive=True)
    fs.put(str(root / "pairs"), f"{BUCKET}/sr/photos", recursive=True)
    env = server.env(root / "cache-sr")
    url = f"s3://{BUCKET}/sr"
    sr_args = ("evaluate", "--task", "sr")
    ok(prep(root, env, *sr_args, "--model", f"{url}/sr.pt", "--shards", f"{url}/shards",
            "--output", f"{url}/report"))  # fmt: skip
    ok(prep(root, {}, *sr_args, "--model", "sr.pt", "--shards", "shards", "--output", "sr-rep"))
    remote = json.loads(fs.cat(f"{BUCKET}/sr/report/sr_metrics.json"))
    local = json.loads((root / "sr-rep" / "sr_metrics.json").read_text())
    assert remote["model"] == f"{url}/sr.pt" and local["model"] == "sr.pt"
    assert {**remote, "model": ""} == {**local, "model": ""} and remote["images"] == 2
    assert (
        fs.cat(f"{BUCKET}/sr/report/sr_results.md")
        == (root / "sr-rep" / "sr_results.md").read_bytes()
    )

    ok(prep(root, env, *sr_args, "--model", f"{url}/sr.pt", "--photos", f"{url}/photos",
            "--output", f"{url}/report-photos"))  # fmt: skip
    from_photos = json.loads(fs.cat(f"{BUCKET}/sr/report-photos/sr_metrics.json"))
    assert from_photos["images"] == 4  # the inputs and targets of the two pairs

    # prep enhance --upscale with the SR model from the bucket: the local model's bytes
    photo = root / "pairs" / "p0.target.png"
    gen = ("enhance", str(photo), "--model", "generator.pt", "--upscale", "4", "--always-correct")
    ok(prep(root, env, *gen, "--sr-model", f"{url}/sr.pt", "--output", "up-bucket"))
    ok(prep(root, {}, *gen, "--sr-model", "sr.pt", "--output", "up-disk"))
    assert (root / "up-bucket" / photo.name).read_bytes() == (
        root / "up-disk" / photo.name
    ).read_bytes()
    done = prep(root, env, *gen, "--sr-model", f"{url}/none.pt", "--output", "up-none")
    lines = error_lines(done)
    assert done.returncode != 0 and len(lines) == 1, lines
    assert f"{url}/none.pt: no such object" in lines[0]
    assert not (root / "up-none").exists()


def test_params_read_from_the_bucket(server: S3Server, root: Path) -> None:
    from pipeline.params import load_params

    fs = _bucket(server, root)
    url = f"s3://{BUCKET}/cfg/params.yaml"
    fs.pipe(url.split("://", 1)[1], (PARAMS + "filter: {workers: 3}\n").encode())
    env = server.env(root / "cache-params")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        assert load_params(url).filter.workers == 3
        fs.pipe(f"{BUCKET}/cfg/bad.yaml", b"filter: {workers: [\n")
        with pytest.raises(UserError, match=rf"^s3://{BUCKET}/cfg/bad.yaml: not valid YAML"):
            load_params(f"s3://{BUCKET}/cfg/bad.yaml")

    common = ("shard", "--input", "pairs", "--output", "shards-params", "--params")
    missing = f"s3://{BUCKET}/cfg/none.yaml"
    refused = {**env, "AWS_SECRET_ACCESS_KEY": "refused-" + env["AWS_SECRET_ACCESS_KEY"][8:]}
    for case_env, given, expected, code in (
        (env, missing, f"{missing}: no such params file", 2),
        (env, f"s3://{BUCKET}/cfg", f"s3://{BUCKET}/cfg: a folder, not a params file", 2),
        (env, "s3://no-such-bucket/params.yaml", "the bucket 'no-such-bucket' does not exist", 1),
        (refused, url, f"{url} (bucket '{BUCKET}'): the storage refused the credentials", 1),
    ):
        done = prep(root, case_env, *common, given, params=None)
        lines = error_lines(done)
        assert done.returncode == code and len(lines) == 1, lines
        assert lines[0].startswith("error: ") and expected in lines[0], lines
        assert case_env["AWS_SECRET_ACCESS_KEY"] not in done.output
        assert not (root / "shards-params").exists()


def _photo_objects(fs, prefix: str) -> dict[str, tuple[bytes, str, dict, object]]:
    """Each object under ``prefix``: bytes, content type, user metadata, modification time."""
    out = {}
    for path in sorted(fs.find(prefix)):
        name, key = path.split("/", 1)
        head = fs.call_s3("head_object", Bucket=name, Key=key)
        out[path.rsplit("/", 1)[1]] = (
            fs.cat(path),
            head.get("ContentType"),
            head["Metadata"],
            head["LastModified"],
        )
    return out


def test_enhance_in_place_replaces_each_object_in_the_bucket(server: S3Server, root: Path) -> None:
    fs = _bucket(server, root)
    local = root / "in-place"
    local.mkdir()
    photos = {"a.png": _datasets.photo(30, ".png"), "b.jpg": _datasets.photo(31, ".jpg"),
              "broken.png": b"\x89PNG\r\n\x1a\n not a photo"}  # fmt: skip
    for name, data in photos.items():
        (local / name).write_bytes(data)
        kind = "image/png" if name.endswith(".png") else "image/jpeg"
        fs.pipe_file(f"{BUCKET}/ip/{name}", data, ContentType=kind, Metadata={"owner": "team"})
    (root / "params-ip.yaml").write_text(PARAMS)
    fs.put_file(str(root / "params-ip.yaml"), f"{BUCKET}/ip-params.yaml")
    before = _photo_objects(fs, f"{BUCKET}/ip")
    args = ("enhance", "--model", "generator.pt", "--in-place", "--always-correct")
    env = server.env(root / "cache-ip")

    reader = prep(
        root, server.env(root / "cache-ip-reader", "reader"), *args, f"s3://{BUCKET}/ip",
        "--params", f"s3://{BUCKET}/ip-params.yaml", params=None,
    )  # fmt: skip
    lines = error_lines(reader)
    assert reader.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert f"s3://{BUCKET}/ip/a.png" in lines[0] and "access denied" in lines[0]
    assert "0 of 2 object(s) replaced before it" in lines[0]
    assert _photo_objects(fs, f"{BUCKET}/ip") == before  # a denied write loses nothing

    done = prep(root, env, *args, f"s3://{BUCKET}/ip", "--params", f"s3://{BUCKET}/ip-params.yaml",
                params=None)  # fmt: skip
    assert done.returncode == 1 and "failed" in done.output  # the broken photo
    assert f"2 object(s) replaced in s3://{BUCKET}/ip" in done.output
    assert prep(root, {}, *args, str(local)).returncode == 1
    after = _photo_objects(fs, f"{BUCKET}/ip")
    for name in photos:
        data, kind, meta, _ = after[name]
        assert data == (local / name).read_bytes(), name  # the local run's bytes (EXIF, ICC)
        assert (kind, meta) == before[name][1:3], name  # the object's settings kept
    assert after["broken.png"] == before["broken.png"]  # not rewritten: not written
    assert after["a.png"][0] != photos["a.png"]
    # the mirror holds the objects again: a rerun fetches only what changed
    mirror = root / "cache-ip" / "mirror" / "s3" / BUCKET / "ip" / "a.png"
    assert mirror.read_bytes() == after["a.png"][0]
    assert int(mirror.stat().st_mtime) == int(after["a.png"][3].timestamp())

    # an object changed in the bucket while the run worked on it is not overwritten
    url = f"s3://{BUCKET}/ip/b.jpg"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        copy = storage.pull(url)
        snap = {url: storage.snapshot(copy)}
        copy.with_name(".tmp").write_bytes(b"corrected")
        copy.with_name(".tmp").replace(copy)
        fs.pipe_file(f"{BUCKET}/ip/b.jpg", b"written by someone else meanwhile")
        with pytest.raises(storage.StorageError, match=rf"^{url}: changed in the store"):
            storage.write_back(snap)
        s3fs.S3FileSystem.clear_instance_cache()
    assert fs.cat(f"{BUCKET}/ip/b.jpg") == b"written by someone else meanwhile"

    missing = prep(root, env, "enhance", f"s3://{BUCKET}/ip/none.png", "--in-place")
    lines = error_lines(missing)
    assert missing.returncode != 0 and len(lines) == 1, lines
    assert f"s3://{BUCKET}/ip/none.png" in lines[0] and "no such object" in lines[0]


def test_evaluate_to_a_bucket_prefix_another_machine_holds_is_refused(
    server: S3Server, root: Path
) -> None:
    fs = _bucket(server, root)
    lock = f"{BUCKET}/reports/.busy.lock"
    held = {"stage": "evaluate", "host": "other-machine", "pid": 7, "started": "2026-12-07T09:00Z"}
    fs.pipe(lock, json.dumps(held).encode())
    out = f"s3://{BUCKET}/reports/busy"
    done = prep(root, server.env(root / "cache"), "evaluate", "--shards", "shards", "--model",
                "generator.pt", "--output", out)  # fmt: skip
    lines = error_lines(done)
    assert done.returncode == 1 and len(lines) == 1, lines
    assert "another prep evaluate on other-machine (pid 7)" in lines[0] and out in lines[0]
    assert not fs.exists(f"{BUCKET}/reports/busy")
    assert json.loads(fs.cat_file(lock)) == held
