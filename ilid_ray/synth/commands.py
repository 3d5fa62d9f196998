"""`ilid synth scenes` and `ilid eval segment` (registered on the eval group)."""

from __future__ import annotations

import json
import logging

import click


@click.group()
def synth():
    """Synthetic data made from a dataset version."""


@synth.command()
@click.option("--config", "-c", type=click.Path(exists=True, dir_okay=False), help="Synth YAML (configs/synth/).")
@click.option("--root", help="Dataset root that supplies the products.")
@click.option("--version", help="Dataset version (default: latest).")
@click.option("--out", help="Where the scene set goes (local or s3://).")
@click.option("--scenes", type=int, help="How many scenes.")
@click.option("--backgrounds", help="Folder of background photos (default: generated textures).")
@click.option("--override", "-o", "overrides", multiple=True, metavar="KEY=VALUE")
def scenes(config, root, version, out, scenes, backgrounds, overrides):
    """Cut out the version's products and place them on backgrounds: scenes + COCO masks + prompts."""
    from ilid_ray.synth.config import load_synth_config
    from ilid_ray.synth.scenes import run_synth

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    direct = {"root": root, "version": version, "out": out, "scenes": scenes, "backgrounds": backgrounds}
    extra = [f"{k}={v}" for k, v in direct.items() if v is not None]
    summary = run_synth(load_synth_config(config, extra + list(overrides)))
    summary.pop("config")
    click.echo(json.dumps(summary, indent=1))


@click.command(name="segment")
@click.option("--scenes", "scene_root", required=True, help="A scene set (`ilid synth scenes` output).")
@click.option("--serve-config", type=click.Path(exists=True, dir_okay=False),
              help="Serve config file whose app args are used (default: the embedded tiny models).")
@click.option("-o", "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override app args, e.g. "
              "clip.checkpoint=runs/x/model.safetensors")
@click.option("--threshold", type=float, help="Default: the config's masks.default_threshold.")
@click.option("--max-scenes", type=int)
@click.option("--overlays", type=int, default=4, show_default=True, help="Overlay PNGs for the first N scenes.")
@click.option("--out", help="Folder (or s3://) for metrics.json and overlays/.")
def segment_command(scene_root, serve_config, overrides, threshold, max_scenes, overlays, out):
    """The serving pipeline on a scene set, no HTTP: mIoU and prompt precision/recall per prompt type."""
    from ilid_ray.serve.runner import load_serve_config, preflight
    from ilid_ray.synth.evaluate import evaluate_scenes, format_result

    run = load_serve_config(serve_config, list(overrides))
    preflight(run.app)
    result = evaluate_scenes(scene_root, run.app, threshold, overlays=overlays, out=out, max_scenes=max_scenes)
    click.echo(format_result(result))
    if out:
        click.echo(json.dumps({"metrics": result["metrics"], "overlays": result["overlays"]}, indent=1))
