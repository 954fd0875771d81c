"""Slices of an image run's test images by the recipe's `evaluation.slices` columns (e.g. `gender`, `season` of
the fashion styles table), scored with the task's own metric code on each subset (reports/slices.py).

Images have no text, so length and language do not apply; only columns of a table source can slice (a folder per
class has no columns). A column's value is found by the image's resolved path, the way `read_source` resolves it.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecomtune.data.labels import LabelSpace
from ecomtune.data.readers import read_table, resolve_path
from ecomtune.errors import RecipeError
from ecomtune.reports.slices import check_slice_columns, column_slices, compute_slices


def _tables(recipe, extra: str | Path | None = None) -> list[Path]:
    d = recipe.data
    sources = [resolve_path(str(s)) for s in (d.train, d.validation, d.test, extra) if s]
    folders = [s for s in sources if s.is_dir()]
    if folders and recipe.evaluation.slices:
        raise RecipeError(f"`evaluation.slices`: {folders[0]} is a folder per class, which has no columns to slice "
                          "by — give a table (csv, tsv, parquet) of image paths, labels and those columns, or remove "
                          "`evaluation.slices`")
    return sources


def check_columns(recipe, extra: str | Path | None = None) -> None:
    """Fail before training when `evaluation.slices` names a column a table lacks."""
    if recipe.evaluation.slices:
        for source in _tables(recipe, extra):
            check_slice_columns(recipe.evaluation.slices, list(read_table(source).columns), str(source))


def column_values(recipe, paths: Sequence[str], extra: str | Path | None = None) -> dict[str, list]:
    """{column: value per image}, looked up by the image's resolved path in the recipe's tables (and `extra`)."""
    columns = recipe.evaluation.slices
    if not columns:
        return {}
    found: dict[str, tuple] = {}
    for source in _tables(recipe, extra):
        frame = read_table(source)
        check_slice_columns(columns, list(frame.columns), str(source))
        images = [str((source.parent / p).resolve()) if p else "" for p in frame[recipe.data.image_column]]
        for image, values in zip(images, frame[columns].itertuples(index=False, name=None)):
            found.setdefault(image, values)
    return {c: [found.get(str(Path(p).resolve()), (None,) * len(columns))[i] for p in paths]
            for i, c in enumerate(columns)}


def image_slices(recipe, paths: Sequence[str], true: np.ndarray, pred: np.ndarray, space: LabelSpace, metrics,
                 extra: str | Path | None = None) -> dict | None:
    """The slice view of the predictions (scored by `metrics`, the run's metrics module: `predict.metrics_module`),
    or None when the recipe names no `evaluation.slices` column."""
    columns = column_values(recipe, paths, extra)
    if not columns:
        return None
    true, pred = np.asarray(true), np.asarray(pred)

    def score(idx: np.ndarray) -> dict:
        return metrics.headline(metrics.compute(true[idx], pred[idx], space))

    e = recipe.evaluation
    return compute_slices({c: column_slices(v) for c, v in columns.items()}, score, e.metric, e.slice_gap,
                          e.min_slice_size)
