"""One running Serve instance for the serve tests: the tiny-model app at `/`, and a "guarded" copy at
`/guarded` with an API key and tiny queues (to see 401s and 503s). Started once for the package."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

PHOTO = Path(__file__).resolve().parents[1] / "data" / "real-photos" / "levelling_foot.png"
API_KEY_ENV = "ILID_TEST_API_KEY"
API_KEY = "test-key-0123456789"
MAX_UPLOAD = 2 * 1024 * 1024
GUARDED_RETRY_AFTER = 3


@dataclass(frozen=True)
class ServeApp:
    base: str  # the main app (no auth)
    guarded: str  # same models behind an API key, tiny queues
    api_key: str = API_KEY
    max_upload: int = MAX_UPLOAD
    retry_after: int = GUARDED_RETRY_AFTER


@pytest.fixture(scope="session")
def photo() -> Path:
    """A real photo (MIT licence, tests/data/real-photos/LICENSE)."""
    return PHOTO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ADAPTER_IDS = ("acme-gears", "boltz-fasteners", "cnc-profiles")
MAX_ADAPTERS_PER_REPLICA = 2  # fewer than the registry holds: the scorer's LRU must evict and reload


def write_adapter_registry(root: Path, ids=ADAPTER_IDS, variant: str = "coopiata") -> Path:
    """Tiny-CLIP checkpoints of one variant, each with its own (random) trainable tensors."""
    import torch

    from ilid_ray.models import TINY_MODEL, load_clip, save_trainable

    for i, model_id in enumerate(ids):
        model = load_clip(model_name=TINY_MODEL, pretrained=None, variant=variant)
        torch.manual_seed(100 + i)
        with torch.no_grad():
            for param in model.trainable_parameters():
                param.add_(torch.randn_like(param) * 0.5)
        save_trainable(model, root / model_id)
    return root


@pytest.fixture(scope="package")
def adapter_registry(tmp_path_factory) -> Path:
    return write_adapter_registry(tmp_path_factory.mktemp("adapters"))


@pytest.fixture(scope="package")
def serve_app(ray_local, adapter_registry):
    from ray import serve
    from ray.serve.api import RunTarget, run_many

    from ilid_ray.serve.deployments import build_app
    from ilid_ray.serve.runner import http_settings, load_serve_config

    main = load_serve_config(None, [f"limits.max_upload_bytes={MAX_UPLOAD}", "limits.max_prompts=4",
                                    f"clip.adapters={adapter_registry}",
                                    f"clip.max_adapters_per_replica={MAX_ADAPTERS_PER_REPLICA}"])
    guarded = load_serve_config(None, [f"api_key_env={API_KEY_ENV}", "retry_after_s=4", "masks.max_returned=2"])
    guarded.deployment_options["SegmentIngress"].update(
        max_ongoing_requests=2, max_queued_requests=1,
        backpressure_config={"status_code": 503, "retry_after_s": GUARDED_RETRY_AFTER},
        autoscaling_config={"min_replicas": 1, "max_replicas": 1},
        ray_actor_options={"num_cpus": 0.1, "runtime_env": {"env_vars": {API_KEY_ENV: API_KEY}}})
    guarded.deployment_options["SamSegmenter"].update(
        max_ongoing_requests=1, max_queued_requests=1, autoscaling_config={"min_replicas": 1, "max_replicas": 1})
    http = http_settings(main, port=free_port())
    serve.start(http_options=http)
    run_many([RunTarget(build_app(main.app, main.deployment_options), name="ilid", route_prefix="/"),
              RunTarget(build_app(guarded.app, guarded.deployment_options), name="guarded",
                        route_prefix="/guarded")])
    base = f"http://{http['host']}:{http['port']}"
    yield ServeApp(base=base, guarded=f"{base}/guarded")
    serve.shutdown()
