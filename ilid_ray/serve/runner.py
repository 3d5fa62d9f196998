"""Running the app from a Serve config file with public Serve APIs only.

`serve run serve/x.yaml` hands the file to the Serve controller; `ilid serve` reads the same file,
validates it with Serve's own schema and our `ServeAppConfig`, applies `-o key=value` overrides to
the app's `args`, checks that local checkpoints exist (a missing file is an error before anything
starts) and deploys with `serve.run`, applying the file's `deployments:` block as options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ilid_ray.config import apply_overrides, read_yaml
from ilid_ray.serve.config import ServeAppConfig
from ilid_ray.serve.sam import CheckpointError, local_checkpoint_path

IMPORT_PATH = "ilid_ray.serve.deployments:app_builder"
EMBEDDED_CONFIG = "tiny.yaml"


@dataclass
class ServeRun:
    """One application of a Serve config file, ready for `build_app`."""

    name: str
    route_prefix: str
    app: ServeAppConfig
    deployment_options: dict[str, dict] = field(default_factory=dict)
    runtime_env: dict = field(default_factory=dict)
    http_options: dict = field(default_factory=dict)


def embedded_config_path() -> Path:
    return Path(str(resources.files("ilid_ray.serve").joinpath("configs", EMBEDDED_CONFIG)))


def load_serve_config(path: str | Path | None = None, overrides: list[str] = ()) -> ServeRun:
    """The (single) ilid application of a Serve config file; overrides apply to its `args`."""
    from ray.serve.schema import ServeDeploySchema

    path = Path(path) if path else embedded_config_path()
    schema = ServeDeploySchema.model_validate(read_yaml(path))
    ours = [a for a in schema.applications if a.import_path == IMPORT_PATH]
    if len(ours) != 1:
        raise ValueError(f"{path}: expected exactly one application with import_path {IMPORT_PATH}")
    spec = ours[0]
    args = apply_overrides(dict(spec.args or {}), list(overrides))
    options = {}
    for deployment in spec.deployments:
        opts = deployment.model_dump(exclude_unset=True)
        options[opts.pop("name")] = opts
    http = schema.http_options.model_dump(include={"host", "port", "request_timeout_s"}, exclude_unset=True)
    return ServeRun(name=spec.name, route_prefix=spec.route_prefix or "/",
                    app=ServeAppConfig.model_validate(args), deployment_options=options,
                    runtime_env=dict(spec.runtime_env or {}), http_options=http)


def preflight(cfg: ServeAppConfig) -> None:
    """Fail before starting anything when a local checkpoint named by the config is missing."""
    for what, ref in (("SAM", cfg.sam.checkpoint), ("CLIP", cfg.clip.checkpoint)):
        path = local_checkpoint_path(ref) if ref else None
        if path is not None and not path.exists():
            raise CheckpointError(f"{what} checkpoint not found: {ref} ({path})")


def http_settings(run: ServeRun, host: str | None = None, port: int | None = None) -> dict:
    """Serve's HTTP options: the command line over the config file over loopback:8000."""
    http = {"host": "127.0.0.1", "port": 8000, **run.http_options}
    if host:
        http["host"] = host
    if port:
        http["port"] = port
    return http


def deploy(run: ServeRun, host: str | None = None, port: int | None = None, blocking: bool = False):
    """Start Serve's HTTP proxy (if not yet) and deploy the app; returns the ingress handle.

    Ray must be initialised already (`ilid_ray.runtime.init_ray` or the `ray_local` fixture)."""
    from ray import serve

    from ilid_ray.serve.deployments import build_app

    serve.start(http_options=http_settings(run, host, port))
    return serve.run(build_app(run.app, run.deployment_options), name=run.name,
                     route_prefix=run.route_prefix, blocking=blocking)
