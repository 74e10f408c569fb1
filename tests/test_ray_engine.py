"""engine: ray on a real 2-node Ray cluster on 127.0.0.1 (``ray.cluster_utils.Cluster``, one CPU
per node): the demo corpus through filter -> synthesize -> shard gives the local engine's bytes,
and so do prep evaluate's report and prep download's files; a worker node killed mid-stage and a
fresh one joining changes no byte (or stops with one line, nothing under the final names, and a
rerun finishes); an address nobody answers fails fast."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from exposure_core.errors import EngineError
from pipeline.params import EngineParams, Params, load_params
from pipeline.stages import download as download_stage
from pipeline.stages import filter as filter_stage
from pipeline.stages import shard as shard_stage
from pipeline.stages import synthesize as synth_stage

ray = pytest.importorskip(
    "ray", reason='Ray is not installed: pip install -e ".[ray]" (make test installs it)'
)
from ray.cluster_utils import Cluster  # noqa: E402

from exposure_core import ray_engine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
# the head notices a lost node within about a second (Ray's default: 15 s and more)
FAST_HEALTH = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 300,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and one worker node, this process connected as the driver."""
    made = Cluster(
        initialize_head=True,
        head_node_args={**NODE, "include_dashboard": False, "_system_config": FAST_HEALTH},
    )
    made.add_node(**NODE)
    made.wait_for_nodes()
    ray.init(address=made.address, logging_level=logging.ERROR, log_to_driver=False)
    yield made
    ray.shutdown()
    made.shutdown()


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus, as `make demo` downloads it (six photos)."""
    folder = tmp_path_factory.mktemp("corpus") / "raw"
    download_stage.run(load_params(None), folder)
    return folder


def _params(name: str, address: str = "", **synth) -> Params:
    base = load_params(None)
    return dataclasses.replace(
        base,
        engine=EngineParams(name, address),
        synthesize=dataclasses.replace(base.synthesize, **synth),
    )


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _data_stages(params: Params, raw: Path, out: Path) -> None:
    filter_stage.run(params, raw, out / "filtered")
    synth_stage.run(params, out / "filtered", out / "pairs")
    shard_stage.run(params, out / "pairs", out / "shards")


@pytest.fixture(scope="module")
def local(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """filter -> synthesize (recipes, as dvc.yaml runs it) -> shard on the local engine."""
    out = tmp_path_factory.mktemp("local")
    _data_stages(_params("local", write_images=False), raw, out)
    return out


def test_ray_cluster_gives_the_local_bytes(
    cluster: Cluster, raw: Path, local: Path, tmp_path: Path
) -> None:
    """filter -> synthesize (recipes, as dvc.yaml runs it) -> shard: every file the same
    (the outputs at the depth of the local ones: a manifest names its input relative to it)."""
    on_ray = tmp_path
    _data_stages(_params("ray", cluster.address, write_images=False), raw, on_ray)
    assert len(ray.nodes()) == 2
    for stage in ("filtered", "pairs", "shards"):
        expected = _tree(local / stage)
        assert expected, stage
        assert _tree(on_ray / stage) == expected, f"{stage}: the ray engine wrote other bytes"
    assert list((on_ray / "shards").glob("*.tar"))
    assert gc.get_freeze_count() == 0  # the driver's results are back in the collector's care


def _functions_run_on_ray(monkeypatch: pytest.MonkeyPatch) -> list:
    """The functions the Ray engine is asked to map from now on, in order (recorded, then run)."""
    ran: list = []
    real_map = ray_engine.RayEngine.map_ordered

    def counted(self, fn, items, *args, **kwargs):
        ran.append(fn)
        return real_map(self, fn, items, *args, **kwargs)

    monkeypatch.setattr(ray_engine.RayEngine, "map_ordered", counted)
    return ran


def test_evaluate_on_the_cluster_gives_the_local_report(
    cluster: Cluster, local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prep evaluate (the demo's test split and an MSEC-style folder with five experts and EV 0
    renders, sample grids on): the model runs in this process, every pair's baselines and
    metrics in Ray tasks, and every report file is the local engine's (2 worker processes)."""
    from pipeline.stages import evaluate as evaluate_stage
    from tests._datasets import msec_split
    from tests._models import constant_gain_model

    for name, payload in msec_split("testing", ["a0001-x"]).items():
        (tmp_path / "msec" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "msec" / name).write_bytes(payload)
    model = constant_gain_model(tmp_path / "model.pt", 0.5)
    ran = _functions_run_on_ray(monkeypatch)
    reports = {}
    for engine in ("local", "ray"):
        params = _params(engine, cluster.address if engine == "ray" else "")
        params = dataclasses.replace(
            params, evaluate=dataclasses.replace(params.evaluate, resolution=48, workers=2)
        )
        out = tmp_path / f"report-{engine}"
        folders = [tmp_path / "msec" / "testing"]
        evaluate_stage.run(params, local / "shards", model, out, folders)
        reports[engine] = _tree(out)
    ran_names = [f"{fn.__module__}.{fn.__name__}" for fn in ran]
    assert ran_names == ["pipeline.evaluation.pairwork.run"] * 2  # the test split, the MSEC folder
    assert any(name.startswith("samples/") for name in reports["local"])
    assert reports["ray"] == reports["local"]


def test_download_on_the_cluster_gives_the_local_files(
    cluster: Cluster, raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prep download: the demo photos decoded and written as PNG, and a local MSEC copy's
    headers checked (one scene's target of another size), in Ray tasks: the same files, the
    same index and rejects as the local engine's."""
    from tests._datasets import msec_split, photo

    copy = tmp_path / "msec"
    for name, payload in msec_split("training", ["a0001-x", "a0002-y"]).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(payload)
    (copy / "training" / "GT_IMAGES" / "a0001-x.jpg").write_bytes(photo(6, width=96))
    ran = _functions_run_on_ray(monkeypatch)
    trees = {}
    for engine in ("local", "ray"):
        base = _params(engine, cluster.address if engine == "ray" else "")
        data = dataclasses.replace(
            base.data,
            sources=["demo", "msec"],
            msec=dataclasses.replace(base.data.msec, path=str(copy), splits=["training"]),
        )
        out = tmp_path / engine
        download_stage.run(dataclasses.replace(base, data=data), out)
        trees[engine] = _tree(out)
    assert [fn.__name__ for fn in ran] == ["write_photo", "scene_size_mismatch"]
    assert "a0001-x" in (tmp_path / "local" / "rejects.jsonl").read_text()
    assert {k: v for k, v in trees["local"].items() if k.startswith("demo/")} == {
        k: v for k, v in _tree(raw).items() if k.startswith("demo/")
    }
    assert trees["ray"] == trees["local"]


@pytest.fixture(scope="module")
def pairs(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files of `prep synthesize` (every pair image written) on the local engine."""
    out = tmp_path_factory.mktemp("pairs") / "local"
    synth_stage.run(_params("local", write_images=True), raw, out)
    return _tree(out)


def test_worker_node_lost_mid_stage(
    cluster: Cluster,
    raw: Path,
    pairs: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker node's processes are killed once the first photo is back (the others are in
    flight on both nodes) and a fresh node joins: the same bytes as the local engine, or one
    clear line, nothing under the final name, and a rerun that finishes with the same bytes."""
    expected = pairs
    worker = next(node for node in cluster.worker_nodes)
    real_track = synth_stage.track
    killed: list[float] = []

    def track_then_kill(items, description, total=None):
        for n, item in enumerate(real_track(items, description, total=total)):
            yield item
            if n == 0:
                killed.append(_wait_for_a_task(worker))
                cluster.remove_node(worker, allow_graceful=False)
                cluster.add_node(**NODE)

    monkeypatch.setattr(synth_stage, "track", track_then_kill)
    params = _params("ray", cluster.address, write_images=True)
    out = tmp_path / "ray"
    try:
        synth_stage.run(params, raw, out)
    except EngineError as exc:  # Ray gave up on a task: one line, no partial final output
        assert "\n" not in str(exc) and "run the stage again" in str(exc)
        assert not out.exists()
        monkeypatch.setattr(synth_stage, "track", real_track)
        synth_stage.run(params, raw, out)
    assert killed == [True], "the worker node was never removed while it ran a task"
    assert worker not in cluster.worker_nodes
    assert _tree(out) == expected


def _wait_for_a_task(node, timeout: float = 20.0) -> bool:
    """Wait until one of ``node``'s worker processes runs a task (Ray titles it
    ``ray::_run_batch``); False when none did within ``timeout`` seconds."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in raylet.children(recursive=True):
            try:
                if "_run_batch" in " ".join(child.cmdline()):
                    return True
            except psutil.Error:
                continue
        time.sleep(0.05)
    return False


def test_head_lost_mid_stage_then_a_rerun_on_another_head(
    cluster: Cluster, raw: Path, pairs: dict[str, str], tmp_path: Path
) -> None:
    """`prep synthesize --address HEAD` while HEAD (a one-node cluster of its own) is killed
    once the first photo is written: exit 1 with one error line naming HEAD (Ray's own log
    lines may come before it), no output under the final name; the stage run again on another
    head resumes and writes the local engine's bytes."""
    params_file = tmp_path / "params.yaml"
    params_file.write_text("synthesize:\n  write_images: true\n")
    assert load_params(params_file) == _params("local", write_images=True)
    head = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    address = head.address
    out = tmp_path / "pairs"
    partial = out.with_name("pairs.partial")
    run: subprocess.Popen | None = None
    try:
        run = _prep("synthesize", raw, out, params_file, address)
        deadline = time.monotonic() + 60
        while not list(partial.glob("*/*.png")) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        assert list(partial.glob("*/*.png")), "no photo written within 60 s"
        lost = time.monotonic()
        head.remove_node(head.head_node, allow_graceful=False)
        stdout, stderr = run.communicate(timeout=60)
        waited = time.monotonic() - lost
    finally:
        if run is not None and run.poll() is None:  # never left behind, whatever failed
            run.kill()
            run.communicate()
        head.shutdown()
    lines = (stdout + stderr).strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert run.returncode == 1, lines
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert address in errors[0] and "stopped answering mid-stage" in errors[0]
    assert waited < 30, waited
    assert not out.exists() and partial.is_dir()
    synth_stage.run(_params("ray", cluster.address, write_images=True), raw, out)
    assert not partial.exists()
    assert _tree(out) == pairs


def _prep(stage: str, raw: Path, out: Path, params: Path, address: str) -> subprocess.Popen:
    """``prep STAGE`` in a fresh process (a driver of the cluster at ``address``)."""
    args = [stage, "--input", str(raw), "--output", str(out), "--params", str(params)]
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args, "--address", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dead_address_fails_fast_naming_it(raw: Path, tmp_path: Path) -> None:
    """A fresh process (not connected to Ray) told a port nobody listens on: one line naming
    the address, exit 1, within 30 s, nothing written."""
    address = f"127.0.0.1:{_free_port()}"
    out = tmp_path / "filtered"
    started = time.perf_counter()
    args = ["filter", "--input", str(raw), "--output", str(out), "--address", address]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--engine", "ray"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    elapsed = time.perf_counter() - started
    shown = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, shown
    assert address in shown and "no Ray head answers" in shown
    assert len(shown.splitlines()) == 1, shown
    assert elapsed < 30
    assert not out.exists() and not out.with_name("filtered.partial").exists()


def test_ray_address_forms_checked() -> None:
    from exposure_core import ray_engine

    with pytest.raises(EngineError, match="ray://127.0.0.1:1"):
        ray_engine.probe("ray://127.0.0.1:1", timeout=2)
    with pytest.raises(EngineError, match="expected auto, host:port or ray://host:port"):
        ray_engine.probe("nohost")


def _without_ray_auth(home: Path) -> dict[str, str]:
    """A shell's environment as a user has it: HOME ``home``, no Ray authentication variable
    (this test process may carry the ``RAY_AUTH_MODE`` that starting its clusters set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    return {**env, "HOME": str(home), "COLUMNS": "200"}


@pytest.fixture
def ray_start_head(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A head started as the docs say, `ray start --head`, in a HOME of its own that holds a
    Ray token (``ray get-auth-token --generate``, or any earlier `ray.init()` on the machine,
    writes ``~/.ray/auth_token``; `ray start --head` then turns token authentication on); its
    address and that HOME. Stopped (the `--block` process and all it started) afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    ray_cli = str(Path(sys.executable).with_name("ray"))
    generate = [ray_cli, "get-auth-token", "--generate"]
    subprocess.run(generate, capture_output=True, env=_without_ray_auth(home), check=True)
    assert (home / ".ray" / "auth_token").is_file()
    port = _free_port()
    args = ["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", "--block"]
    head = subprocess.Popen(
        [ray_cli, "start", *args, "--disable-usage-stats"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_without_ray_auth(home),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert head.poll() is None, "ray start --head exited"
            try:
                ray_engine.probe(f"127.0.0.1:{port}", timeout=1)
                break
            except EngineError:
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", home
    finally:
        family = [head, *psutil.Process(head.pid).children(recursive=True)]
        head.terminate()
        try:
            head.wait(timeout=30)
        finally:
            for process in family[1:]:
                if process.is_running():
                    process.kill()


def test_prep_joins_a_head_started_by_ray_start(
    ray_start_head: tuple[str, Path], raw: Path, local: Path, tmp_path: Path
) -> None:
    """docs/scale-out.md's steps as a user runs them: `ray start --head` (token authentication
    on, as Ray 2.59 and later start it), then `prep filter --address HOST:PORT` from a shell
    without Ray variables: the stage joins with this machine's token and writes the local
    bytes. From a machine without the token: one line naming the address and where the token
    goes (never the token), exit 1, nothing written."""
    address, home = ray_start_head
    out = tmp_path / "filtered"
    args = ["filter", "--input", str(raw), "--output", str(out), "--address", address]
    command = [sys.executable, "-m", "pipeline", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env=_without_ray_auth(home), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert _tree(out) == _tree(local / "filtered")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    refused = tmp_path / "refused"
    args = ["filter", "--input", str(raw), "--output", str(refused), "--address", address]
    started = time.monotonic()
    command = [sys.executable, "-m", "pipeline", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env=_without_ray_auth(elsewhere), timeout=120)  # fmt: skip
    shown = (done.stdout + done.stderr).strip().splitlines()
    errors = [line for line in shown if line.startswith("error:")]
    assert done.returncode == 1, shown
    assert len(errors) == 1 and errors[0] == shown[-1], shown
    assert address in errors[0] and "~/.ray/auth_token" in errors[0]
    assert (home / ".ray" / "auth_token").read_text().strip() not in "\n".join(shown)
    assert time.monotonic() - started < 30
    assert not refused.exists() and not refused.with_name("refused.partial").exists()
