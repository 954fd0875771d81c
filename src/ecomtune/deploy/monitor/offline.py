"""Offline drift check of a file (`ecomtune monitor RUN_DIR --input FILE`): predict it, compare it with the run's
reference profile, the same report the service's `DriftMonitor` gives."""
from __future__ import annotations

from pathlib import Path

from ecomtune.data.readers import read_table
from ecomtune.errors import DataError

from .monitor import check_drift
from ecomtune.tasks.text.profile import PROFILE, ensure_profile
from .psi import DRIFT, WARN


def read_texts(input_path: str | Path, columns: list[str]) -> list[str]:
    """The texts of a table: its text columns joined with a space, like `ecomtune predict` does."""
    path = Path(input_path)
    if not path.is_file():
        raise DataError(f"{path}: file not found — pass an existing table (csv, tsv, jsonl, parquet) with --input")
    frame = read_table(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing text column '{missing[0]}' — columns present: "
                        f"{', '.join(frame.columns)}; pass --text-column")
    if frame.empty:
        raise DataError(f"{path}: no rows — give a table with at least one text")
    texts = frame[columns[0]].astype(str)
    for col in columns[1:]:
        texts = texts.str.cat(frame[col].astype(str), sep=" ")
    return texts.str.strip().tolist()


def text_columns(manifest: dict) -> list[str]:
    col = manifest.get("recipe", {}).get("data", {}).get("text_column", "text")
    return [col] if isinstance(col, str) else list(col)


def monitor_file(run_dir: str | Path, input_path: str | Path, text_column: str | None = None, batch_size: int = 64,
                 device: str = "auto", window: int | None = None, min_rows: int = 200, threshold: float = DRIFT,
                 warn: float = WARN, progress: bool = False) -> dict:
    """Drift report of a file against the run's profile (built from the recipe's data first if the run has none).

    With `window`, also one verdict per consecutive block of `window` rows (`windows`), to see when drift began.
    """
    from ecomtune.tasks.text.predict import load
    from ecomtune.rundir import read_manifest

    manifest = read_manifest(run_dir)
    columns = [text_column] if text_column else text_columns(manifest)
    texts = read_texts(input_path, columns)
    model = load(run_dir, device=device, precision=manifest.get("cost", {}).get("precision", "auto"))
    profile, built = ensure_profile(run_dir, model, batch_size)
    pred, probs = model.predict_arrays(texts, batch_size, progress=progress)
    options = {"min_rows": min_rows, "threshold": threshold, "warn": warn}
    report = check_drift(profile, texts, pred, probs, model.tokenizer, model.max_length, **options)
    if window:
        report["windows"] = []
        for start in range(0, len(texts), window):
            end = min(start + window, len(texts))
            part = check_drift(profile, texts[start:end], pred[start:end], [p[start:end] for p in probs],
                               model.tokenizer, model.max_length, **options)
            report["windows"].append({"rows": [start + 1, end], "action": part["action"],
                                      "max_psi": part["max_psi"], "reason": part["reason"]})
    report.update({"input": str(input_path), "text_columns": columns,
                   "profile": {"file": PROFILE, "rows": profile["rows"], "built_now": built,
                               "source": profile.get("source", {})}})
    return report
