"""`ilid serve`: the segmentation endpoint on a local Ray instance or a cluster."""

from __future__ import annotations

import time

import click

from ilid_ray.config import RayConfig


@click.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Serve config file (serve/*.yaml). Default: the embedded tiny-model config "
                   "(random weights: a demo of the plumbing, not of segmentation quality).")
@click.option("--override", "-o", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override an app arg, e.g. -o clip.checkpoint=runs/coopiata -o sam.points_per_side=16")
@click.option("--clip-checkpoint", help="Trained CLIP checkpoint (local or s3://); same as -o clip.checkpoint=...")
@click.option("--sam-checkpoint", help="SAM checkpoint (local or s3://); same as -o sam.checkpoint=...")
@click.option("--host", help="HTTP host (default from the config, else 127.0.0.1).")
@click.option("--port", type=int, help="HTTP port (default from the config, else 8000).")
@click.option("--address", help="Ray cluster address; default: RAY_ADDRESS, else a private local Ray.")
@click.option("--detach", is_flag=True,
              help="Deploy and exit (on a cluster the app keeps running); default: serve until Ctrl-C.")
def serve(config_path, overrides, clip_checkpoint, sam_checkpoint, host, port, address, detach):
    """Serve language-guided segmentation: POST /v1/segment, POST /v1/classify, page at /."""
    from ilid_ray.cli_errors import as_click_error
    from ilid_ray.runtime import init_ray
    from ilid_ray.serve.runner import deploy, http_settings, load_serve_config, preflight
    from ilid_ray.serve.sam import CheckpointError

    extra = list(overrides)
    if clip_checkpoint:
        extra.append(f"clip.checkpoint={clip_checkpoint}")
    if sam_checkpoint:
        extra += [f"sam.checkpoint={sam_checkpoint}", "sam.random_init=false"]
    try:
        run = load_serve_config(config_path, extra)
        preflight(run.app)
    except (CheckpointError, ValueError) as exc:
        raise as_click_error(exc) from exc  # one line: a config error names the key and the allowed values
    if run.app.sam.random_init or run.app.clip.pretrained is None and not run.app.clip.checkpoint:
        click.secho("warning: serving RANDOM weights (SAM random_init / CLIP pretrained=null): "
                    "the endpoint works, its answers mean nothing. Give --sam-checkpoint and "
                    "--clip-checkpoint, or --config serve/production.yaml.", fg="yellow", err=True)
    ray = init_ray(RayConfig(address=address), **run.runtime_env)
    try:
        deploy(run, host=host, port=port)
    except RuntimeError as exc:  # a replica failed to start: its error says why (e.g. missing weights)
        raise click.ClickException(f"the app did not start: {exc}") from exc
    from ray import serve as ray_serve

    http = http_settings(run, host, port)
    click.echo(f"serving {run.name} at http://{http['host']}:{http['port']}{run.route_prefix.rstrip('/')}/ "
               "(docs: /docs, health: /healthz)")
    if detach:
        return
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("shutting down")
    finally:
        ray_serve.shutdown()
        ray.shutdown()
