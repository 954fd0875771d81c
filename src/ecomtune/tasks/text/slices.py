"""Slices of a text run's test rows (classify, taxonomy, multitask): by text length, by language and by the recipe's
`evaluation.slices` columns, scored with the task's own metric code on each subset (reports/slices.py).

The slice columns are not part of the prepared data (which holds texts and labels only): they are read back from
the data file at each row's place (`Split.rows` count data rows from 1, in the file named by `Split.files`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ecomtune.data.labels import LabelSpace
from ecomtune.data.readers import read_table, resolve_path
from ecomtune.recipes.schema import Recipe
from ecomtune.registry import task as get_task
from ecomtune.reports.slices import (
    check_slice_columns,
    column_slices,
    compute_slices,
    language_slices,
    length_slices,
)


def _masked(values: list, policy: str) -> list:
    """Slice names end up in slices.json, the report and the card: personal data in them is masked like the texts
    (`data.pii`; `drop` masks too, since a slice column is not a reason to drop a row)."""
    if policy == "keep":
        return values
    from ecomtune.data.pii import scrub

    empty = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
    masked, _, _ = scrub(["" if e else str(v) for v, e in zip(values, empty)], "mask")
    return [None if e else m for m, e in zip(masked, empty)]


def column_values(columns: Sequence[str], rows: Sequence[int], files: Sequence[str],
                  pii: str = "mask") -> dict[str, list]:
    """{column: value per row} read from the data files (personal data masked unless `pii` is `keep`); a
    RecipeError names a column a file lacks."""
    out: dict[str, list] = {c: [None] * len(rows) for c in columns}
    if not columns:
        return out
    by_file: dict[str, list[int]] = {}
    for i, path in enumerate(files):
        by_file.setdefault(path, []).append(i)
    for path, where in by_file.items():
        frame = read_table(path)
        check_slice_columns(columns, list(frame.columns), str(resolve_path(path)))
        for c in columns:
            values = frame[c].tolist()
            for i in where:
                out[c][i] = values[rows[i] - 1]
    return {c: _masked(v, pii) for c, v in out.items()}


def check_columns(recipe: Recipe, split) -> None:
    """Fail before training when `evaluation.slices` names a column the test rows' file does not have."""
    if recipe.evaluation.slices:
        for path in sorted(set(split.files)):
            frame = read_table(path)
            check_slice_columns(recipe.evaluation.slices, list(frame.columns), str(resolve_path(path)))


def text_slices(recipe: Recipe, texts: Sequence[str], true: np.ndarray, pred: np.ndarray, space: LabelSpace,
                columns: dict[str, list] | None = None) -> dict:
    """The slice view of predictions `pred` against `true` (int arrays [n, depth]) for the recipe's task."""
    metrics = get_task(recipe.task).module("metrics")
    true, pred = np.asarray(true), np.asarray(pred)

    def score(idx: np.ndarray) -> dict:
        return metrics.headline(metrics.compute(true[idx], pred[idx], space))

    slicings: dict[str, list] = {"length": length_slices(texts), "language": language_slices(texts)}
    for name, values in (columns or {}).items():
        slicings[name] = column_slices(values)
    e = recipe.evaluation
    return compute_slices(slicings, score, e.metric, e.slice_gap, e.min_slice_size)


def split_slices(recipe: Recipe, split, pred: np.ndarray, space: LabelSpace) -> dict:
    """Slices of a prepared split (training's test split) and the predictions on it."""
    columns = column_values(recipe.evaluation.slices, split.rows, split.files, recipe.data.pii)
    return text_slices(recipe, split.texts, split.labels, pred, space, columns)


def labelled_rows(recipe: Recipe, space: LabelSpace, data) -> tuple[list[str], list[tuple], int, dict[str, list]]:
    """`known_labelled` plus the slice columns of the rows kept: texts, raw labels, rows left out, columns."""
    from ecomtune.data import prepare

    if not recipe.evaluation.slices:
        texts, raw, unknown = prepare.known_labelled(recipe, space, data)
        return texts, raw, unknown, {}
    if data is None:
        test = prepare.prepare_data(recipe).test
        texts, raw, rows, files = test.texts, test.raw_labels, test.rows, test.files
    else:  # `load_labelled`, and its cleaning once more to learn where each row came from
        from ecomtune.data.pii import PiiReport

        texts, raw, _ = prepare.load_labelled(str(data), recipe, space.levels)
        frame, levels = prepare._load(str(data), recipe.data, recipe.task, space.levels)
        frame = prepare._scrub(frame, recipe.data, PiiReport(recipe.data.pii))  # `data.pii: drop` drops rows
        frame = prepare._bad_rows(prepare._map_labels(frame, recipe.data, levels, []), recipe.data, levels, [])
        rows, files = frame["_row"].astype(int).tolist(), frame["_file"].tolist()
        if len(rows) != len(texts):  # a cleaning step this mirror does not know: refuse rather than misalign
            raise RuntimeError(f"{data}: {len(texts)} rows to score but {len(rows)} rows located — slices "
                               "by column cannot be aligned; report this as a bug")
    keep = [i for i, r in enumerate(raw) if space.knows(r)]
    if not keep:  # the same one-line DataError as every other evaluation
        return (*prepare.known_labelled(recipe, space, data), {})
    columns = column_values(recipe.evaluation.slices, [rows[i] for i in keep], [files[i] for i in keep],
                            recipe.data.pii)
    return [texts[i] for i in keep], [raw[i] for i in keep], len(raw) - len(keep), columns
