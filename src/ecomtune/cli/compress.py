"""`ecomtune compress RUN_DIR --method int8|onnx|onnx-int8|prune`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console


@app.command()
def compress(
    run_dir: Path = typer.Argument(..., help="A run directory written by `ecomtune train`."),
    method: str = typer.Option(..., "--method", "-m", help="int8 | onnx | onnx-int8 | prune"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write the copy (default: RUN_DIR-METHOD)."),
    heads: float | None = typer.Option(None, "--heads", help="prune: fraction of attention heads to remove."),
    layers: int | None = typer.Option(None, "--layers", help="prune: number of layers to remove."),
    retrain_steps: int | None = typer.Option(None, "--retrain-steps", help="prune: brief re-training steps after."),
    keep_fp32: str | None = typer.Option(None, "--keep-fp32", help="int8, onnx-int8: comma-separated Linear layer "
                                         "name patterns to leave in fp32 (e.g. down_proj for gemma)."),
    data: Path | None = typer.Option(None, "--data", help="Labelled file to measure on (default: the test split)."),
    rows: int | None = typer.Option(None, "--rows", help="Measure on the first N test rows only (faster)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output folder if it exists."),
):
    """Make a smaller or faster copy of a run and compare it with the original on the same test texts.

    Example: ecomtune compress runs/sentiment-en --method onnx-int8
    """
    from rich.table import Table

    from ecomtune.deploy.compress import compress as _compress
    from ecomtune.deploy.compress.report import headers, summary, table_rows

    keep = [p.strip() for p in keep_fp32.split(",") if p.strip()] if keep_fp32 else None
    target = _compress(run_dir, method, out, overwrite=overwrite, data=data, rows=rows, heads=heads, layers=layers,
                       retrain_steps=retrain_steps, keep_fp32=keep)
    result = json.loads((target / "compress.json").read_text(encoding="utf-8"))
    table = Table(*headers(result), title=f"{run_dir} → {target}: {result['description']}")
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(summary(result))
