"""The private local Ray instance (`ilid_ray.runtime.init_ray`): loopback only, token auth on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter (the test session's own Ray instance opts out of auth): starts a local
# instance the way the CLI does, makes it start a worker and an actor, then lists every listening
# socket of the driver and all its descendants (GCS, raylet, agents, workers) and tries to join the
# instance with a wrong token.
PROBE = r"""
import json, os, subprocess, sys
import psutil
from ilid_ray.config import RayConfig
from ilid_ray.runtime import init_ray

ray = init_ray(RayConfig(num_cpus=1))

@ray.remote
class Probe:
    def pid(self):
        return os.getpid()

actor = Probe.remote()
ray.get(actor.pid.remote())
me = psutil.Process()
sockets = []
for proc in [me, *me.children(recursive=True)]:
    try:
        sockets += [{"name": proc.name(), "ip": c.laddr.ip, "port": c.laddr.port}
                    for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        pass
from ray._raylet import AuthenticationMode, get_authentication_mode
gcs = ray.get_runtime_context().gcs_address
intruder = subprocess.run(
    [sys.executable, "-c", f"import ray; ray.init(address={gcs!r}); print('JOINED')"],
    env={**os.environ, "RAY_AUTH_TOKEN": "0" * 64}, capture_output=True, text=True, timeout=60)
print(json.dumps({"sockets": sockets, "token_auth": get_authentication_mode() == AuthenticationMode.TOKEN,
                  "intruder_joined": "JOINED" in intruder.stdout, "gcs": gcs}))
ray.shutdown()
"""

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.mark.slow
def test_local_instance_listens_on_loopback_only_with_token_auth(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS",
                                                            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    names = {s["name"] for s in report["sockets"]}
    assert {"gcs_server", "raylet"} <= names, report["sockets"]
    exposed = [s for s in report["sockets"] if s["ip"] not in LOOPBACK]
    assert not exposed, exposed
    assert report["gcs"].startswith("127.0.0.1:")
    assert report["token_auth"]
    assert not report["intruder_joined"]
    token = tmp_path / ".ray" / "auth_token"
    assert token.stat().st_mode & 0o077 == 0, oct(token.stat().st_mode)


def test_given_token_is_left_alone(tmp_path, monkeypatch):
    from ilid_ray.runtime import ensure_private_token

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "mine"))
    assert ensure_private_token() is None
    assert not (tmp_path / ".ray").exists()
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    path = ensure_private_token()
    first = path.read_text()
    assert len(first) == 64 and path.stat().st_mode & 0o777 == 0o600
    assert ensure_private_token().read_text() == first  # an existing token is kept
