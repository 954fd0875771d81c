"""Read tables (CSV, TSV, JSONL, JSON, Parquet, gzip-compressed too) into pandas, with errors that name the file."""
from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import pandas as pd

from ecomtune.errors import DataError
from ecomtune.recipes.loader import PACKAGE_PREFIX

READERS = {
    ".csv": lambda f: pd.read_csv(f, dtype=str, keep_default_na=False, encoding="utf-8"),
    ".tsv": lambda f: pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8", quoting=3),
    ".jsonl": lambda f: pd.read_json(f, lines=True, dtype=False),
    ".json": lambda f: pd.read_json(f, dtype=False),
    ".parquet": lambda f: pd.read_parquet(f),
}
for _atomic in (".inter", ".item", ".user"):  # RecBole atomic files: TSV with `name:type` headers
    READERS[_atomic] = READERS[".tsv"]


def resolve_path(path: str) -> Path:
    """Turn a recipe path (possibly `ecomtune:data/demo/...`) into a filesystem path."""
    if path.startswith(PACKAGE_PREFIX):
        return Path(str(resources.files("ecomtune").joinpath(path[len(PACKAGE_PREFIX):])))
    return Path(path)


def table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = suffixes[-1] if suffixes else ""
    if fmt not in READERS:
        raise DataError(f"{path}: unsupported file type '{fmt or path.name}' — use one of "
                        f"{', '.join(READERS)} (optionally .gz)")
    return fmt


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table; every value of text-like columns comes back as `str` (missing values as '')."""
    path = resolve_path(str(path))
    if not path.exists():
        raise DataError(f"{path}: file not found — check `data.train` / `data.test` in the recipe")
    fmt = table_format(path)
    _check_utf8(path)
    try:
        frame = READERS[fmt](path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be parsed as {fmt[1:].upper()} ({str(exc).splitlines()[0]}) — "
                        "check the delimiter, quoting and file type") from None
    if fmt in (".jsonl", ".json", ".parquet"):
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _check_utf8(path: Path) -> None:
    """Find the first line that is not UTF-8, so the error can name it."""
    if path.suffix.lower() == ".parquet":
        return
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: line {lineno} is not valid UTF-8 (byte {exc.start}) — re-save the file as UTF-8, "
                    f"e.g. `iconv -f GBK -t UTF-8 {path.name} > fixed.csv`"
                ) from None
