"""A real S3-compatible server for tests: moto's standalone server, in a subprocess on 127.0.0.1.

The child serves until its stdin closes, so it never outlives the test run. Tests that need it skip with a
message saying how to provide it when it cannot start, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, replace
from typing import IO, Any

import pytest

from mirror.config import StorageConfig

_LAUNCHER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("PORT", server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test run closes our stdin (or dies)
server.stop()
"""
HOW_TO_PROVIDE = ("the S3 tests need moto's standalone server: pip install 'moto[server]' "
                  "(part of the test extra: pip install '.[test]')")
REGION = "us-east-1"
KEY_ID, SECRET = "testing-key", "testing-secret"


@dataclass
class S3Server:
    """moto's server in a subprocess; ``endpoint`` is its http://127.0.0.1:PORT."""

    proc: subprocess.Popen[str]
    endpoint: str
    version: str
    log: IO[str]

    @classmethod
    def start(cls, timeout: float = 60.0) -> S3Server:
        """Start it; raises RuntimeError (with the reason) when it cannot."""
        try:
            import moto
        except ImportError as exc:
            raise RuntimeError(f"moto is not installed ({exc})") from None
        env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        # Its request log goes to a file: a pipe nobody reads would fill up and stop the server mid-run.
        log = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log, text=True, env=env)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            proc.kill()
            proc.wait(timeout=10)
            log.seek(0)
            raise RuntimeError(f"moto server did not start: {line!r} {log.read()[-2000:]}")
        return cls(proc, f"http://127.0.0.1:{int(line.split()[1])}", moto.__version__, log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()

    def pause(self) -> None:
        """SIGSTOP the server: it accepts connections (the kernel does) but answers nothing, as a store that
        hangs; :meth:`resume` continues it with its buckets intact."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def client(self) -> Any:
        """A plain boto3 client, for tests to look into buckets."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=KEY_ID,
                            aws_secret_access_key=SECRET)

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_config(self, base: StorageConfig, bucket: str, prefix: str = "mirror") -> StorageConfig:
        """``base`` pointed at ``bucket`` on this server (path-style, test credentials)."""
        return replace(base, url=f"s3://{bucket}/{prefix}", endpoint_url=self.endpoint, region=REGION,
                       access_key_id=KEY_ID, secret_access_key=SECRET, addressing_style="path")

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def unavailable(reason: str) -> None:
    """Skip (or fail under CI=true) a test that needs the S3 server."""
    message = f"{HOW_TO_PROVIDE}; it could not be started: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
