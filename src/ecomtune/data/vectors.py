"""Vectors files (`ecomtune embed`): the id column and `vector`, a fixed-size list<float32>[dim] of unit vectors
(null for a row without text). Written by `deploy.batch`; read here, below the tasks, so a recipe can load a
catalogue's vectors built by a batch job (`data.item_vectors` of a recommender)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ecomtune.errors import DataError

VECTOR = "vector"


def read_vectors(path: str | Path, id_column: str | None = "id") -> tuple[list, np.ndarray]:
    """(ids, float32 [n, dim]) from a vectors file (rows with a null vector dropped); `id_column` None: the file's
    one column besides `vector`."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such vectors file — write it with `ecomtune embed`")
    table = pq.read_table(path)
    if id_column is None:
        others = [n for n in table.column_names if n != VECTOR]
        id_column = others[0] if len(others) == 1 else "id"
    if id_column not in table.column_names or VECTOR not in table.column_names:
        raise DataError(f"{path}: not a vectors file (needs columns '{id_column}' and '{VECTOR}'; has "
                        f"{', '.join(table.column_names)}) — write it with `ecomtune embed`")
    table = table.filter(table[VECTOR].is_valid())
    column = table[VECTOR].combine_chunks()
    dim = column.type.list_size
    return table[id_column].to_pylist(), column.flatten().to_numpy().reshape(-1, dim).astype(np.float32)
