"""The de-duplication key registry: claims per second with 1 KeyRegistry actor (the layout before
sharding) vs the registry sharded by key hash over 2 and 4 actors, at 1,000,000 known keys.

    python bench/registry_claims.py [--known 1000000] [--shards 1 2 4] [--batch 64 1000] [--clients 4] [--seconds 4]

On a private local Ray instance, for each shard count: `dedupe.start_registry` preloads `--known`
keys shaped like `Build.known_keys()` (half page-URL ids, half image SHA-256 hashes whose owner is
an id, all "in dataset"); preload_s is from the call until every shard holds its keys (actor start
included). Then claims, in batches of `--batch` keys (64: the build's block size), alternating the
"id" and "sha256" namespaces, a quarter of each batch known keys (rejected as duplicates) and the
rest new keys (taken, so the registry grows during the run), each measured for `--seconds`:

* sequential: the driver claims one batch after another (round-trip latency; a sharded claim
  fans out to the involved shards in parallel and waits for all of them),
* concurrent: `--clients` Ray actors (num_cpus=0; processes claiming like the build's light-stage
  tasks do, started beforehand) claim in parallel from a common start time; keys/s over the span
  from the first client's start to the last one's end.

Memory: RSS of the registry actor processes (the workers titled ray::KeyRegistry in this driver's
process tree, psutil), right after the preload and the peak over the whole run (sampled every
0.1 s; sum over shards and largest shard). On a machine with few cores the shards, the clients and
Ray's own processes share them: more shards are not necessarily faster there. One JSON line, also
written to bench/results/registry_claims.json.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
import uuid

import psutil

from common import MB, header, init_local_ray, load_avg, write_result

NAME = "registry_claims"
KNOWN_POOL = 20_000  # known keys each client draws its duplicates from
NAMESPACE = uuid.UUID("6f1c1d5e-3a57-4f0e-9a8e-000000000000")


def known_id(i: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"https://shop.example/p/{i}"))


def known_hash(i: int) -> str:
    return hashlib.sha256(f"image-{i}".encode()).hexdigest()


def preload(known: int) -> dict[str, list[tuple[str, str, str]]]:
    from ilid_ray.dataset.dedupe import IN_DATASET

    samples = known // 2
    ids = [known_id(i) for i in range(samples)]
    return {"id": [(i, IN_DATASET, "") for i in ids],
            "sha256": [(known_hash(n), IN_DATASET, i) for n, i in enumerate(ids)]}


def batches(client: str, size: int, known: int):
    """Endless (namespace, keys, owners): a quarter known keys, the rest new; id and sha256 in turn."""
    import random

    rng = random.Random(client)
    samples = known // 2
    pool = [rng.randrange(samples) for _ in range(KNOWN_POOL)]
    pool_ids, pool_hashes = [known_id(i) for i in pool], [known_hash(i) for i in pool]
    dup = size // 4
    n = 0
    while True:
        for namespace, pool_keys in (("id", pool_ids), ("sha256", pool_hashes)):
            new = [f"{client}-{namespace}-{n + j}" for j in range(size - dup)]
            olds = [pool_keys[rng.randrange(KNOWN_POOL)] for _ in range(dup)]
            keys = new + olds
            owners = [f"{client}|{n + j}" for j in range(size)]
            n += size
            yield namespace, keys, owners


def claim_for(claim, client: str, size: int, known: int, seconds: float, start_at: float = 0.0) -> dict:
    """Claim batches for `seconds` (from `start_at`, wall clock, if given); keys claimed, duplicates
    found, start and end (wall clock)."""
    source = batches(client, size, known)
    next(source)  # build the known pool before the clock starts
    time.sleep(max(0.0, start_at - time.time()))
    keys = dups = 0
    start = time.time()
    while time.time() - start < seconds:
        namespace, ks, owners = next(source)
        verdicts = claim(namespace, ks, owners)
        keys += len(ks)
        dups += sum(v is not None for v in verdicts)
    return {"keys": keys, "duplicates": dups, "start": start, "end": time.time()}


class Client:
    """A process claiming like a light stage of the build does, through `registry.claim`
    (an actor, started once: no worker start-up inside the measurement)."""

    def run(self, registry, name: str, size: int, known: int, seconds: float, start_at: float) -> dict:
        from ilid_ray.dataset import dedupe

        return claim_for(registry.claim, name, size, known, seconds, start_at)


class ActorMemory:
    """Per-process peak RSS of the ray::KeyRegistry workers under this driver (a background thread)."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def registry_processes() -> list[psutil.Process]:
        out = []
        for proc in psutil.Process(os.getpid()).children(recursive=True):
            try:
                if proc.cmdline()[:1] and proc.cmdline()[0].startswith("ray::KeyRegistry"):
                    out.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return out

    def sample(self) -> None:
        for proc in self.registry_processes():
            try:
                self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), proc.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> ActorMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def rss_of(pids: list[int]) -> list[float]:
    return [round(psutil.Process(p).memory_info().rss / MB, 1) for p in pids]


def measure(ray, entries: dict, shards: int, clients: list, args) -> dict:
    from ilid_ray.dataset import dedupe

    out: dict = {"shards": shards}
    with ActorMemory() as memory:
        started = time.perf_counter()
        registry = dedupe.start_registry(entries, shards)
        out["preload_s"] = round(time.perf_counter() - started, 2)
        pids = ray.get([a.__ray_call__.remote(lambda self: os.getpid()) for a in registry.actors])
        after = rss_of(pids)
        out["rss_after_preload_mb"] = {"per_shard": after, "sum": round(sum(after), 1)}
        out["known_per_shard"] = [ray.get(a.size.remote("id")) + ray.get(a.size.remote("sha256"))
                                  for a in registry.actors]
        claim = registry.claim
        for size in args.batch:
            seq = claim_for(claim, f"driver-{shards}-{size}", size, args.known, args.seconds)
            span = seq["end"] - seq["start"]
            start_at = time.time() + 1.5  # every client has built its known pool by then
            runs = ray.get([c.run.remote(registry, f"c{i}-{shards}-{size}", size, args.known, args.seconds, start_at)
                            for i, c in enumerate(clients)])
            wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
            keys = sum(r["keys"] for r in runs)
            out[f"batch_{size}"] = {
                "sequential": {"keys_per_s": round(seq["keys"] / span),
                               "batches_per_s": round(seq["keys"] / size / span, 1),
                               "ms_per_batch": round(1000 * span * size / seq["keys"], 2),
                               "duplicate_share": round(seq["duplicates"] / seq["keys"], 3)},
                "concurrent": {"clients": args.clients, "keys_per_s": round(keys / wall),
                               "batches_per_s": round(keys / size / wall, 1),
                               "duplicate_share": round(sum(r["duplicates"] for r in runs) / keys, 3)},
            }
        out["keys_at_end"] = registry.size("id") + registry.size("sha256")
        memory.sample()
        peaks = [round(memory.peaks.get(p, 0) / MB, 1) for p in pids]
        out["peak_rss_mb"] = {"per_shard": peaks, "sum": round(sum(peaks), 1), "largest": max(peaks)}
        registry.kill()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--known", type=int, default=1_000_000, help="preloaded keys (half ids, half image hashes)")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 1000], help="keys per claim")
    parser.add_argument("--clients", type=int, default=4, help="Ray tasks claiming at once (concurrent mode)")
    parser.add_argument("--seconds", type=float, default=4.0, help="per mode and batch size")
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args()

    result = header(NAME)
    result.update(known=args.known, clients=args.clients, seconds=args.seconds, duplicate_share_target=0.25)
    started = time.perf_counter()
    entries = preload(args.known)
    result["generate_preload_s"] = round(time.perf_counter() - started, 2)
    ray = init_local_ray()
    result["ray_version"] = ray.__version__
    clients = [ray.remote(Client).options(num_cpus=0).remote() for _ in range(args.clients)]
    ray.get([c.__ray_ready__.remote() for c in clients])
    try:
        result["runs"] = [measure(ray, entries, shards, clients, args) for shards in args.shards]
    finally:
        ray.shutdown()
    result["load_avg_end"] = load_avg()
    write_result(NAME, result, args.results_dir)


if __name__ == "__main__":
    main()
