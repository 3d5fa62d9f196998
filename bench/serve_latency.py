"""Segmentation endpoint latency and throughput at 1 and 2 model replicas (tiny models, local Ray).

    python bench/serve_latency.py [--requests 24] [--concurrency 4] [--config serve/x.yaml]

Deploys the app (embedded tiny config unless --config), then for each replica count sends the same
closed-loop load of real HTTP requests (`--concurrency` clients, `--requests` in total, one real
photo) and reports p50/p95 latency, requests/s, the 2-vs-1 replica throughput ratio, and where a
request's time goes (SAM vs CLIP scoring, as timed by the ingress). One JSON line on stdout, also
written to bench/results/serve_latency.json. Ratios only mean something within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "tests" / "data" / "real-photos" / "levelling_foot.png"
MODEL_DEPLOYMENTS = ("SamSegmenter", "ClipScorer")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fixed_replicas(options: dict[str, dict], replicas: int) -> dict[str, dict]:
    """The config's deployment options with the model deployments pinned to `replicas`."""
    out = {name: dict(opts) for name, opts in options.items()}
    for name in MODEL_DEPLOYMENTS:
        out.setdefault(name, {}).pop("autoscaling_config", None)
        out[name]["num_replicas"] = replicas
    return out


def load(url: str, image: bytes, total: int, concurrency: int) -> dict:
    def one(i: int) -> tuple[float, int, dict]:
        started = time.perf_counter()
        r = requests.post(f"{url}/v1/segment", files={"image": ("photo.png", image, "image/png")},
                          data={"prompts": ["levelling foot", "screw"], "threshold": "0.5"}, timeout=300)
        body = r.json() if r.status_code == 200 else {}
        return time.perf_counter() - started, r.status_code, body.get("timing", {})

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(total)))
    wall = time.perf_counter() - started
    latencies = [lat for lat, code, _ in results if code == 200]
    timings = [t for _, code, t in results if code == 200]
    sam = statistics.mean(t["sam_s"] for t in timings)
    sam_compute = statistics.mean(t["sam_compute_s"] for t in timings)
    score = statistics.mean(t["score_s"] for t in timings)
    return {
        "ok": len(latencies), "errors": total - len(latencies),
        "p50_s": round(percentile(latencies, 0.5), 3), "p95_s": round(percentile(latencies, 0.95), 3),
        "requests_per_s": round(len(latencies) / wall, 3),
        "sam_s_mean": round(sam, 3),  # SAM call as seen by the ingress, queueing included
        "sam_compute_s_mean": round(sam_compute, 3),  # the mask generator itself
        "score_s_mean": round(score, 3),  # scorer call incl. batching wait
        "sam_share_of_model_time": round(sam / (sam + score), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--config", default=None, help="Serve config file (default: embedded tiny)")
    parser.add_argument("--image", default=str(PHOTO))
    args = parser.parse_args()

    from ray import serve

    from ilid_ray.config import RayConfig
    from ilid_ray.runtime import init_ray
    from ilid_ray.serve.deployments import build_app
    from ilid_ray.serve.runner import http_settings, load_serve_config

    run = load_serve_config(args.config)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray = init_ray(RayConfig())
    http = http_settings(run, port=port)
    serve.start(http_options=http)
    url = f"http://{http['host']}:{http['port']}"
    image = Path(args.image).read_bytes()
    per_replicas = {}
    load_before = os.getloadavg()[0]
    try:
        for replicas in (1, 2):
            serve.run(build_app(run.app, fixed_replicas(run.deployment_options, replicas)),
                      name=run.name, route_prefix="/")
            load(url, image, total=max(2, args.concurrency), concurrency=args.concurrency)  # warm-up
            per_replicas[replicas] = load(url, image, args.requests, args.concurrency)
    finally:
        serve.shutdown()
        ray.shutdown()
    one, two = per_replicas[1], per_replicas[2]
    result = {
        "bench": "serve_latency",
        "config": args.config or "embedded tiny (random CLIP, tiny SAM)",
        "image": Path(args.image).name, "requests": args.requests, "concurrency": args.concurrency,
        "replicas_1": one, "replicas_2": two,
        "throughput_ratio_2_vs_1": round(two["requests_per_s"] / one["requests_per_s"], 3),
        "p50_ratio_2_vs_1": round(two["p50_s"] / one["p50_s"], 3),
        "cpus": os.cpu_count(), "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "note": "model replicas = SamSegmenter and ClipScorer each; times are as seen by the ingress; "
                "on a shared CPU machine the ratio mostly reflects contention (see load_avg_1m)",
    }
    line = json.dumps(result)
    print(line)
    out = REPO / "bench" / "results" / "serve_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")


if __name__ == "__main__":
    main()
