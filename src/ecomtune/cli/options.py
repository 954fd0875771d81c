"""Options shared by several commands."""
from __future__ import annotations

import typer

SET = typer.Option(None, "--set", "-s", help="Override a recipe key, e.g. --set training.epochs=1 (repeatable).")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or mps.")
BATCH = typer.Option(64, "--batch-size", "-b", min=1, help="Texts per batch.")
