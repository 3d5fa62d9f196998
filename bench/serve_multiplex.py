"""Per-customer adapters: N checkpoints multiplexed on one CLIP scorer replica vs one replica per checkpoint.

    python bench/serve_multiplex.py [--adapters 20] [--requests 200] [--concurrency 4]

Saves N tiny-CLIP adapter checkpoints (the shipped tiny open_clip config, each with its own random
trainable tensors, written by the project's checkpoint code) into a registry folder, then on one
local Ray instance serves them two ways, one after the other:

  multiplexed   one app; its single ClipScorer replica loads the adapters from the registry
                (`clip.adapters`, LRU of N) by the `serve_multiplexed_model_id` header;
  per_replica   N apps (`/m<i>`), each with `clip.checkpoint` = one checkpoint: N scorer replicas.

Both get the same closed-loop load of real HTTP `/v1/classify` requests spread round-robin over the
N checkpoints, after one warm-up request per checkpoint. `/v1/classify` scores the whole image and
never calls SAM, so SAM's deployment scales from zero and stays there. Memory is the summed PSS of
the Serve replica processes (`ray::ServeReplica:*`, by deployment; see BENCHMARKS.md "How memory is
measured"), the peak over samples taken every second while the load runs. One JSON line, also in
bench/results/serve_multiplex.json; ratios are multiplexed / per_replica of the same run.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

from common import MB, header, load_avg, process_title, write_result

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "tests" / "data" / "real-photos" / "levelling_foot.png"
LABELS = ["stainless steel", "brass", "plastic"]
CPUS_PER_REPLICA = 0.02  # 2N + 2 replicas must fit the 2 CPUs Ray is given


def write_registry(root: Path, count: int) -> list[str]:
    """`count` tiny-CLIP CoOpIATA checkpoints under `root/<id>/` (the registry layout), distinct weights."""
    import torch

    from ilid_ray.models import TINY_MODEL, load_clip, save_trainable

    ids = [f"customer-{i:02d}" for i in range(count)]
    for i, model_id in enumerate(ids):
        model = load_clip(model_name=TINY_MODEL, pretrained=None, variant="coopiata")
        torch.manual_seed(1000 + i)
        with torch.no_grad():
            for param in model.trainable_parameters():
                param.add_(torch.randn_like(param) * 0.5)
        save_trainable(model, root / model_id)
    return ids


def pinned(options: dict[str, dict]) -> dict[str, dict]:
    """The tiny config's deployment options with one replica each, SAM at zero (classify never calls
    it) and small CPU reservations, so 2N + 2 replicas fit 2 CPUs."""
    out = {name: {k: v for k, v in opts.items() if k != "autoscaling_config"} for name, opts in options.items()}
    for name, opts in out.items():
        opts["ray_actor_options"] = {**opts.get("ray_actor_options", {}), "num_cpus": CPUS_PER_REPLICA}
        if name == "SamSegmenter":
            opts["autoscaling_config"] = {"min_replicas": 0, "initial_replicas": 0, "max_replicas": 1}
        else:
            opts["num_replicas"] = 1
    return out


class ReplicaMemory:
    """Peak summed PSS of this process tree's Serve replicas, by deployment, sampled in a thread."""

    def __init__(self, interval_s: float = 1.0):
        self.interval_s, self.peak, self.replicas = interval_s, {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pss: dict[str, float] = {}
        count: dict[str, int] = {}
        for proc in psutil.Process().children(recursive=True):
            try:
                title = process_title(proc)
                if not title.startswith("ray::ServeReplica:"):
                    continue
                deployment = title.rsplit(":", 1)[-1].split(".")[0]  # ray::ServeReplica:<app>:<name>[.<method>]
                pss[deployment] = pss.get(deployment, 0.0) + proc.memory_full_info().pss / MB
                count[deployment] = count.get(deployment, 0) + 1
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        total = sum(pss.values())
        if total > sum(self.peak.values()):
            self.peak, self.replicas = pss, count

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> ReplicaMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def as_dict(self) -> dict:
        return {"replica_pss_mb": round(sum(self.peak.values()), 1),
                "pss_mb_by_deployment": {k: round(v, 1) for k, v in sorted(self.peak.items())},
                "replicas_by_deployment": dict(sorted(self.replicas.items()))}


def classify(url: str, image: bytes, model_id: str | None) -> int:
    headers = {"serve_multiplexed_model_id": model_id} if model_id else {}
    response = requests.post(f"{url}/v1/classify", headers=headers, timeout=300,
                             files={"image": ("photo.png", image, "image/png")}, data={"labels": LABELS})
    return response.status_code


def run_load(targets: list[tuple[str, str | None]], image: bytes, total: int, concurrency: int) -> dict:
    """Warm each target once, then `total` requests round-robin over the targets; requests/s, errors
    and the replicas' memory while it ran."""
    warm = [classify(url, image, model_id) for url, model_id in targets]
    if any(code != 200 for code in warm):
        raise RuntimeError(f"warm-up answers {warm}")
    def one(i: int) -> int:
        url, model_id = targets[i % len(targets)]
        return classify(url, image, model_id)

    with ReplicaMemory() as memory:
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            codes = list(pool.map(one, range(total)))
        wall = time.perf_counter() - started
    ok = sum(code == 200 for code in codes)
    return {"ok": ok, "errors": total - ok, "wall_s": round(wall, 2), "requests_per_s": round(ok / wall, 2),
            **memory.as_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--image", default=str(PHOTO))
    parser.add_argument("--results-dir", default=None, help="Default: bench/results")
    args = parser.parse_args()
    if args.adapters < 1 or args.requests < args.adapters:
        parser.error("need --adapters >= 1 and --requests >= --adapters")

    from ray import serve
    from ray.serve.api import RunTarget, run_many

    from ilid_ray.config import RayConfig
    from ilid_ray.runtime import init_ray
    from ilid_ray.serve.deployments import build_app
    from ilid_ray.serve.runner import http_settings, load_serve_config

    result = header("serve_multiplex")
    image = Path(args.image).read_bytes()
    with tempfile.TemporaryDirectory(prefix="ilid-multiplex-") as registry:
        ids = write_registry(Path(registry), args.adapters)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        ray = init_ray(RayConfig(num_cpus=2))
        base_run = load_serve_config(None)
        http = http_settings(base_run, port=port)
        serve.start(http_options=http)
        url = f"http://{http['host']}:{http['port']}"
        options = pinned(base_run.deployment_options)
        setups = {}
        try:
            multiplexed = load_serve_config(None, [f"clip.adapters={registry}",
                                                   f"clip.max_adapters_per_replica={args.adapters}"])
            started = time.perf_counter()
            serve.run(build_app(multiplexed.app, options), name="multiplexed", route_prefix="/")
            deploy_s = time.perf_counter() - started
            setups["multiplexed"] = {"deploy_s": round(deploy_s, 1), **run_load(
                [(url, model_id) for model_id in ids], image, args.requests, args.concurrency)}
            serve.delete("multiplexed")
            needed_mb = setups["multiplexed"]["replica_pss_mb"] * args.adapters  # N copies of that app
            available_mb = psutil.virtual_memory().available / MB
            if needed_mb > 0.8 * available_mb:
                raise SystemExit(f"one app per checkpoint needs about {needed_mb:,.0f} MB for {args.adapters} "
                                 f"checkpoints; {available_mb:,.0f} MB are available: lower --adapters")

            started = time.perf_counter()
            run_many([RunTarget(build_app(load_serve_config(None, [f"clip.checkpoint={registry}/{model_id}"]).app,
                                          options), name=f"m{i}", route_prefix=f"/m{i}")
                      for i, model_id in enumerate(ids)])
            deploy_s = time.perf_counter() - started
            setups["per_replica"] = {"deploy_s": round(deploy_s, 1), **run_load(
                [(f"{url}/m{i}", None) for i in range(len(ids))], image, args.requests, args.concurrency)}
        finally:
            serve.shutdown()
            ray.shutdown()
    one, many = setups["multiplexed"], setups["per_replica"]
    scorer = "ClipScorer"
    result.update({
        "adapters": args.adapters, "requests": args.requests, "concurrency": args.concurrency,
        "image": Path(args.image).name, "multiplexed": one, "per_replica": many,
        "scorer_pss_ratio": round(one["pss_mb_by_deployment"][scorer] / many["pss_mb_by_deployment"][scorer], 3),
        "replica_pss_ratio": round(one["replica_pss_mb"] / many["replica_pss_mb"], 3),
        "throughput_ratio": round(one["requests_per_s"] / many["requests_per_s"], 3),
        "load_avg_end": load_avg(),
        "note": "ratios: multiplexed / one replica per checkpoint, same run; tiny random CLIP on CPU, so "
                "throughput mostly reflects the 2 shared cores (see load_avg)",
    })
    write_result("serve_multiplex", result, args.results_dir)


if __name__ == "__main__":
    main()
