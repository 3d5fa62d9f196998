"""`ilid`: one sub-command per stage or job. Each area owns its commands in its own module; they are
imported only when used, so `ilid build` never pays for torch and `ilid --help` stays instant."""

from __future__ import annotations

import importlib
import os

import click

COMMANDS = {
    "demo": ("ilid_ray.dataset.commands", "demo", "Run the whole build on the embedded default."),
    "catalog": ("ilid_ray.testing.commands", "catalog", "Probe a shop into a spec; serve the fixture catalogs."),
    "crawl": ("ilid_ray.crawl.commands", "crawl", "Crawl catalogs into raw records."),
    "build": ("ilid_ray.dataset.commands", "build", "Build or grow a dataset: crawl -> shards."),
    "dataset": ("ilid_ray.dataset.commands", "dataset", "Datasets: stats, history, diff, export, remove, import."),
    "train": ("ilid_ray.train.commands", "train", "Train a CLIP variant on dataset shards."),
    "cv": ("ilid_ray.train.commands", "cv", "k-fold cross-validation of variants."),
    "prompts": ("ilid_ray.prompts.commands", "prompts", "LLM-written class descriptions for a dataset version."),
    "eval": ("ilid_ray.train.commands", "eval_group", "Evaluate checkpoints; score prompts on images."),
    "serve": ("ilid_ray.serve.commands", "serve", "Run the segmentation endpoint."),
    "synth": ("ilid_ray.synth.commands", "synth", "Synthetic scenes with true masks from a dataset version."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        command = getattr(importlib.import_module(module), attr)
        command.name = name
        return command

    def invoke(self, ctx: click.Context):
        """Expected failures end as one line and exit code 1; `--debug` (or ILID_DEBUG=1) re-raises."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug") or os.environ.get("ILID_DEBUG") == "1":
                raise
            from ilid_ray.cli_errors import as_click_error

            raise as_click_error(exc) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


@click.group(cls=LazyGroup)
@click.version_option(package_name="ilid-ray")
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
def main(debug: bool) -> None:
    """ilid-ray: catalogs -> ILID shards -> adapted CLIP -> segmentation endpoint."""


if __name__ == "__main__":
    main()
