"""`ecomtune export RUN_DIR OUT_DIR [--merge]`."""
from __future__ import annotations

from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A run directory written by `ecomtune train`."),
    out_dir: Path = typer.Argument(..., help="Where to write the standalone copy."),
    merge: bool = typer.Option(False, "--merge", help="Fold a LoRA/AdaLoRA/IA3 adapter into the base weights."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT_DIR if it exists."),
):
    """Copy a run directory; with --merge, an adapter run becomes a plain model that needs neither peft nor its base.

    Example: ecomtune export runs/sentiment-lora runs/sentiment-merged --merge
    """
    from ecomtune.api import export as _export

    out = _export(run_dir, out_dir, merge=merge, overwrite=overwrite)
    console.print(f"wrote [bold]{out}[/]" + (" (adapter merged)" if merge else ""))
