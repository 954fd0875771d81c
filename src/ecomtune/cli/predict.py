"""`ecomtune predict RUN_DIR --input FILE --output FILE`."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.embed import ADDRESS, ENGINE, NUM_CPUS
from ecomtune.cli.options import BATCH, DEVICE
from ecomtune.console import console


@app.command()
def predict(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A run directory written by `ecomtune train`."),
    input: Path = typer.Option(None, "--input", "-i", help="Table to label (csv, tsv, jsonl, parquet, .gz); for an "
                               "image run also a folder of images (with --explain: or one image)."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the rows with predictions (needed "
                                "unless --explain prints them)."),
    text_column: str = typer.Option(None, "--text-column", "-t", help="Text column (default: the recipe's)."),
    image_column: str = typer.Option(None, "--image-column", help="Image runs: the table's column of image paths, "
                                     "relative to the table (default: the recipe's)."),
    batch_size: int = BATCH,
    device: str = DEVICE,
    engine: str = ENGINE,
    address: str = ADDRESS,
    num_cpus: int = NUM_CPUS,
    explain: bool = typer.Option(False, "--explain", help="Classifiers and image models: why each prediction — "
                                 "per-word attributions and the nearest training examples (text), a Grad-CAM "
                                 "heatmap (images); printed, or an `explanation` JSON column with --output."),
    text: list[str] = typer.Option(None, "--text", help="With --explain: a text to explain (repeatable), instead "
                                   "of --input."),
):
    """Label every row of a file (or every image of a folder); adds pred_label, pred_score and prob_<label> columns.

    Example: ecomtune predict runs/demo --input reviews.csv --output predictions.csv
    Images: ecomtune predict runs/rooms --input photos/ --output predictions.csv
    Batch job: ecomtune predict runs/demo --input big.parquet --output labelled.parquet --engine ray --num-cpus 2
    Why: ecomtune predict runs/demo --explain --text "fits well but the zip broke"   (see docs/explain.md)
    """
    from ecomtune.errors import DataError

    if explain:
        from ecomtune.cli.explaining import predict_explained

        if engine != "local" or address:
            raise DataError("--explain runs here, one text at a time — drop --engine/--address")
        predict_explained(run_dir, input, text, output, text_column, image_column, batch_size, device)
        return
    if text:
        raise DataError("--text goes with --explain; to label texts without explanations, put them in a table "
                        "(--input)")
    if input is None or output is None:  # required unless --explain prints: a usage error, as typer's own
        import click

        raise click.MissingParameter(ctx=ctx, param_type="option",
                                     param_hint=f"'--{'input' if input is None else 'output'}'")
    from ecomtune.api import predict_file

    start = time.perf_counter()
    out = predict_file(run_dir, input, output, text_column=text_column, batch_size=batch_size, device=device,
                       progress=True, image_column=image_column, engine="ray" if address else engine,
                       address=address, num_cpus=num_cpus)
    seconds = time.perf_counter() - start
    console.print(f"wrote {len(out)} predictions to [bold]{output}[/] in {seconds:.1f}s")
