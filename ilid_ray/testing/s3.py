"""A real S3-compatible server (s3rver) for tests and demos, started and stopped in-process.

s3rver is the npm package `s3rver` (installed by `npm ci` from the repo's package.json). The
server runs in a temporary folder on a free loopback port; while the context is open the standard
AWS env vars point every boto3 / pyarrow / webdataset client in this process (and in Ray workers
started afterwards) at it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = SECRET_KEY = "S3RVER"
REGION = "us-east-1"
ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
            "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION")


class S3ServerUnavailable(RuntimeError):
    """No s3rver binary could be found."""


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    data_dir: Path

    def root(self, prefix: str = "") -> str:
        """An s3:// dataset root inside the server's bucket."""
        return f"s3://{self.bucket}/{prefix}".rstrip("/")

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(s3={"addressing_style": "path"}))


def s3rver_command() -> list[str]:
    """How to start s3rver here: $ILID_S3RVER, the repo's node_modules, /tmp/s3rver, or npx."""
    configured = os.environ.get("ILID_S3RVER")
    if configured:
        return configured.split()
    for candidate in (REPO_ROOT / "node_modules/.bin/s3rver", Path("/tmp/s3rver/node_modules/.bin/s3rver")):
        if candidate.exists():
            return [str(candidate)]
    npx = shutil.which("npx")
    if npx and _npx_has_s3rver(npx):
        return [npx, "--no-install", "s3rver"]
    raise S3ServerUnavailable("s3rver not found: run `npm ci` in the repo root or set ILID_S3RVER")


def _npx_has_s3rver(npx: str) -> bool:
    try:
        probe = subprocess.run([npx, "--no-install", "s3rver", "--version"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_listening(proc: subprocess.Popen, port: int, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"s3rver exited early with status {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"s3rver did not listen on port {port} within {timeout_s:.0f} s")


@contextlib.contextmanager
def s3rver(bucket: str = "ilid-test", start_timeout_s: float = 60.0) -> Iterator[S3Server]:
    """Run s3rver with one bucket; AWS env vars point at it until the context exits."""
    work = Path(tempfile.mkdtemp(prefix="ilid-s3rver-"))
    data_dir, log = work / "data", work / "s3rver.log"
    data_dir.mkdir()
    port = free_port()
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    proc = None
    try:
        proc = start_process(data_dir, port, log, start_timeout_s)
        server = S3Server(endpoint_url=f"http://127.0.0.1:{port}", bucket=bucket, data_dir=data_dir)
        # s3rver predates the SDKs' default request checksums and garbles uploads that carry them.
        os.environ.update(AWS_ENDPOINT_URL=server.endpoint_url, AWS_ACCESS_KEY_ID=ACCESS_KEY,
                          AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_REGION=REGION,
                          AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
                          AWS_RESPONSE_CHECKSUM_VALIDATION="when_required")
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(work, ignore_errors=True)


def start_process(data_dir: Path, port: int, log: Path, start_timeout_s: float = 60.0) -> subprocess.Popen:
    """s3rver serving `data_dir` on 127.0.0.1:`port`, in its own process group, once it listens
    (also a restart: the same folder and port serve the same objects again)."""
    with open(log, "ab") as log_out:  # a file, not a pipe: a chatty server can never block on it
        proc = subprocess.Popen(s3rver_command() + ["-d", str(data_dir), "-a", "127.0.0.1", "-p", str(port), "-s"],
                                stdout=subprocess.DEVNULL, stderr=log_out, start_new_session=True)
    try:
        _wait_until_listening(proc, port, start_timeout_s, log)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    """Stop the server's own process group (npx starts s3rver as a child of itself)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
