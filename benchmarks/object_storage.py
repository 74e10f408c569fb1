"""Object storage against local disk, on a loopback S3-compatible server (``moto_server``).

    python benchmarks/object_storage.py --repeat 3 --workers 2 --batches 60

Figures (medians of ``--repeat`` interleaved rounds; the server and both runs share the machine):
  (a) the training loader (``make_loader``, train mode, ``--workers`` workers, endless stream)
      over the train tars in the bucket (``s3://``, read ahead into local files) vs the same
      tars on local disk: samples per second over ``--batches`` batches after a warm-up batch;
      goal >= 0.8x the local rate. Workers keep the tars they fetched for later passes
      (``loader.KEEP_BYTES``); ``--stream-only`` keeps none, so every pass streams;
  (b) ``prep filter`` + ``prep synthesize --recipes-only`` + ``prep shard`` from and to the
      bucket vs the same three on local folders: wall time of the three commands; goal <=
      1.5x; the tars and index.json compared byte for byte;
  (c) the secret access key of the run, planted in the environment of every command: its
      occurrences in every file the runs wrote (mirrors and outputs) and in their output.
Photos: the six demo photos (``prep download --sources demo``) at full size, or ``--photos``
(a folder of photos, all put in the train split).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._s3 import BUCKET, S3Server  # noqa: E402  (the loopback server the tests use)

PARAMS = """\
shard: {{split: {{train: 1.0, val: 0.0, test: 0.0}}, max_samples: 1}}
filter: {{workers: {workers}}}
synthesize: {{workers: {workers}}}
"""


def prep(cwd: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pipeline", *args, "--params", str(cwd / "params.yaml")]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start, done.stdout + done.stderr


def stages(cwd: Path, env: dict[str, str], base: str) -> tuple[float, str]:
    total, text = 0.0, ""
    for stage, src, dst, extra in (
        ("filter", "raw", "filtered", []),
        ("synthesize", "filtered", "pairs", ["--recipes-only"]),
        ("shard", "pairs", "shards", []),
    ):
        seconds, out = prep(
            cwd, env, stage, "--input", f"{base}/{src}", "--output", f"{base}/{dst}", *extra
        )
        total, text = total + seconds, text + out
    return total, text


def loader_rate(urls: list[str], workers: int, batches: int, expected: dict | None) -> float:
    from exposure_models.training.loader import LoaderConfig, make_loader

    config = LoaderConfig(
        batch_size=4, crop=128, train=True, workers=workers, epoch_len=batches + 1
    )
    loader = make_loader(urls, config, expected)
    stream = iter(loader)
    next(stream)  # workers started, first tars read
    start, samples = time.perf_counter(), 0
    for batch in stream:
        samples += int(batch.input.shape[0])
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--photos", type=Path, default=None)
    parser.add_argument(
        "--stream-only",
        action="store_true",
        help="workers keep no fetched tar (loader.KEEP_BYTES = 0): every pass streams",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="object-storage-"))
    server = S3Server(work / "moto.log").start()
    try:
        env = server.env(work / "cache")
        (work / "params.yaml").write_text(PARAMS.format(workers=args.workers))
        if args.photos is None:
            prep(work, {}, "download", "--sources", "demo", "--output", "data/raw")
        else:
            shutil.copytree(args.photos, work / "data" / "raw" / "photos")
        put = "import s3fs, sys; s3fs.S3FileSystem().put(sys.argv[1], sys.argv[2], recursive=True)"
        subprocess.run(
            [sys.executable, "-c", put, str(work / "data" / "raw"), f"{BUCKET}/data/raw"],
            env={**os.environ, **env},
            check=True,
        )
        local_s, bucket_s, outputs = [], [], ""
        for _ in range(args.repeat):
            seconds, text = stages(work, {}, "data")
            local_s.append(seconds)
            seconds, text2 = stages(work, env, f"s3://{BUCKET}/data")
            bucket_s.append(seconds)
            outputs += text + text2
        mirror = work / "cache" / "mirror" / "s3" / BUCKET / "data" / "shards"
        names = sorted(p.name for p in (work / "data" / "shards").glob("*") if p.is_file())
        same = all(
            (work / "data" / "shards" / n).read_bytes() == (mirror / n).read_bytes() for n in names
        )
        import s3fs

        key, secret = server.keys["writer"]
        fs = s3fs.S3FileSystem(key=key, secret=secret, endpoint_url=server.endpoint)
        remote_same = all(
            fs.cat(f"{BUCKET}/data/shards/{n}") == (work / "data" / "shards" / n).read_bytes()
            for n in names
            if not n.startswith(".")
        )
        os.environ.update(env)
        from exposure_core import shardfmt
        from exposure_models.training import loader

        if args.stream_only:
            loader.KEEP_BYTES = 0

        checked = shardfmt.check_shards(work / "data" / "shards", "train")
        local_urls = checked.urls(work / "data" / "shards")
        remote = f"s3://{BUCKET}/data/shards"
        sums = checked.expected_sha256(remote)
        local_rate, bucket_rate = [], []
        for _ in range(args.repeat):
            local_rate.append(loader_rate(local_urls, args.workers, args.batches, None))
            bucket_rate.append(loader_rate(checked.urls(remote), args.workers, args.batches, sums))
        found = outputs.count(secret) + outputs.count(key)
        for path in work.rglob("*"):
            if path.is_file() and path.name != "moto.log":
                data = path.read_bytes()
                found += data.count(secret.encode()) + data.count(key.encode())
        lr, br = statistics.median(local_rate), statistics.median(bucket_rate)
        ls, bs = statistics.median(local_s), statistics.median(bucket_s)
        print(f"train tars: {len(local_urls)}; workers {args.workers}; repeat {args.repeat}")
        print(
            f"(a) loader: local {lr:.1f} samples/s, bucket {br:.1f} samples/s: "
            f"{br / lr:.2f}x (goal >= 0.8)"
        )
        print(
            f"(b) filter+synthesize+shard: local {ls:.2f} s, bucket {bs:.2f} s: "
            f"{bs / ls:.2f}x (goal <= 1.5); shard bytes identical: {same and remote_same}"
        )
        print(f"(c) the planted secret (and key id) found {found} times in the runs' files/output")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
