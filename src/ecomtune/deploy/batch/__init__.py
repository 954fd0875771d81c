"""Catalogue-scale batch jobs: embed or label every row of a table, in-process or on Ray Data.

    embed_table("minilm", "catalogue.parquet", "vectors.parquet", text_column="title", engine="ray")
    predict_table("runs/sentiment", "reviews.parquet", "labelled.parquet", engine="ray", num_cpus=2)

The vectors file holds the id column and `vector`, a fixed-size list<float32>[dim] of unit vectors (null for a
row without text). Outputs are joined to the input by id, so they do not depend on which batch finished first.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ecomtune.console import say
from ecomtune.data.readers import read_table, write_table
from ecomtune.data.vectors import VECTOR, read_vectors
from ecomtune.deploy.batch.engines import ENGINES, run_batches, start_ray
from ecomtune.deploy.batch.workers import (
    Embedder,
    Labeller,
    check_columns,
    text_encoder,
)
from ecomtune.errors import DataError
from ecomtune.rundir import read_manifest


def read_rows(input_path: str | Path, output_path: str | Path, id_column: str | None) -> tuple[pd.DataFrame, str]:
    """The input table and its id column: `id_column` (must exist and be unique), else `id` if present, else
    a new `id` column holding the row number (0-based)."""
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise DataError(f"{output_path}: --output is the input file, which would be overwritten — write to "
                        "another file")
    frame = read_table(input_path)
    if not len(frame):
        raise DataError(f"{input_path}: no rows — nothing to do")
    if id_column is None:
        id_column = "id"
        if id_column not in frame.columns:
            frame.insert(0, id_column, range(len(frame)))
    check_columns(frame, [id_column], str(input_path), "--id-column")
    dupes = frame[id_column].duplicated()
    if dupes.any():
        raise DataError(f"{input_path}: column '{id_column}' repeats ids (e.g. {frame[id_column][dupes].iloc[0]!r}, "
                        f"{int(dupes.sum())} repeats) — outputs are joined by id; pass a unique --id-column")
    return frame, id_column


def _text_columns(frame: pd.DataFrame, text_column: str | list[str] | None, default: str | list[str],
                  where: str) -> list[str]:
    columns = text_column or default
    columns = [columns] if isinstance(columns, str) else list(columns)
    check_columns(frame, columns, where, "--text-column")
    return columns


def embed_table(source: str | Path, input_path: str | Path, output_path: str | Path,
                text_column: str | list[str] | None = None, id_column: str | None = None, engine: str = "local",
                address: str | None = None, num_cpus: int | None = None, batch_size: int = 256,
                device: str = "cpu", max_length: int = 64, retries: int = 3, worker=Embedder) -> pa.Table:
    """Embed every row's text with a run (classifier, search or recommend) or a backbone (`minilm`); writes
    and returns the vectors table (id + `vector`) in input order."""
    frame, id_column = read_rows(input_path, output_path, id_column)
    default = "text"
    if (Path(source) / "manifest.json").is_file():
        col = read_manifest(source).get("recipe", {}).get("data", {}).get("text_column")
        default = col if isinstance(col, (str, list)) and col else default
    columns = _text_columns(frame, text_column, default, str(input_path))
    kwargs = {"source": str(source), "text_columns": columns, "id_column": id_column,
              "batch_size": min(batch_size, 128), "device": device, "max_length": max_length}
    parts = run_batches(worker, kwargs, frame[[id_column, *columns]], engine, batch_size, num_cpus, address,
                        retries, "embedding")
    table = pa.concat_tables(parts)
    _check_complete(table.num_rows, len(frame))
    position = pd.Series(range(len(frame)), index=frame[id_column].to_numpy())  # back to input order, by id
    table = table.take(pa.array(np.argsort(position.loc[table[id_column].to_numpy(zero_copy_only=False)].to_numpy())))
    empty = table[VECTOR].null_count
    if empty:
        say(f"[yellow]note:[/] {empty} rows of {input_path} have an empty text: their `vector` is null")
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, output_path)
    return table


def predict_table(run_dir: str | Path, input_path: str | Path, output_path: str | Path,
                  text_column: str | list[str] | None = None, id_column: str | None = None, engine: str = "local",
                  address: str | None = None, num_cpus: int | None = None, batch_size: int = 256,
                  device: str = "cpu", retries: int = 3, worker=Labeller) -> pd.DataFrame:
    """`ecomtune predict` as a batch job: the input rows (and id column) with the prediction columns, joined by
    id; written to `output_path` (csv, tsv, jsonl or parquet)."""
    frame, id_column = read_rows(input_path, output_path, id_column)
    col = read_manifest(run_dir).get("recipe", {}).get("data", {}).get("text_column") or "text"
    columns = _text_columns(frame, text_column, col, str(input_path))
    kwargs = {"source": str(run_dir), "text_columns": columns, "id_column": id_column,
              "batch_size": min(batch_size, 64), "device": device}
    parts = run_batches(worker, kwargs, frame[[id_column, *columns]], engine, batch_size, num_cpus, address,
                        retries, "predicting")
    preds = pd.concat([p.to_pandas() if isinstance(p, pa.Table) else p for p in parts], ignore_index=True)
    _check_complete(len(preds), len(frame))
    out = frame.merge(preds, on=id_column, how="left", validate="one_to_one")
    write_table(out, output_path)
    return out


def _check_complete(got: int, expected: int) -> None:
    if got != expected:  # a lost or repeated batch must never pass silently
        raise DataError(f"the batch job returned {got} rows for {expected} input rows — rerun it")


__all__ = ["ENGINES", "Embedder", "Labeller", "embed_table", "predict_table", "read_vectors", "run_batches",
           "start_ray", "text_encoder"]
