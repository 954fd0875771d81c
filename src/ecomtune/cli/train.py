"""`ecomtune train RECIPE`."""
from __future__ import annotations

from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import SET
from ecomtune.cli.show import show_run


@app.command()
def train(
    recipe: str = typer.Argument(..., help="A recipe YAML file or a preset name (see `ecomtune train --help`)."),
    overrides: list[str] = SET,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    output: Path = typer.Option(None, "--output", "-o", help="Run directory (default: runs/<name>)."),
):
    """Fine-tune a backbone on a recipe and write a run directory (model, manifest, report, model card).

    Example: ecomtune train sentiment-en --set training.epochs=1
    """
    from ecomtune.api import train as run_train

    extra = list(overrides or [])
    if overwrite:
        extra.append("output.overwrite=true")
    if output:
        extra.append(f"output.dir={output}")
    run_dir = run_train(recipe, extra, resume=resume)
    show_run(run_dir)
