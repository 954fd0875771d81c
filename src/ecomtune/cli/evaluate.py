"""`ecomtune evaluate RUN_DIR`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import BATCH, DEVICE
from ecomtune.console import console


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `ecomtune train`."),
    input: Path = typer.Option(None, "--input", "-i", help="Labelled file with the recipe's columns "
                               "(default: the recipe's own test split)."),
    batch_size: int = BATCH,
    device: str = DEVICE,
    json_out: Path = typer.Option(None, "--json", help="Also write the metrics to this JSON file."),
):
    """Score a trained model on labelled data: accuracy, macro-F1, per-level metrics for taxonomies.

    Example: ecomtune evaluate runs/sentiment-en --input new_reviews.csv
    """
    from ecomtune.api import evaluate as run_evaluate
    from ecomtune.cli.show import metrics_table

    metrics = run_evaluate(run_dir, input, batch_size=batch_size, device=device)
    console.print(metrics_table(metrics, title=f"metrics on {metrics['rows']} rows"))
    if metrics["rows_with_unknown_labels"]:
        console.print(f"[yellow]{metrics['rows_with_unknown_labels']} rows skipped: labels the model never saw[/]")
    if json_out:
        json_out.write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
