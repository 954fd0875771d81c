"""`ecomtune embed RUN_OR_BACKBONE --input catalogue.parquet --output vectors.parquet`."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console

ENGINE = typer.Option("local", "--engine", help="local (in this process) or ray (a Ray Data actor pool; needs "
                      "pip install 'ecomtune[ray]').")
ADDRESS = typer.Option(None, "--address", help="Ray: an existing cluster (e.g. ray://head:10001 or auto); default: "
                       "start a local one.")
NUM_CPUS = typer.Option(None, "--num-cpus", min=1, help="Ray: CPUs of the local cluster = actors, one model each "
                        "(default: all).")


@app.command()
def embed(
    source: str = typer.Argument(..., metavar="RUN_OR_BACKBONE", help="A run directory (classifier, search, "
                                 "recommend) or a backbone name/folder such as minilm."),
    input: Path = typer.Option(..., "--input", "-i", help="Table to embed (parquet, csv, tsv, jsonl, .gz)."),
    output: Path = typer.Option(..., "--output", "-o", help="Vectors parquet: the id column + `vector`."),
    text_column: list[str] = typer.Option(None, "--text-column", "-t", help="Text column(s), joined by a space "
                                          "(default: the run's recipe column, or `text`)."),
    id_column: str = typer.Option(None, "--id-column", help="Column of unique row ids kept in the output (default: "
                                  "`id`, added as the row number when absent)."),
    engine: str = ENGINE,
    address: str = ADDRESS,
    num_cpus: int = NUM_CPUS,
    batch_size: int = typer.Option(256, "--batch-size", "-b", min=1, help="Rows per batch (the unit of retry)."),
    max_length: int = typer.Option(64, "--max-length", min=1, help="Backbones: tokens kept per text."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or mps."),
):
    """Embed every row's text into a unit vector, in-process or as a Ray Data batch job.

    Example: ecomtune embed minilm --input styles.csv --output vectors.parquet -t productDisplayName --engine ray
    """
    from ecomtune.api import embed as _embed

    start = time.perf_counter()
    table = _embed(source, input, output, text_column or None, id_column, "ray" if address else engine, address,
                   num_cpus, batch_size, device, max_length)
    seconds = time.perf_counter() - start
    console.print(f"wrote {table.num_rows} vectors ({table.schema.field('vector').type.list_size} dims) to "
                  f"[bold]{output}[/] in {seconds:.1f}s ({table.num_rows / seconds:.0f} rows/s)")
