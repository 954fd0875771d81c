"""Read tables (CSV, TSV, JSONL, JSON, Parquet, gzip-compressed too) into pandas, with errors that name the file.

Every way a file can fail to read — missing, a folder, empty, not UTF-8, a corrupt or truncated `.gz`, a parse
error — is a one-line `DataError` that names the file and says how to fix it.
"""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from itertools import islice
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
PARSE_FIXES = {".jsonl": "each line must be one JSON object", ".json": "the file must be one JSON array of records",
               ".parquet": "write it again with pandas `to_parquet` or pyarrow"}


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


def read_table(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a table; every value of text-like columns comes back as `str` (missing values as '').

    `fmt` (".tsv", ".csv", …) reads a file whose name does not say its format.
    """
    path = _existing(path)
    fmt = fmt or table_format(path)
    if fmt == ".json" and _json_lines(path):  # JSON Lines named .json (AdvertiseGen's dev.json, many exports)
        fmt = ".jsonl"
    with _read_errors(path, fmt):
        if fmt != ".parquet":
            for _ in _utf8_lines(path):  # a non-UTF-8 line fails here, with its line number
                pass
        frame = READERS[fmt](path)
    if frame.columns.empty:
        raise _empty(path, fmt)
    if fmt in (".jsonl", ".json", ".parquet"):
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _json_lines(path: Path) -> bool:
    """A `.json` file whose first record line is a whole JSON object (JSON Lines), not the start of an array."""
    import json

    for line in islice(_utf8_lines(path), 5):
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except ValueError:
                return False
    return False


def read_lines(path: str | Path, limit: int | None = None) -> list[str]:
    """The lines (at most `limit`) of a text file, gzip-compressed too, decoded as UTF-8."""
    path = _existing(path)
    with _read_errors(path, "text"):
        return list(islice(_utf8_lines(path), limit))


def _existing(path: str | Path) -> Path:
    path = resolve_path(str(path))
    if not path.exists():
        raise DataError(f"{path}: file not found — check the path in the recipe or on the command line")
    if path.is_dir():
        raise DataError(f"{path}: is a folder — name a file, not a folder")
    return path


@contextmanager
def _read_errors(path: Path, fmt: str):
    """Turn whatever reading `path` raises into a one-line DataError naming the file and the fix."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise _empty(path, fmt) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        what = "ends early (truncated)" if isinstance(exc, EOFError) else f"is corrupt ({_first_line(exc)})"
        raise DataError(f"{path}: the gzip data {what} — download or compress the file again (`gzip -t "
                        f"{path.name}` checks it)") from None
    except (ValueError, pd.errors.ParserError) as exc:
        kind = fmt[1:].upper() if fmt.startswith(".") else fmt
        fix = PARSE_FIXES.get(fmt, "check the delimiter, quoting and file type")
        raise DataError(f"{path}: cannot be parsed as {kind} ({_first_line(exc)}) — {fix}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or _first_line(exc)}) — check that it is a "
                        "readable file") from None


def _empty(path: Path, fmt: str) -> DataError:
    rows = "one JSON object per row" if fmt in (".jsonl", ".json") else "the column names on the first line, " \
        "then one row per line"
    return DataError(f"{path}: the file is empty (no columns) — write {rows}")


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "…"


def _utf8_lines(path: Path) -> Iterator[str]:
    """Decoded lines; the first one that is not UTF-8 is a DataError naming it and the encoding it reads as."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                encoding = _guess_encoding(raw)
                plain = path.stem if opener is gzip.open else path.name
                command = f"zcat {path.name} | iconv -f {encoding} -t UTF-8" if opener is gzip.open else \
                    f"iconv -f {encoding} -t UTF-8 {path.name}"
                raise DataError(f"{path}: line {lineno} is not valid UTF-8 (byte {exc.start}); it reads as "
                                f"{encoding} — re-save the file as UTF-8, e.g. `{command} > utf8-{plain}`") from None


def _guess_encoding(raw: bytes) -> str:
    """The encoding to suggest for bytes that are not UTF-8: GB18030 when they look CJK (bytes >= 0x80 come in
    pairs, as in GBK), else CP1252 (Windows Western European), else LATIN1 (which decodes any byte)."""
    high = {i for i, b in enumerate(raw) if b >= 0x80}
    paired = sum(i - 1 in high or i + 1 in high for i in high)
    candidates = (["GB18030"] if paired >= 0.8 * len(high) else []) + ["CP1252"]
    return next((e for e in candidates if _decodes(raw, e)), "LATIN1")


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table in the format its name says (.parquet, .jsonl, .tsv, else CSV; `.gz` allowed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, sep="\t" if name.endswith(".tsv") else ",", index=False)
