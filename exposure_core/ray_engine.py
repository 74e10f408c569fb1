"""The ``ray`` engine: a stage's per-photo function run in Ray tasks on a cluster, results in
input order.

Imported only by ``exposure_core.engines.connect`` when a stage runs with ``engine.name: ray``
(``pip install -e ".[ray]"``); the local engine never loads Ray.

How it runs: the items are cut into batches in input order; each batch is one Ray task (one CPU)
that calls the stage's own function on each of its items, the same function the local engine's
worker processes call. At most ``cluster CPUs * ahead`` tasks are in flight; results are
collected oldest task first, so they come back in input order whatever node ran them, and the
manifests and tars the stage writes from them are the local engine's bytes. The batch size only
groups work (about ``TASK_SECONDS`` of it per task, measured as results arrive); it never
changes a result.

Faults: Ray's own scheduling places the tasks and retries a task whose worker or node died
(``MAX_RETRIES`` times; lost results are rebuilt from lineage); large results spill from the
object store to disk as Ray does. A task that still fails, or a head that stops answering, stops
the stage with one ``EngineError`` line; the stage writes only into its staging folder, so no
partial output reaches the final names, and a rerun finishes the job.

Every node reads and writes the stage's files by the paths the driver gives: the data folders
must be on a file system mounted at the same path on every node (docs/scale-out.md). Each task
runs in the driver's working folder, so relative paths resolve as they do locally.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import ray
import ray.exceptions

from exposure_core.errors import EngineError

_A = TypeVar("_A")
_R = TypeVar("_R")

PROBE_TIMEOUT_S = 5.0  # a head that does not accept a connection within this is not there
HEAD_CHECK_S = 2.0  # while waiting on a result, check this often that the head still answers
TASK_SECONDS = 0.5  # aim for about this much work per task (Ray's per-task cost stays small)
MAX_BATCH = 1024
MAX_RETRIES = 3  # Ray reruns a task lost with its worker or node this many times


def _host_port(address: str) -> tuple[str, int]:
    """``host`` and ``port`` of ``host:port`` or ``ray://host:port``; EngineError otherwise."""
    bare = address.removeprefix("ray://")
    host, sep, port = bare.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise EngineError(
            f"engine.address {address!r}: expected auto, host:port or ray://host:port"
        )
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail with one line naming ``address`` when nothing accepts a connection there."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        else:
            reason = (exc.strerror or str(exc)).lower()
        raise EngineError(
            f"engine.address {address}: no Ray head answers there ({reason}); start one with "
            "`ray start --head`, or fix the address"
        ) from None


TOKEN_HINT = (
    "a cluster started by `ray start --head` (Ray 2.59 or later) checks Ray's token: give this "
    "machine the head's token in ~/.ray/auth_token or RAY_AUTH_TOKEN (`ray get-auth-token` on "
    "the head prints it)"
)


def token_file() -> Path:
    """Where Ray keeps this machine's token when no variable names one."""
    return Path.home() / ".ray" / "auth_token"


def present_token() -> bool:
    """Send this machine's Ray token to the cluster when there is one and ``RAY_AUTH_MODE`` is
    unset; True when switched on here.

    ``ray start --head`` turns Ray's token authentication on (Ray 2.59 and later), but a driver
    joining by ``host:port`` sends its token only in ``RAY_AUTH_MODE=token`` (the default from
    Ray 2.61): without this a stage could not join the cluster the docs' steps start. A token
    sent to a cluster without authentication is ignored there. An explicit ``RAY_AUTH_MODE``
    (``disabled`` included) is left as it is; the token itself is never read or shown here."""
    if "RAY_AUTH_MODE" in os.environ:
        return False
    has_token = bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"))
    if not has_token and not token_file().is_file():
        return False
    try:  # Ray's own switch: the variable, and its configuration read again
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
    except ImportError:  # a Ray without token authentication
        return False
    _enable_token_auth()
    return True


# what ``ray.init`` raises when it cannot join (a refused token: AuthenticationError, Ray 2.52+)
_REFUSED = getattr(ray.exceptions, "AuthenticationError", ConnectionError)
_JOIN_ERRORS = (ConnectionError, RuntimeError, TimeoutError, ValueError, _REFUSED)


def connect(address: str) -> RayEngine:
    """Join the cluster at ``address`` (``""``: a Ray instance started on this machine for the
    run, or the one ``RAY_ADDRESS`` names; ``auto``: the cluster this machine joined with
    ``ray start``). A process already connected to Ray keeps its connection. Joining by
    address sends this machine's Ray token when it has one (``present_token``)."""
    if not ray.is_initialized():
        if address not in ("", "auto"):
            probe(address)
            present_token()
        extra: dict[str, Any] = {} if address else {"include_dashboard": False}
        try:
            ray.init(
                address=address or None,
                logging_level=logging.ERROR,
                log_to_driver=False,
                **extra,
            )
        except _JOIN_ERRORS as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = f"; {TOKEN_HINT}" if address not in ("", "auto") else ""
            raise EngineError(
                f"engine.address {address or '(local)'}: cannot join the Ray cluster: {first}{hint}"
            ) from None
    return RayEngine(address or "(local)")


def _run_batch(fn: Callable[[_A], _R], batch: bytes, cwd: str) -> tuple[list[_R], float]:
    """One task: ``fn`` on each item of the pickled ``batch``, in order, in the driver's working
    folder; the results and the seconds they took.

    The driver pickles a batch with the standard ``pickle`` (in C) rather than leaving it to
    Ray's cloudpickle, which calls back into Python for every object: about a third of the
    driver's CPU per item. Items are module-level types already (the local engine's worker
    processes pickle them the same way)."""
    items: list[_A] = pickle.loads(batch)
    if os.getcwd() != cwd:
        try:
            os.chdir(cwd)
        except OSError:
            node = socket.gethostname()
            raise EngineError(
                f"node {node}: the folder {cwd} does not exist there; the data must be on a "
                "file system every node mounts at the same path"
            ) from None
    started = time.perf_counter()
    results = [fn(item) for item in items]
    return results, time.perf_counter() - started


_remote_batch: Any = None


def _remote() -> Any:
    global _remote_batch
    if _remote_batch is None:
        _remote_batch = ray.remote(
            num_cpus=1,
            max_retries=MAX_RETRIES,
            retry_exceptions=False,
            scheduling_strategy="SPREAD",  # over every node, not the driver's node first
        )(_run_batch)
    return _remote_batch


@dataclass
class _Batcher:
    """Batch sizes from the measured seconds per item: about ``TASK_SECONDS`` per task."""

    items: int = 0
    seconds: float = 0.0

    def record(self, n: int, seconds: float) -> None:
        self.items += n
        self.seconds += seconds

    def size(self) -> int:
        if self.items == 0:
            return 1
        per_item = self.seconds / self.items
        return max(1, min(MAX_BATCH, int(TASK_SECONDS / max(per_item, 1e-6))))


@dataclass(frozen=True)
class RayEngine:
    """Ray tasks on the connected cluster; ``address`` is shown in errors."""

    address: str
    name: str = "ray"

    def map_ordered(
        self,
        fn: Callable[[_A], _R],
        items: Iterable[_A],
        workers: int,
        ahead: int = 4,
        describe: Callable[[_A], str] = repr,
    ) -> Iterator[_R]:
        """Yield ``fn(item)`` in input order (``workers`` does not apply: the cluster's CPUs
        run the tasks). ``fn`` must be a module-level function every node can import.

        The driver is the stage's one serial process, and what it keeps of the results (a
        stage holds its manifest rows or samples until it writes them) grows by millions of
        objects. Python's cyclic garbage collector would scan all of them again each time they
        grow by a quarter: a quarter of shard's driver CPU in a profile. So each result batch, once
        received, is frozen out of the collector's scans (``gc.freeze``) until the stage's
        last result (``gc.unfreeze``; what is garbage by then is freed as usual)."""
        remote = _remote()
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = max(2, cpus * ahead)
        cwd = os.getcwd()
        batcher = _Batcher()
        source = iter(items)
        pending: deque[tuple[list[_A], Any]] = deque()
        try:
            while True:
                while len(pending) < limit:
                    batch = _take(source, batcher.size())
                    if not batch:
                        break
                    payload = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
                    pending.append((batch, remote.remote(fn, payload, cwd)))
                if not pending:
                    return
                batch, ref = pending.popleft()
                results, seconds = self._get(ref, batch, describe)
                gc.freeze()  # see the docstring
                batcher.record(len(batch), seconds)
                yield from results
        finally:
            gc.unfreeze()
            for _, ref in pending:
                ray.cancel(ref, force=False)

    def _get(
        self, ref: Any, batch: list[Any], describe: Callable[[Any], str]
    ) -> tuple[list[Any], float]:
        """The task's result; its own error as raised; a lost task or head as EngineError."""
        while True:
            try:
                return ray.get(ref, timeout=HEAD_CHECK_S)
            except ray.exceptions.GetTimeoutError:
                self._check_head()
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            except ray.exceptions.RayError as exc:
                self._check_head()  # a task lost with the head is the head's loss
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise EngineError(
                    f"Ray cluster {self.address}: the task for {describe(batch[0])} failed "
                    f"{MAX_RETRIES + 1} times ({type(exc).__name__}: {first}); nothing was "
                    "written under the final names: run the stage again"
                ) from None

    def _check_head(self) -> None:
        gcs = ray.get_runtime_context().gcs_address
        try:
            probe(gcs)
        except EngineError:
            raise EngineError(
                f"Ray cluster {self.address}: the head ({gcs}) stopped answering mid-stage; "
                "nothing was written under the final names: run the stage again"
            ) from None


def _take(source: Iterator[_A], n: int) -> list[_A]:
    batch: list[_A] = []
    for item in source:
        batch.append(item)
        if len(batch) >= n:
            break
    return batch
