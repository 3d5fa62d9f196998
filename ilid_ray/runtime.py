"""Connecting to Ray the same way from the CLI, jobs and tests."""

from __future__ import annotations

import os

from ilid_ray.config import RayConfig


def init_ray(cfg: RayConfig | None = None, **runtime_env):
    """Join the cluster named by the config or RAY_ADDRESS (set by `ray job submit`), else start a
    private local instance. A local instance never attaches to some other cluster on the machine."""
    import ray

    if ray.is_initialized():
        return ray
    cfg = cfg or RayConfig()
    address = cfg.address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict = {"address": address, "log_to_driver": True}
    if address == "local":
        # Single machine: bind to loopback and skip the token file (keep auth on real clusters).
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        kwargs["include_dashboard"] = False
        if cfg.num_cpus:
            kwargs["num_cpus"] = cfg.num_cpus
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    ray.init(**kwargs)
    return ray
