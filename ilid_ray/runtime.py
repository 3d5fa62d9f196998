"""Connecting to Ray the same way from the CLI, jobs and tests.

A private local instance is reachable from this machine only: every Ray process of it (GCS, raylet,
object manager, workers, agents) listens on 127.0.0.1, and Ray's token authentication stays on
(opt out with the standard `RAY_AUTH_MODE=disabled`). Ray picks the node address, and with it every
bind, from "cluster mode": disabled, the node is loopback and its C++ servers bind 127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ilid_ray.config import RayConfig

LOOPBACK = "127.0.0.1"
CLUSTER_MODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # Ray's switch; "0" = single-machine node on loopback
AUTH_MODE_ENV = "RAY_AUTH_MODE"


class LocalRuntimeError(RuntimeError):
    """The local instance would not be private; nothing is left running."""


def init_ray(cfg: RayConfig | None = None, **runtime_env):
    """Join the cluster named by the config or RAY_ADDRESS (set by `ray job submit`), else start a
    private local instance. A local instance never attaches to some other cluster on the machine."""
    cfg = cfg or RayConfig()
    address = cfg.address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        _prepare_private_node()
    import ray

    if ray.is_initialized():
        return ray
    kwargs: dict = {"address": address, "log_to_driver": True}
    if address == "local":
        kwargs["include_dashboard"] = False
        if cfg.num_cpus:
            kwargs["num_cpus"] = cfg.num_cpus
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    ray.init(**kwargs)
    if address == "local":
        _check_private_node(ray)
    return ray


def _prepare_private_node() -> None:
    """Single-machine node address (read by Ray when it picks the node IP, also in child processes)
    and a private token file when token auth is on and no token is given."""
    os.environ[CLUSTER_MODE_ENV] = "0"
    if "ray" not in sys.modules:  # Ray reads both once, at import; else see below / Ray's default
        os.environ.setdefault(AUTH_MODE_ENV, "token")
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # the driver may have imported Ray already
    if not _auth_opted_out():
        ensure_private_token()


def _auth_opted_out() -> bool:
    return os.environ.get(AUTH_MODE_ENV, "token").lower() == "disabled"


def ensure_private_token() -> Path | None:
    """Ray's default token file (~/.ray/auth_token), created 0600 when missing so that other local
    users cannot read it. A token given by RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH is used as is."""
    import secrets

    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return None
    path = Path.home() / ".ray" / "auth_token"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path


def _check_private_node(ray) -> None:
    from ray._raylet import AuthenticationMode, get_authentication_mode

    node_ip = ray.util.get_node_ip_address()
    problem = None
    if node_ip != LOOPBACK:
        problem = f"the local Ray node came up on {node_ip}, not {LOOPBACK}"
    elif not _auth_opted_out() and get_authentication_mode() != AuthenticationMode.TOKEN:
        problem = (f"the local Ray instance started without token authentication (set {AUTH_MODE_ENV}=token "
                   f"before Ray is imported, or {AUTH_MODE_ENV}=disabled to opt out)")
    if problem:
        ray.shutdown()
        raise LocalRuntimeError(f"{problem}; refusing to run it")
