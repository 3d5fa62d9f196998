"""bench/serve_multiplex.py's setup without starting Serve (the bench itself deploys 2N+2 replicas):
the checkpoints it writes are what the serving registry lists and loads, and its deployment options
keep SAM at zero replicas and everything else at one small replica."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        import serve_multiplex
    finally:
        sys.path.remove(str(BENCH))
    return serve_multiplex


def test_the_written_checkpoints_are_the_registry_and_differ(bench, tmp_path):
    from ilid_ray.serve.adapters import AdapterRegistry, SharedBases

    ids = bench.write_registry(tmp_path, 2)
    registry = AdapterRegistry(str(tmp_path))
    assert registry.ids() == ids
    bases = SharedBases("cpu")
    first, second = (bases.load_adapter(registry.checkpoint(i)) for i in ids)
    assert first.clip is second.clip  # one frozen base for both adapters
    weights = [dict(m.trainable_state_dict()) for m in (first, second)]
    assert any(not (weights[0][k] == weights[1][k]).all() for k in weights[0])


def test_options_pin_one_small_replica_and_keep_sam_at_zero(bench):
    from ilid_ray.serve.runner import load_serve_config

    options = bench.pinned(load_serve_config(None).deployment_options)
    assert options["SamSegmenter"]["autoscaling_config"] == {"min_replicas": 0, "initial_replicas": 0,
                                                             "max_replicas": 1}
    for name in ("SegmentIngress", "ClipScorer"):
        assert options[name]["num_replicas"] == 1 and "autoscaling_config" not in options[name]
    assert {o["ray_actor_options"]["num_cpus"] for o in options.values()} == {bench.CPUS_PER_REPLICA}
