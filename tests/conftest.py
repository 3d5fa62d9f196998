"""Shared fixtures. Integration tests start real parts (Ray, the fixture catalog server, s3rver);
one Ray instance is shared by the whole session because starting one costs seconds."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
# s3rver predates the SDKs' default request checksums and garbles such uploads (pyarrow's included);
# set before any Ray instance starts so its workers inherit it.
os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")


@pytest.fixture(scope="session")
def ray_local():
    """A private local Ray instance (never attaches to another cluster on the machine)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (s3rver) with a bucket; AWS env vars point at it for the session.
    Skips only when no s3rver binary can be found (`npm ci` installs it)."""
    from ilid_ray.testing.s3 import S3ServerUnavailable, s3rver, s3rver_command

    try:
        s3rver_command()
    except S3ServerUnavailable as exc:
        pytest.skip(str(exc))
    with s3rver() as server:
        yield server
