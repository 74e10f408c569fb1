"""Stages reading and writing ``s3://`` against a real S3-compatible server on loopback
(``moto_server``; tests/_s3.py): filter -> synthesize -> shard from and to the bucket give the
shard bytes of the local run; the storage faults end in one line naming the URL or bucket,
never a credential; a secret planted in the environment is found in nothing the runs wrote."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exposure_core import storage
from exposure_core.errors import UserError
from exposure_core.manifest import SourceItem, write_jsonl
from exposure_core.readahead import ReadAhead
from pipeline.cli import app
from tests import _datasets
from tests._s3 import BUCKET, CuttingProxy, S3Server, free_port

pytest.importorskip("s3fs", reason="the [s3] extra (pip install -e '.[s3]')")
pytest.importorskip("moto", reason="moto[server] (the [s3] extra)")

ROOT = Path(__file__).resolve().parents[1]
DATA = f"s3://{BUCKET}/data"
PARAMS = """\
io: {min_side: 16}
filter: {workers: 1}
synthesize: {workers: 1, tau_samples: 2, evs: [-1.0, 1.0]}
shard: {max_samples: 2}
train:
  preset: demo
  steps: 2
  batch_size: 2
  crop: 32
  workers: 0
  device: cpu
  log_every: 2
  val_every: 2
  val_images: 1
  checkpoint_every: 2
  shuffle_buffer: 4
  generator: {depth: 4, width: 8}
  discriminator: {width: 8}
evaluate: {workers: 1, samples: 1}
enhance: {device: cpu}
"""
TRAIN_PHOTOS = 8  # + one val and one test photo; 2 per shard: 4 train shards


def write_raw(folder: Path) -> None:
    """Ten small well-exposed photos with their source index (official splits)."""
    items = []
    for n in range(TRAIN_PHOTOS + 2):
        (folder / "demo").mkdir(parents=True, exist_ok=True)
        (folder / "demo" / f"p{n}.png").write_bytes(_datasets.photo(n, ".png"))
        split = "train" if n < TRAIN_PHOTOS else ("val" if n == TRAIN_PHOTOS else "test")
        items.append(SourceItem("demo", f"scene-{n}", f"p{n}.png", split=split))
    write_jsonl(folder / "demo" / "index.jsonl", items)


@dataclass
class Done:
    """What a ``prep`` command left: its exit code and everything it printed."""

    returncode: int
    output: str


def prep(root: Path, env: dict[str, str], *args: str, params: str | None = "params.yaml") -> Done:
    """``prep`` in this process (``CliRunner``), in ``root``, with ``env`` over an environment
    without the machine's own credentials; fresh storage clients (s3fs keeps one per
    settings, made with the credentials of its time). ``params`` None: no ``--params``."""
    import s3fs

    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith(("AWS_", "FSSPEC_"))]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        mp.chdir(root)
        s3fs.S3FileSystem.clear_instance_cache()
        argv = [*args, *(["--params", str(root / params)] if params else [])]
        result = CliRunner().invoke(app, argv, terminal_width=400)
        s3fs.S3FileSystem.clear_instance_cache()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Done(result.exit_code, result.output)


def ok(done: Done) -> str:
    assert done.returncode == 0, done.output[-4000:]
    return done.output


def error_lines(done: Done) -> list[str]:
    return [line for line in done.output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s3 = S3Server(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield s3
    s3.stop()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    (root / "params.yaml").write_text(PARAMS)
    write_raw(root / "data" / "raw")
    return root


@pytest.fixture(scope="module")
def bucket_runs(server: S3Server, root: Path) -> dict[str, str]:
    """The three data stages from and to the bucket, and the same locally; their outputs."""
    _bucket(server, root).put(str(root / "data" / "raw"), f"{BUCKET}/data/raw", recursive=True)
    out = {}
    stages = [
        ("filter", "raw", "filtered", []),
        ("synthesize", "filtered", "pairs", ["--recipes-only"]),
        ("shard", "pairs", "shards", []),
    ]
    env = server.env(root / "cache")
    for stage, src, dst, extra in stages:
        out[stage] = ok(
            prep(root, env, stage, "--input", f"{DATA}/{src}", "--output", f"{DATA}/{dst}", *extra)
        )
        ok(prep(root, {}, stage, "--input", f"data/{src}", "--output", f"data/{dst}", *extra))
    return out


def _bucket(server: S3Server, root: Path):
    import s3fs

    key, secret = server.keys["writer"]
    return s3fs.S3FileSystem(
        key=key, secret=secret, endpoint_url=server.endpoint, skip_instance_cache=True
    )


def test_data_stages_from_and_to_the_bucket_write_the_local_shard_bytes(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    fs = _bucket(server, root)
    local = root / "data" / "shards"
    names = sorted(p.name for p in local.iterdir() if not p.name.startswith("."))
    assert sum(n.startswith("train-") for n in names) == TRAIN_PHOTOS // 2
    remote = sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{BUCKET}/data/shards"))
    assert [n for n in remote if not n.startswith(".")] == names
    for name in names:
        assert fs.cat(f"{BUCKET}/data/shards/{name}") == (local / name).read_bytes(), name
    for stage, name in (("filtered", "manifest.jsonl"), ("pairs", "manifest.jsonl")):
        assert (
            fs.cat(f"{BUCKET}/data/{stage}/{name}") == (root / "data" / stage / name).read_bytes()
        )
    assert ".prep-output" in remote  # the marker that lets a later run replace the prefix


def test_a_second_run_replaces_the_prefix_and_removes_stale_objects(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    fs = _bucket(server, root)
    fs.pipe(f"{BUCKET}/data/shards/train-000099.tar", b"left over by an older run")
    env = server.env(root / "cache")
    ok(prep(root, env, "shard", "--input", f"{DATA}/pairs", "--output", f"{DATA}/shards"))
    assert not fs.exists(f"{BUCKET}/data/shards/train-000099.tar")
    local = root / "data" / "shards" / "index.json"
    assert fs.cat(f"{BUCKET}/data/shards/index.json") == local.read_bytes()


def test_an_output_prefix_no_stage_wrote_is_refused(server: S3Server, root: Path) -> None:
    fs = _bucket(server, root)
    fs.pipe(f"{BUCKET}/precious/notes.txt", b"mine")
    done = prep(
        root,
        server.env(root / "cache"),
        "filter",
        "--input",
        "data/raw",
        "--output",
        f"s3://{BUCKET}/precious",
    )
    assert done.returncode == 2
    assert f"s3://{BUCKET}/precious" in done.output and "left untouched" in done.output
    assert fs.cat(f"{BUCKET}/precious/notes.txt") == b"mine"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unreachable", "cannot reach the storage endpoint"),
        ("missing bucket", "does not exist"),
        ("refused credentials", "refused the credentials"),
        ("denied write", "access denied"),
    ],
)
def test_storage_faults_end_in_one_line_naming_the_url(
    server: S3Server, root: Path, bucket_runs: dict[str, str], case: str, expected: str
) -> None:
    cache = root / f"cache-{case.replace(' ', '-')}"
    env = server.env(cache, "reader" if case == "denied write" else "writer")
    src, dst = f"{DATA}/raw", f"s3://{BUCKET}/faults/{case.replace(' ', '-')}"
    if case == "unreachable":
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    elif case == "missing bucket":
        src = "s3://no-such-bucket/raw"
    elif case == "refused credentials":
        env["AWS_SECRET_ACCESS_KEY"] = "refused-" + env["AWS_SECRET_ACCESS_KEY"][8:]
    elif case == "denied write":
        src = "data/raw"
    before = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data").rglob("*"))
    done = prep(root, env, "filter", "--input", src, "--output", dst)
    lines = error_lines(done)
    assert done.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0], lines
    url = src if case == "missing bucket" else None
    assert (url or "s3://") in lines[0]
    assert "Traceback" not in done.output
    for value in (env["AWS_SECRET_ACCESS_KEY"], env["AWS_ACCESS_KEY_ID"]):
        assert value not in done.output
    after = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data").rglob("*"))
    assert after == before  # nothing local lost or changed
    if case == "denied write":
        assert not _bucket(server, root).exists(dst.split("://", 1)[1])


def test_a_connection_dropped_mid_upload_leaves_no_partial_object_and_a_rerun_finishes(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    """The network goes dead while ``prep shard`` uploads its tars: one line naming the URL,
    exit 1, no object under the prefix that differs from the local run's file of that name and
    no index.json (readers start from it); the rerun replaces the prefix and finishes."""
    local = root / "data" / "shards"
    expected = {p.name: p.read_bytes() for p in local.iterdir() if p.is_file()}
    dst = f"s3://{BUCKET}/drop/shards"
    proxy = CuttingProxy(server.port, cut_after=sum(map(len, expected.values())) // 3)
    env = server.env(root / "cache-drop")
    env["AWS_ENDPOINT_URL"] = proxy.endpoint
    before = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data").rglob("*"))
    try:
        done = prep(root, env, "shard", "--input", f"{DATA}/pairs", "--output", dst)
    finally:
        proxy.close()
    lines = error_lines(done)
    assert proxy.dead.is_set() and done.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and dst in lines[0], lines
    assert "Traceback" not in done.output
    assert env["AWS_SECRET_ACCESS_KEY"] not in done.output
    after = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data").rglob("*"))
    assert after == before  # nothing local lost or changed
    fs = _bucket(server, root)
    left = {Path(k).name: fs.cat_file(k) for k in fs.find(dst.split("://", 1)[1])}
    assert "index.json" not in left and len(left) < len(expected), sorted(left)
    assert ".prep-output" in left  # the marker went up first: the rerun may replace the prefix
    assert all(left[name] == expected[name] for name in left), sorted(left)  # no partial object

    ok(prep(root, server.env(root / "cache-drop"), "shard", "--input", f"{DATA}/pairs",
            "--output", dst))  # fmt: skip  # takes over the lock object the cut run left
    fs.invalidate_cache()
    assert {Path(k).name: fs.cat_file(k) for k in fs.find(dst.split("://", 1)[1])} == expected
    assert not fs.exists(f"{BUCKET}/drop/.shards.lock")


LOCK = f"{BUCKET}/locked/.filtered.lock"  # beside the output prefix s3://photos/locked/filtered


def _lock_record(host: str, pid: int) -> dict[str, object]:
    return {"stage": "filter", "host": host, "pid": pid, "started": "2026-12-07T10:00:00Z"}


def test_a_run_on_another_machine_holding_the_prefix_is_refused_by_its_lock_object(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    dst = f"s3://{BUCKET}/locked/filtered"
    fs = _bucket(server, root)
    held = _lock_record("other-machine", 4242)
    fs.pipe_file(LOCK, json.dumps(held).encode())
    env = server.env(root / "cache-lock")
    done = prep(root, env, "filter", "--input", f"{DATA}/raw", "--output", dst)
    lines = error_lines(done)
    assert done.returncode == 1 and len(lines) == 1, lines
    assert "another prep filter on other-machine (pid 4242) since 2026-12-07T10:00:00Z" in lines[0]
    assert dst in lines[0] and f"s3://{LOCK}" in lines[0] and "delete the lock" in lines[0]
    fs.invalidate_cache()
    assert not fs.exists(dst.split("://", 1)[1])  # nothing published
    assert json.loads(fs.cat_file(LOCK)) == held  # the holder's lock left as it was

    fs.rm_file(LOCK)  # that run has ended
    ok(prep(root, env, "filter", "--input", f"{DATA}/raw", "--output", dst))
    fs.invalidate_cache()
    assert fs.exists(f"{dst.split('://', 1)[1]}/manifest.jsonl")
    assert not fs.exists(LOCK)  # released


def test_a_lock_left_by_an_ended_run_of_this_host_is_taken_over(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    fs = _bucket(server, root)
    fs.pipe_file(LOCK, json.dumps(_lock_record(socket.gethostname(), gone.pid)).encode())
    dst = f"s3://{BUCKET}/locked/filtered"
    ok(prep(root, server.env(root / "cache-lock"), "filter", "--input", f"{DATA}/raw",
            "--output", dst))  # fmt: skip
    fs.invalidate_cache()
    assert not fs.exists(LOCK)


def test_a_protocol_without_its_package_names_the_package() -> None:
    with pytest.raises(UserError, match=r"pip install gcsfs"):
        storage.filesystem("gs://bucket/photos")


def test_a_planted_secret_is_in_nothing_the_runs_wrote(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    key, secret = server.keys["writer"]
    found = [
        str(p)
        for p in root.rglob("*")
        if p.is_file()
        and p.name != "params.yaml"
        and (secret.encode() in p.read_bytes() or key.encode() in p.read_bytes())
    ]
    found += [stage for stage, text in bucket_runs.items() if secret in text or key in text]
    assert found == []


def _torchrun(root: Path, env: dict[str, str], port: int, *args: str) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    full = {**base, **env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc_per_node",
        "1",
        "--rdzv_backend",
        "c10d",
        "--rdzv_endpoint",
        f"127.0.0.1:{port}",
        "--rdzv_id",
        "seen",
        str(ROOT / "tests" / "_seen_once.py"),
        *args,
    ]
    return subprocess.Popen(
        cmd, cwd=root, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _train_keys(shards: Path) -> list[str]:
    keys = []
    for tar in sorted(shards.glob("train-*.tar")):
        with tarfile.open(tar) as archive:
            keys += sorted({m.name.split(".", 1)[0] for m in archive.getmembers()})
    return keys


@pytest.fixture(scope="module")
def two_nodes(server: S3Server, root: Path, bucket_runs: dict[str, str]) -> Path:
    """Two torchrun nodes on loopback (c10d rendezvous, gloo): a loader pass and 2 training
    steps each, from the shards in the bucket; checkpoints and logs to the bucket."""
    out = root / "seen"
    out.mkdir()
    port = free_port()
    args = (f"{DATA}/shards", str(root / "params.yaml"), str(out), f"s3://{BUCKET}/run")
    nodes = [_torchrun(root, server.env(root / f"cache-node{n}"), port, *args) for n in (0, 1)]
    logs = [node.communicate(timeout=240)[0] for node in nodes]
    for node, log in zip(nodes, logs, strict=True):
        assert node.returncode == 0, log[-4000:]
    return out


def test_two_nodes_read_disjoint_shards_and_see_every_sample_once(
    server: S3Server, root: Path, two_nodes: Path
) -> None:
    ranks = [json.loads((two_nodes / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    seen = [item["key"] for r in ranks for item in r["seen"]]
    assert Counter(seen) == Counter(_train_keys(root / "data" / "shards"))  # each exactly once
    readers: dict[str, set[tuple[int, int]]] = {}
    for rank, r in enumerate(ranks):
        for item in r["seen"]:
            assert item["url"].startswith(f"{DATA}/shards/train-")
            readers.setdefault(item["url"], set()).add((rank, item["worker"]))
    assert len(readers) == TRAIN_PHOTOS // 2
    assert all(len(who) == 1 for who in readers.values())  # one reader per shard
    assert len({who for whos in readers.values() for who in whos}) == 4  # 2 nodes x 2 workers
    fs = _bucket(server, root)
    for name in ("run/ckpt/last.pt", "run/generator.pt", "run/logs/metrics.json"):
        assert fs.exists(f"{BUCKET}/{name}"), name


def test_training_resumes_from_the_checkpoint_in_the_bucket(
    server: S3Server, root: Path, two_nodes: Path
) -> None:
    env = server.env(root / "cache-resume")  # a machine that never saw the run
    run = f"s3://{BUCKET}/run"
    text = ok(
        prep(
            root,
            env,
            "train",
            "--shards",
            f"{DATA}/shards",
            "--steps",
            "3",
            "--model",
            f"{run}/generator.pt",
            "--checkpoints",
            f"{run}/ckpt",
            "--dvclive",
            f"{run}/logs",
        )
    )
    assert f"resumed from {run}/ckpt/last.pt at step 2" in text
    local = root / "cache-resume" / "g.pt"
    fs = _bucket(server, root)
    fs.get_file(f"{BUCKET}/run/generator.pt", str(local))
    from exposure_models.checkpoint import load_generator

    assert load_generator(local)[1]["step"] == 3


def test_dvc_push_and_pull_round_trip_through_the_bucket(
    server: S3Server, root: Path, bucket_runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dvc_s3", reason="dvc-s3 (the [s3] extra)")
    from dvc.repo import Repo

    for name, value in server.env(root / "cache-dvc").items():
        monkeypatch.setenv(name, value)
    repo_dir = root / "dvc-repo"
    shutil.copytree(root / "data" / "shards", repo_dir / "shards")
    repo = Repo.init(str(repo_dir), no_scm=True)
    with repo.config.edit() as conf:  # what `dvc remote add -d store s3://...` writes
        conf["remote"]["store"] = {"url": f"s3://{BUCKET}/dvc-store"}
        conf["core"]["remote"] = "store"
    repo.add(str(repo_dir / "shards"))
    before = {p.name: p.read_bytes() for p in (repo_dir / "shards").iterdir()}
    assert repo.push() > 0
    shutil.rmtree(repo_dir / "shards")
    shutil.rmtree(repo_dir / ".dvc" / "cache")
    Repo(str(repo_dir)).pull()
    assert {p.name: p.read_bytes() for p in (repo_dir / "shards").iterdir()} == before
    assert _bucket(server, root).find(f"{BUCKET}/dvc-store")  # the objects are in the bucket


def test_evaluate_and_enhance_read_and_write_the_bucket(
    server: S3Server, root: Path, two_nodes: Path
) -> None:
    env = server.env(root / "cache-use")
    run = f"s3://{BUCKET}/run"
    model = f"{run}/generator.pt"
    ok(
        prep(
            root,
            env,
            "evaluate",
            "--shards",
            f"{DATA}/shards",
            "--model",
            model,
            "--output",
            f"s3://{BUCKET}/reports",
        )
    )
    photos = [f"{DATA}/raw/demo/p0.png", f"{DATA}/raw/demo/p1.png"]
    text = ok(
        prep(root, env, "enhance", *photos, "--model", model, "--output", f"s3://{BUCKET}/fixed")
    )
    assert "written" in text
    fs = _bucket(server, root)
    assert fs.exists(f"{BUCKET}/reports/README.md")
    assert fs.exists(f"{BUCKET}/reports/metrics")
    assert sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{BUCKET}/fixed")) == ["p0.png", "p1.png"]
    done = prep(root, env, "enhance", photos[0])
    assert done.returncode == 2 and "need --output (a folder or a URL) or --in-place" in done.output
    key = photos[0].split("://", 1)[1]
    before = (fs.cat(key), fs.info(key)["LastModified"])
    text = ok(prep(root, env, "enhance", photos[0], "--model", model, "--in-place"))
    assert "left untouched" in text and "replaced" not in text  # the gate: not corrected
    assert (fs.cat(key), fs.info(key, refresh=True)["LastModified"]) == before  # nor written


def test_the_folder_source_indexes_photos_in_the_bucket(
    server: S3Server, root: Path, bucket_runs: dict[str, str]
) -> None:
    (root / "params-folder.yaml").write_text(
        PARAMS + f"data: {{sources: [folder], folder: {{path: '{DATA}/raw/demo'}}}}\n"
    )
    env = server.env(root / "cache-folder")
    ok(prep(root, env, "download", "--output", "raw-from-bucket", params="params-folder.yaml"))
    index = (root / "raw-from-bucket" / "folder" / "index.jsonl").read_text().splitlines()
    assert len(index) == TRAIN_PHOTOS + 2


def _read_passes(read: ReadAhead, passes: list[list[str]]) -> list[list[tuple[str, bytes]]]:
    """What the reader gets in each pass: (URL, bytes) per object handed on."""
    return [[(item["url"], item["stream"].read()) for item in read(urls)] for urls in passes]


@pytest.mark.parametrize("where", ["bucket", "memory"])
def test_read_ahead_hands_on_each_object_once_per_pass_and_checks_it(
    server: S3Server, root: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both fetch paths (s3fs's event loop; threads for a store without one), in memory and
    past ``memory_bytes`` in a file; the next pass fetched ahead; a corrupt or truncated
    object is one line naming its URL, before the reader sees any of it."""
    import hashlib

    import s3fs

    for name, value in server.env(root / "cache-read-ahead").items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    blobs = {f"t{n}.tar": bytes([n]) * (1000 + 700 * n) for n in range(5)}
    if where == "bucket":
        base, fs = f"s3://{BUCKET}/read-ahead", _bucket(server, root)
    else:
        import fsspec

        base, fs = "memory://read-ahead", fsspec.filesystem("memory")
    for name, data in blobs.items():
        fs.pipe_file(f"{base.split('://', 1)[1]}/{name}", data)
    urls = [f"{base}/{name}" for name in blobs]
    sums = {u: hashlib.sha256(blobs[u.rsplit("/", 1)[1]]).hexdigest() for u in urls}
    read = ReadAhead(depth=2, expected=sums, repeat=True, memory_bytes=2000)
    passes = [urls, urls[::-1], urls[2:] + urls[:2]]
    got = _read_passes(read, passes)
    assert got == [[(u, blobs[u.rsplit("/", 1)[1]]) for u in p] for p in passes]
    assert read.queued == 2  # depth: fetched for a fourth pass
    assert read.fetched == 3 * len(urls) + 2  # each object once per pass: none fetched twice
    left = {p.name for p in read.folder.iterdir()} if read.folder else set()
    assert left <= {f"{read.fetched - 1}.tar", f"{read.fetched}.tar"}  # only the fourth pass's
    assert _read_passes(read, [urls[:1]]) == [[(urls[0], blobs["t0.tar"])]]  # fewer URLs now:
    assert list(read.ahead) == [urls[0]] and read.queued == 2  # what was fetched for others went

    bad = {urls[1]: b"\x00" * len(blobs["t1.tar"]), urls[3]: blobs["t3.tar"][:-100]}
    for url, data in bad.items():
        fs.pipe_file(url.split("://", 1)[1], data)
    errors: list[Exception] = []
    read = ReadAhead(depth=2, expected=sums, handler=lambda e: errors.append(e) or True)
    assert [u for u, _ in _read_passes(read, [urls])[0]] == [urls[0], urls[2], urls[4]]
    assert [str(e) for e in errors] == [
        f"{urls[1]}: sha256 differs from index.json's (a corrupt or truncated shard: "
        f"{len(bad[urls[1]])} bytes read)",
        f"{urls[3]}: sha256 differs from index.json's (a corrupt or truncated shard: "
        f"{len(bad[urls[3]])} bytes read)",
    ]
    with pytest.raises(storage.StorageError, match=rf"^{base}/none.tar: no such object"):
        _read_passes(ReadAhead(), [[f"{base}/none.tar"]])
    if where == "memory":
        fs.rm("read-ahead", recursive=True)
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_store_without_conditional_puts_runs_without_a_lock_object(monkeypatch) -> None:
    import errno

    class NoConditionalPuts:
        def __init__(self) -> None:
            self.removed: list[str] = []

        def pipe_file(self, key: str, body: bytes, mode: str = "overwrite") -> None:
            raise OSError(errno.ENOSYS, "NotImplemented")

        def rm_file(self, key: str) -> None:
            self.removed.append(key)

    fs = NoConditionalPuts()
    monkeypatch.setattr(storage, "filesystem", lambda url: (fs, url.split("://", 1)[1]))
    ran = []
    with storage.remote_lock("s3://bucket/data/shards", "shard"):
        ran.append(True)
    assert ran == [True] and fs.removed == []  # no lock taken, none removed
