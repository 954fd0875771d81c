"""Hierarchical taxonomy data: one column per level, or one path column like `Apparel > Topwear > Shirts`."""
from __future__ import annotations

import pandas as pd

from ecomtune.errors import DataError
from ecomtune.recipes.schema import DataConfig


def check_columns(data: DataConfig) -> None:
    if bool(data.label_columns) == bool(data.path_column):
        raise ValueError("`task: taxonomy` needs exactly one of `data.label_columns` (one column per level) "
                         "or `data.path_column` (like `A > B > C`)")
    if data.label_columns is not None and len(data.label_columns) < 2:
        raise ValueError("`data.label_columns` needs at least 2 levels — for one level use `task: classify`")


def label_columns(data: DataConfig) -> list[str]:
    return list(data.label_columns) if data.label_columns else [data.path_column]


def level_names(data: DataConfig, frame: pd.DataFrame | None = None) -> list[str]:
    if data.label_columns:
        return list(data.label_columns)
    depth = _path_depth(frame, data) if frame is not None else 0
    return [f"L{i + 1}" for i in range(depth)]


def _split_paths(frame: pd.DataFrame, data: DataConfig) -> pd.Series:
    return frame[data.path_column].astype(str).map(
        lambda s: [part.strip() for part in s.split(data.path_separator)] if s.strip() else []
    )


def _path_depth(frame: pd.DataFrame, data: DataConfig) -> int:
    parts = _split_paths(frame, data)
    return int(parts.map(len).max()) if len(parts) else 0


def extract_labels(frame: pd.DataFrame, data: DataConfig, levels: list[str] | None = None) -> pd.DataFrame:
    """One column per level, raw label strings; a path of the wrong depth is an error naming its row."""
    if data.label_columns:
        return pd.DataFrame({c: frame[c].astype(str).str.strip() for c in data.label_columns}, index=frame.index)
    parts = _split_paths(frame, data)
    depth = len(levels) if levels else _path_depth(frame, data)
    for position, (idx, p) in enumerate(parts.items()):
        if p and len(p) != depth:
            raise DataError(
                f"row {position + 1}, column '{data.path_column}': path '{frame.at[idx, data.path_column]}' has "
                f"{len(p)} levels, expected {depth} — every path needs the same depth (separator "
                f"'{data.path_separator}', set `data.path_separator` if yours differs)"
            )
    names = levels or [f"L{i + 1}" for i in range(depth)]
    return pd.DataFrame({n: parts.map(lambda p, i=i: p[i] if p else "") for i, n in enumerate(names)},
                        index=frame.index)
