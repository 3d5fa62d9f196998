"""What every benchmark shares: the machine's state, process-tree memory sampling, a prewarmed
fixture catalog server in its own process, and writing the one JSON line of results.

Memory method (used by every bench): a background thread samples the process tree rooted at the
measured process (the process itself and all its descendants: for Ray the driver, GCS, raylet and
every worker; for the reference scripts each step's process) every `interval_s` and keeps the peak
of two sums over the tree: RSS (over-counts pages shared between processes, e.g. Ray's shared-memory
object store and the copy-on-write pages of forked workers) and PSS (each shared page divided among
the processes that map it: the tree's real footprint, the figure to compare); plus the root
process's RSS and USS (its private pages: for Ray, what the driver itself holds, without the object
store pages it has mapped) and the largest single process's RSS. `resource.getrusage(RUSAGE_CHILDREN)`
is not used: it only sees reaped children and reports the largest one, never the sum. A peak
shorter than the interval can be missed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import psutil

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MB = 1024 * 1024


def machine() -> dict[str, Any]:
    """Cores and memory of this machine (others may be using them: see the load averages)."""
    return {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1)}


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def command_line() -> str:
    """How this bench was invoked, relative to the repository root (for the BENCHMARKS table)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def write_result(name: str, result: dict[str, Any], results_dir: str | Path | None = None) -> Path:
    """Print the one JSON line and write it to `{results_dir}/{name}.json` (atomically)."""
    folder = Path(results_dir) if results_dir else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps(result, sort_keys=False)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(line + "\n")
    os.replace(tmp, path)
    print(line, flush=True)
    return path


def header(name: str) -> dict[str, Any]:
    """The fields every result starts with."""
    return {"bench": name, "command": command_line(), "machine": machine(), "load_avg_start": load_avg()}


# --------------------------------------------------------------------------- memory


@dataclass
class TreeMemory:
    peak_tree_pss_mb: float = 0.0
    peak_tree_rss_mb: float = 0.0
    peak_root_rss_mb: float = 0.0  # the measured process alone (for Ray: the driver)
    peak_root_uss_mb: float = 0.0  # its private memory (RSS less pages shared, e.g. mapped object store)
    peak_single_process_rss_mb: float = 0.0
    peak_processes: int = 0
    samples: int = 0
    cpu_s_by_process: dict[str, float] = field(default_factory=dict)  # summed per process title

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in self.__dict__.items()
                if k != "cpu_s_by_process"}

    def top_cpu(self, n: int = 8) -> dict[str, float]:
        """CPU seconds of the n busiest process titles of the tree (where the time went)."""
        top = sorted(self.cpu_s_by_process.items(), key=lambda kv: -kv[1])[:n]
        return {name: round(cpu, 1) for name, cpu in top}


def process_title(proc: psutil.Process) -> str:
    """'ray::MapWorker(...)', 'raylet', 'python reference_pipeline.py download', ... (a Ray worker
    is named after what it runs at the moment: its whole CPU time goes to its last title)."""
    cmd = proc.cmdline()
    if not cmd:
        return proc.name()
    if cmd[0].startswith("ray::"):
        return cmd[0].split(" ")[0][:80]
    scripts = [Path(c).name for c in cmd[1:3] if c.endswith(".py")]
    return " ".join([Path(cmd[0]).name, *scripts, *[c for c in cmd[2:3] if not c.startswith("-")]][:3])[:80]


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


class TreeSampler:
    """Samples the memory of a process tree in a background thread (see the module docstring)."""

    def __init__(self, pid: int, interval_s: float = 0.2):
        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        self.memory = TreeMemory()
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (latest title, cumulative CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def sample(self) -> None:
        rss = pss = biggest = 0
        root_rss = root_uss = 0
        procs = _tree(self.root)
        for proc in procs:
            try:
                info = proc.memory_full_info()
                times = proc.cpu_times()
                self._cpu[proc.pid] = (process_title(proc), times.user + times.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            biggest = max(biggest, info.rss)
            if proc.pid == self.root.pid:
                root_rss, root_uss = info.rss, getattr(info, "uss", info.rss)
        m = self.memory
        m.samples += 1
        m.peak_tree_rss_mb = max(m.peak_tree_rss_mb, rss / MB)
        m.peak_tree_pss_mb = max(m.peak_tree_pss_mb, pss / MB)
        m.peak_root_rss_mb = max(m.peak_root_rss_mb, root_rss / MB)
        m.peak_root_uss_mb = max(m.peak_root_uss_mb, root_uss / MB)
        m.peak_single_process_rss_mb = max(m.peak_single_process_rss_mb, biggest / MB)
        m.peak_processes = max(m.peak_processes, len(procs))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)
        by_title: dict[str, float] = {}
        for title, cpu in self._cpu.values():
            by_title[title] = by_title.get(title, 0.0) + cpu
        self.memory.cpu_s_by_process = by_title

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(cmd: list[str], env: dict[str, str] | None = None, timeout_s: float = 3600,
                 interval_s: float = 0.2) -> tuple[str, float, TreeMemory]:
    """Run a command, sampling its process tree; return (stdout, wall seconds, peak memory).
    Raises with the tail of stderr if it fails."""
    import subprocess

    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or bench_env(), cwd=REPO)
    with TreeSampler(proc.pid, interval_s) as sampler:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            out, err = proc.communicate()
            raise RuntimeError(f"{shlex.join(cmd[:4])} ... did not finish within {timeout_s}s:\n{err[-2000:]}")
        except BaseException:  # e.g. Ctrl-C: leave no Ray instance behind
            kill_tree(proc.pid)
            raise
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd[:4])} ... failed ({proc.returncode}):\n{err[-4000:]}")
    return out, wall, sampler.memory


def kill_tree(pid: int) -> None:
    """Kill a process and every descendant (a hung Ray driver leaves its raylet and workers)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def last_json_line(stdout: str) -> dict[str, Any]:
    """The last line of a child's stdout that is a JSON object (children print logs before it)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in the output: {stdout[-1000:]!r}")


def bench_env() -> dict[str, str]:
    """Environment of measured children: a private local Ray instance, no progress bars."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               RAY_DATA_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "bench"), env.get("PYTHONPATH", "")) if p)
    return env


def init_local_ray(num_cpus: int | None = None):
    """A private Ray instance (never attaches to a cluster someone else started on the machine)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    import ray

    ray.init(address="local", num_cpus=num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False,
             log_to_driver=False)
    return ray


# --------------------------------------------------------------------------- fixture server


@dataclass
class ServedCatalogs:
    specs: list[dict[str, Any]]  # CatalogSpec dumps
    allow_private: list[str]
    image_urls: dict[str, list[str]]  # product page URL -> its image URLs
    prewarm_s: float


def fixture_catalogs(total_products: int, count: int, seed: int = 0):
    """`count` fault-free fixture catalogs (one per markup style, cycling) sharing `total_products`,
    with an image cache large enough to hold every image they serve."""
    from ilid_ray.testing.catalog import FixtureCatalog
    from ilid_ray.testing.commands import STANDARD_MARKUPS

    per = [total_products // count + (1 if i < total_products % count else 0) for i in range(count)]
    out = []
    for i, n in enumerate(per):
        markup, round_ = STANDARD_MARKUPS[i % len(STANDARD_MARKUPS)], i // len(STANDARD_MARKUPS)
        name = f"fixture-{markup}" + (f"-{round_ + 1}" if round_ else "")
        out.append(FixtureCatalog(name, n_products=n, markup=markup, seed=seed + round_,
                                  image_cache_bytes=max(64 * MB, n * 4 * 64 * 1024)))
    return out


def _serve(total_products: int, count: int, all_images: bool, queue, stop) -> None:
    from ilid_ray.testing.server import CatalogServer

    catalogs = fixture_catalogs(total_products, count)
    with CatalogServer(catalogs) as server:
        started = time.perf_counter()
        image_urls = {}
        for catalog in catalogs:
            for i in range(catalog.n_products):
                urls = catalog.image_urls(i)
                image_urls[catalog.page_url(i)] = urls
                for url in (urls if all_images else urls[:1]):
                    catalog.respond(url.split(catalog.base_url, 1)[1])  # render into the cache
        queue.put(ServedCatalogs([s.model_dump(mode="json") for s in server.specs()],
                                 server.network_config().allow_private, image_urls,
                                 round(time.perf_counter() - started, 1)))
        stop.wait()


@contextmanager
def served_catalogs(total_products: int, count: int = 4, all_images: bool = False) -> Iterator[ServedCatalogs]:
    """Fixture catalogs served by a separate process (so its CPU and memory are outside every
    measured tree), with images rendered into the server's cache first: during the measurement the
    server only sends bytes, like a static file server or CDN, instead of drawing each picture on
    request (about 40 ms of CPU each). `all_images=False` prewarms the first image of each product
    (the one a build fetches)."""
    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(total_products, count, all_images, queue, stop), daemon=True)
    proc.start()
    try:
        while True:
            try:
                served = queue.get(timeout=5)
                break
            except Exception:  # noqa: BLE001 - queue.Empty: still prewarming
                if not proc.is_alive():
                    raise RuntimeError(f"fixture server process exited ({proc.exitcode})")
        yield served
    finally:
        stop.set()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
