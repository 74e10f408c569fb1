"""Object storage against local disk, on a loopback S3-compatible server (``moto_server``).

    python benchmarks/object_storage.py --repeat 7 --batches 60 --stream-only

Figures (medians of ``--repeat`` interleaved rounds; the server and both runs share the machine):
  (a) the training loader (``make_loader``, train mode, ``--workers`` workers, endless stream)
      over the train tars in the bucket (``s3://``: one GET per tar, read ahead, sha256
      checked) vs the same tars on local disk: samples per second over ``--batches`` batches
      after a warm-up of two batches per worker (each worker has set up its storage client);
      goal >= 0.8x the local rate. Workers keep the tars they fetched for later passes
      (``loader.KEEP_BYTES``); ``--stream-only`` keeps none, so every pass streams.
      Where the time goes, measured in the same rounds without the loader:
      - the ceiling: the server alone serving the train tars to a plain botocore client
        (boto3, ``workers x READ_AHEAD`` requests in flight, nothing else running), as tars
        and as samples per second (a tar read gives the loader its photos x
        ``crops_per_sample`` samples); the bucket loader's rate is also given against it;
      - our fetch path alone (``readahead.ReadAhead``, same depth, sha256 checked, no decoding);
      - CPU per tar: the server's, the client's (boto3; ours), the sha256; decoding per sample
        (the local loader's workers);
  (b) ``prep filter`` + ``prep synthesize --recipes-only`` + ``prep shard`` from and to the
      bucket vs the same three on local folders: wall time of the three commands; goal <=
      1.5x; the tars and index.json compared byte for byte (``--loader-only`` skips it);
  (c) the secret access key of the run, planted in the environment of every command: its
      occurrences in every file the runs wrote (mirrors and outputs) and in their output.
Photos: the six demo photos (``prep download --sources demo``) at full size, one per tar, or
``--photos`` (a folder of photos, all put in the train split), or ``--crops N`` (N seeded
256 px JPEG crops, like Places365's); ``--max-samples`` photos per tar.

    python benchmarks/object_storage.py --crops 256 --max-samples 32 --repeat 5 --batches 60 \
        --stream-only --loader-only      # shards as a real corpus has them: 32 photos a tar
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._s3 import BUCKET, S3Server  # noqa: E402  (the loopback server the tests use)

PARAMS = """\
shard: {{split: {{train: 1.0, val: 0.0, test: 0.0}}, max_samples: {max_samples}}}
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


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU time (user + system) of ``processes`` (those that ended count 0)."""
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@dataclass
class Rate:
    """One timed run: items per second and the CPU seconds per item of each process."""

    per_second: float
    cpu_ms: dict[str, float]


def loader_config(preset: str, workers: int, batches: int) -> Any:
    """The training loader's settings: those ``prep train`` takes from ``preset`` (its batch,
    crop, resize, crops per decoded photo, augmentation, shuffle buffer), or for ``none`` a
    bare loader (batch 4, crop 128, one crop per decode: the cheapest decoding per sample)."""
    from exposure_models.training.loader_config import LoaderConfig
    from pipeline.params import load_params

    if preset == "none":
        return LoaderConfig(batch_size=4, crop=128, train=True, workers=workers,
                            epoch_len=batches)  # fmt: skip
    p = load_params(None, {"train.preset": preset}).train
    return LoaderConfig(
        batch_size=p.batch_size, crop=p.crop, train=True, shuffle_buffer=p.shuffle_buffer,
        workers=workers, seed=p.seed, augment=p.augment, epoch_len=batches, resize=p.resize,
        crops_per_sample=p.crops_per_sample, square=p.resize_mode == "square",
    )  # fmt: skip


def loader_rate(
    urls: list[str],
    config: Any,
    batches: int,
    expected: dict | None,
    server: psutil.Process,
) -> Rate:
    """Samples per second of the training loader over ``urls`` (``batches`` timed after a
    warm-up of two batches per worker: each has set up its storage client), and CPU ms per
    sample of its workers and of the server."""
    from exposure_models.training.loader import make_loader

    warm = 2 * max(config.workers, 1)
    config = replace(config, epoch_len=batches + warm)
    me = psutil.Process()
    earlier = {child.pid for child in me.children(recursive=True)}
    stream = iter(make_loader(urls, config, expected))
    for _ in range(warm):
        next(stream)
    workers_now = [c for c in me.children(recursive=True) if c.pid not in earlier]
    before = (cpu_seconds(workers_now), cpu_seconds([server]))
    start, samples = time.perf_counter(), 0
    for _ in range(batches):  # not to the end: the workers stay up to be measured
        samples += int(next(stream).input.shape[0])
    seconds = time.perf_counter() - start
    cpu = {
        "workers": cpu_seconds(workers_now) - before[0],
        "server": cpu_seconds([server]) - before[1],
    }
    del stream  # its workers end
    return Rate(samples / seconds, {k: v / samples * 1000 for k, v in cpu.items()})


def raw_gets(keys: list[str], in_flight: int, seconds: float, server: psutil.Process) -> Rate:
    """The server alone: GETs of ``keys`` (cycled) by a plain boto3 client, ``in_flight`` at
    once, for about ``seconds``; tars per second and CPU ms per GET (server, this client)."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", config=Config(max_pool_connections=in_flight))

    def get(key: str) -> int:
        return len(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    me = psutil.Process()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(get, keys))  # connections and threads up
        before = (cpu_seconds([me]), cpu_seconds([server]))
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            done += len(list(pool.map(get, keys * in_flight)))
        elapsed = time.perf_counter() - start
        cpu = {"client": cpu_seconds([me]) - before[0], "server": cpu_seconds([server]) - before[1]}
    return Rate(done / elapsed, {k: v / done * 1000 for k, v in cpu.items()})


def read_ahead_rate(
    urls: list[str], depth: int, expected: dict, seconds: float, server: psutil.Process
) -> Rate:
    """Our fetch path alone: ``readahead.ReadAhead`` (one GET per tar, sha256 checked, the next
    pass fetched ahead) handing on whole passes over ``urls``, nothing decoded."""
    from exposure_core.readahead import ReadAhead

    read = ReadAhead(depth, expected, repeat=True)
    for item in read(urls):  # the client set up
        item["stream"].read()
    me = psutil.Process()
    before = (cpu_seconds([me]), cpu_seconds([server]))
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for item in read(urls):
            item["stream"].read()
            done += 1
    elapsed = time.perf_counter() - start
    for queue in read.ahead.values():  # tars of the passes to come, fetched for nothing
        for job in queue:
            job.result().discard()
    cpu = {"client": cpu_seconds([me]) - before[0], "server": cpu_seconds([server]) - before[1]}
    return Rate(done / elapsed, {k: v / done * 1000 for k, v in cpu.items()})


def sha256_ms(paths: list[Path], repeat: int = 20) -> float:
    """Median milliseconds to hash one tar (the check each fetched tar passes)."""
    times = []
    for _ in range(repeat):
        for path in paths:
            data = path.read_bytes()
            start = time.perf_counter()
            hashlib.sha256(data).hexdigest()
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def put_folder(env: dict[str, str], local: Path, remote: str) -> None:
    """Upload a folder with s3fs in a child process (this one keeps no credentials)."""
    code = "import s3fs, sys; s3fs.S3FileSystem().put(sys.argv[1], sys.argv[2], recursive=True)"
    subprocess.run(
        [sys.executable, "-c", code, str(local), remote], env={**os.environ, **env}, check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0, help="per round, raw GET phases")
    parser.add_argument("--photos", type=Path, default=None)
    parser.add_argument(
        "--crops",
        type=int,
        default=0,
        help="instead of photos: this many seeded 256 px JPEG crops (Places365-like; "
        "benchmarks/ray_engine.py's make_crops)",
    )
    parser.add_argument("--max-samples", type=int, default=1, help="photos per tar")
    parser.add_argument(
        "--stream-only",
        action="store_true",
        help="workers keep no fetched tar (loader.KEEP_BYTES = 0): every pass streams",
    )
    parser.add_argument("--loader-only", action="store_true", help="figure (a) and (c) only")
    parser.add_argument(
        "--stages-only", action="store_true", help="figure (b) only (and the secret's count)"
    )
    parser.add_argument(
        "--preset",
        default="demo",
        help="the train preset whose loader settings are used (demo: prep train's default); "
        "none: a bare loader, one 128 px crop per decode, no resize",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="object-storage-"))
    server = S3Server(work / "moto.log").start()
    try:
        env = server.env(work / "cache")
        (work / "params.yaml").write_text(
            PARAMS.format(workers=args.workers, max_samples=args.max_samples)
        )
        if args.crops:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from ray_engine import make_crops

            make_crops(work / "data" / "raw" / "photos", args.crops)
        elif args.photos is None:
            prep(work, {}, "download", "--sources", "demo", "--output", "data/raw")
        else:
            shutil.copytree(args.photos, work / "data" / "raw" / "photos")
        put_folder(env, work / "data" / "raw", f"{BUCKET}/data/raw")
        local_s, bucket_s, server_s, outputs = [], [], [], ""
        moto = [psutil.Process(server.process.pid)]  # type: ignore[union-attr]
        for _ in range(0 if args.loader_only else args.repeat):
            seconds, text = stages(work, {}, "data")
            local_s.append(seconds)
            before = cpu_seconds(moto)
            seconds, text2 = stages(work, env, f"s3://{BUCKET}/data")
            server_s.append(cpu_seconds(moto) - before)
            bucket_s.append(seconds)
            outputs += text + text2
        shards = work / "data" / "shards"
        if args.loader_only:
            outputs += stages(work, {}, "data")[1]
            put_folder(env, shards, f"{BUCKET}/data/shards")
        import s3fs

        key, secret = server.keys["writer"]
        if args.stages_only:
            ls, bs = statistics.median(local_s), statistics.median(bucket_s)
            mirror = work / "cache" / "mirror" / "s3" / BUCKET / "data" / "shards"
            same = all(
                (shards / n.name).read_bytes() == n.read_bytes()
                for n in mirror.iterdir()
                if n.is_file()
            )
            runs = ", ".join(f"{b / a:.2f}x" for a, b in zip(local_s, bucket_s, strict=True))
            print(
                f"(b) filter+synthesize+shard: local {ls:.2f} s, bucket {bs:.2f} s: "
                f"{bs / ls:.2f}x (goal <= 1.5; each repeat: {runs}); shard bytes identical: "
                f"{same}"
            )
            print(
                f"    the loopback server's CPU during the bucket stages: "
                f"{statistics.median(server_s):.2f} s (on the same cores as the stages)"
            )
            found = outputs.count(secret) + outputs.count(key)
            print(f"(c) the planted secret (and key id) found {found} times in the runs' output")
            return
        fs = s3fs.S3FileSystem(key=key, secret=secret, endpoint_url=server.endpoint)
        names = sorted(p.name for p in shards.glob("*") if p.is_file())
        mirror = work / "cache" / "mirror" / "s3" / BUCKET / "data" / "shards"
        same = args.loader_only or all(
            (shards / n).read_bytes() == (mirror / n).read_bytes() for n in names
        )
        remote_same = all(
            fs.cat(f"{BUCKET}/data/shards/{n}") == (shards / n).read_bytes()
            for n in names
            if not n.startswith(".")
        )
        os.environ.update(env)
        from exposure_core import shardfmt
        from exposure_models.training import loader

        if args.stream_only:
            loader.KEEP_BYTES = 0
        checked = shardfmt.check_shards(shards, "train")
        local_urls = checked.urls(shards)
        remote = f"s3://{BUCKET}/data/shards"
        sums = checked.expected_sha256(remote)
        train = [e for e in json.loads((shards / "index.json").read_text())["shards"]
                 if e["split"] == "train"]  # fmt: skip
        per_tar = sum(e["samples"] for e in train) / len(train)
        config = loader_config(args.preset, args.workers, args.batches)
        per_tar *= config.crops_per_sample
        mb_per_tar = sum(e["bytes"] for e in train) / len(train) / 1e6
        in_flight = args.workers * loader.READ_AHEAD
        proc = psutil.Process(server.process.pid)  # type: ignore[union-attr]
        rounds: dict[str, list[Rate]] = {"local": [], "bucket": [], "raw": [], "ours": []}
        for _ in range(args.repeat):
            rounds["local"].append(loader_rate(local_urls, config, args.batches, None, proc))
            rounds["bucket"].append(
                loader_rate(checked.urls(remote), config, args.batches, sums, proc)
            )
            keys = [f"data/shards/{e['name']}" for e in train]
            rounds["raw"].append(raw_gets(keys, in_flight, args.seconds, proc))
            rounds["ours"].append(
                read_ahead_rate(checked.urls(remote), in_flight, sums, args.seconds, proc)
            )
        found = outputs.count(secret) + outputs.count(key)
        for path in work.rglob("*"):
            if path.is_file() and path.name != "moto.log":
                data = path.read_bytes()
                found += data.count(secret.encode()) + data.count(key.encode())

        def med(name: str, cpu: str | None = None) -> float:
            return statistics.median(
                r.per_second if cpu is None else r.cpu_ms[cpu] for r in rounds[name]
            )

        lr, br = med("local"), med("bucket")
        ratio = statistics.median(
            b.per_second / a.per_second
            for a, b in zip(rounds["local"], rounds["bucket"], strict=True)
        )
        ceiling = med("raw") * per_tar
        local_cpu, bucket_cpu, server_cpu = (
            med("local", "workers"), med("bucket", "workers"), med("bucket", "server")
        )  # fmt: skip
        server_cap = local_cpu / (local_cpu + server_cpu)
        print(
            f"train tars: {len(local_urls)} ({mb_per_tar:.2f} MB, {per_tar:g} samples per tar "
            f"read); loader: preset {args.preset}, batch {config.batch_size}, crop {config.crop}, "
            f"resize {config.resize}, {config.crops_per_sample} crop(s) per decode; workers "
            f"{args.workers}; repeat {args.repeat}" + ("; stream only" if args.stream_only else "")
        )
        print(
            f"(a) loader: local {lr:.1f} samples/s, bucket {br:.1f} samples/s (medians): "
            f"{ratio:.2f}x (median of the rounds' ratios; goal >= 0.8)"
        )
        print(
            f"    CPU per sample: the local loader {local_cpu:.1f} ms; the bucket loader "
            f"{bucket_cpu:.1f} ms (decoding and our client) + the server {server_cpu:.1f} ms = "
            f"{(bucket_cpu + server_cpu) / local_cpu:.2f}x the local CPU"
        )
        print(
            "    with the cores scarce, the ratio follows the CPU: local / (bucket + server) = "
            f"{local_cpu / (bucket_cpu + server_cpu):.2f}x; were our client free, the server's "
            f"CPU alone would hold it near local / (local + server) = {server_cap:.2f}x"
        )
        print(
            f"    the server alone (raw GETs, boto3, {in_flight} in flight, nothing else running): "
            f"{med('raw'):.1f} tars/s = {ceiling:.1f} samples/s = {ceiling / lr:.2f}x local; "
            f"the bucket loader reaches {br / ceiling:.2f}x of it"
        )
        print(
            f"    our fetch path alone (ReadAhead, depth {in_flight}, sha256, no decoding): "
            f"{med('ours'):.1f} tars/s = {med('ours') / med('raw'):.2f}x the raw GETs"
        )
        sha = sha256_ms([shards / e["name"] for e in train])
        print(
            f"    CPU per tar: server {med('raw', 'server'):.1f} ms, client "
            f"{med('raw', 'client'):.1f} ms (boto3) / {med('ours', 'client'):.1f} ms (ours, "
            f"sha256 included), sha256 {sha:.2f} ms"
        )
        if not args.loader_only:
            ls, bs = statistics.median(local_s), statistics.median(bucket_s)
            print(
                f"(b) filter+synthesize+shard: local {ls:.2f} s, bucket {bs:.2f} s: "
                f"{bs / ls:.2f}x (goal <= 1.5); shard bytes identical: {same and remote_same}"
            )
        else:
            print(f"    shard bytes in the bucket identical to the local ones: {remote_same}")
        print(f"(c) the planted secret (and key id) found {found} times in the runs' files/output")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
