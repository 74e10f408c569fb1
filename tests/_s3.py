"""A real S3-compatible server on loopback for the object-storage tests: ``moto_server`` (from
``moto[server]``) in a subprocess on a free port, with IAM enforced after its set-up so that
refused credentials and denied writes are real answers of the server, not mocks."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BUCKET = "photos"
SETUP_ACTIONS = 7  # requests the server answers without checking credentials: the set-up below


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    """``moto_server`` on 127.0.0.1 with a bucket, a read-write user and a read-only user."""

    log: Path
    port: int = field(default_factory=free_port)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS)}
        code = "from moto.server import main; main()"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"moto_server exited: {self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start within 30 s")
        self._set_up()
        return self

    def _set_up(self) -> None:
        import boto3

        kw = {
            "endpoint_url": self.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "set-up",
            "aws_secret_access_key": "set-up",
        }
        iam, s3 = boto3.client("iam", **kw), boto3.client("s3", **kw)
        users = {"writer": ["s3:*"], "reader": ["s3:Get*", "s3:List*", "s3:Head*"]}
        for user, actions in users.items():  # 3 actions each
            iam.create_user(UserName=user)
            allow = {"Effect": "Allow", "Action": actions, "Resource": "*"}
            policy = {"Version": "2012-10-17", "Statement": [allow]}
            iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        s3.create_bucket(Bucket=BUCKET)  # the 7th

    def env(self, cache: Path, user: str = "writer") -> dict[str, str]:
        """The environment of a client: credentials, endpoint and mirror folder, and no AWS
        files of the machine's own."""
        key, secret = self.keys[user]
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(cache / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(cache / "no-aws-credentials"),
            "AWS_MAX_ATTEMPTS": "2",
            "PREP_CACHE": str(cache),
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class CuttingProxy:
    """A TCP relay on loopback in front of the server that goes dead mid-transfer: once
    ``cut_after`` bytes have been sent up through it from the first PUT request on, it closes
    every connection and refuses new ones (a network that drops while an upload is under way)."""

    def __init__(self, target_port: int, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.put_bytes = 0
        self.dead = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.dead.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upload: bool) -> None:
        try:
            while not self.dead.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if upload and (self.put_bytes or data.startswith(b"PUT ")):
                    with self.lock:  # every byte sent up from the first PUT on
                        self.put_bytes += len(data)
                        if self.put_bytes > self.cut_after:
                            self.cut()
                            return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _shut(sock)

    def cut(self) -> None:
        """Drop every open connection now; later ones are closed as soon as they open."""
        self.dead.set()
        for sock in self.sockets:
            _shut(sock)

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
