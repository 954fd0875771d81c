"""Unlabeled texts for continued pre-training: read every table, join the text columns, drop empties and
repeats, drop anything listed in `exclude`, sample, and hold some texts out for perplexity."""
from __future__ import annotations

import difflib
import random
from dataclasses import dataclass, field

from ecomtune.data.pii import PiiReport, scrub
from ecomtune.data.prepare import normalize
from ecomtune.data.readers import read_table, resolve_path
from ecomtune.errors import DataError
from ecomtune.pretraining.config import PretrainConfig

AUTO_VALIDATION_FRACTION = 0.1
AUTO_VALIDATION_MAX = 1000


@dataclass
class PretrainTexts:
    train: list[str]
    validation: list[str]
    stats: dict = field(default_factory=dict)  # rows read, empties, repeats, excluded, sampled


def read_texts(path: str, columns: list[str]) -> list[str]:
    """The texts of one table: `columns` joined with a space, stripped. Names the file and columns on error."""
    frame = read_table(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hints = []
        for col in missing:
            close = difflib.get_close_matches(col, list(frame.columns), n=1)
            hints.append(f"'{col}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise DataError(f"{resolve_path(path)}: missing text column {', '.join(hints)} — columns present: "
                        f"{', '.join(map(str, frame.columns))}; pass --text-column")
    text = frame[columns[0]].astype(str)
    for col in columns[1:]:
        text = text.str.cat(frame[col].astype(str), sep=" ")
    return text.str.replace("\ufeff", "", regex=False).str.strip().tolist()


def load_texts(cfg: PretrainConfig) -> PretrainTexts:
    """Every usable text once, in a seeded random order, split into train and held-out validation."""
    columns = cfg.text_columns
    stats = {"rows_read": 0, "empty": 0, "repeated": 0, "excluded": 0}
    banned = set()
    for path in cfg.exclude:
        banned.update(normalize(t) for t in read_texts(path, columns) if t)
    seen: set[str] = set()
    texts: list[str] = []
    pii = PiiReport(cfg.pii)
    for path in cfg.data:
        raw = read_texts(path, columns)
        clean, keep, found = scrub(raw, cfg.pii)  # before anything is tokenized or trained on (data/pii.py)
        pii.add(found)
        for text, masked, kept in zip(raw, clean, keep):
            stats["rows_read"] += 1
            if not text:
                stats["empty"] += 1
                continue
            key = normalize(text)  # the raw text: `exclude` names raw texts
            if key in banned:
                stats["excluded"] += 1
            elif key in seen:
                stats["repeated"] += 1
            elif not kept:
                stats["pii_dropped"] = stats.get("pii_dropped", 0) + 1
            else:
                seen.add(key)
                texts.append(masked)
    stats["pii"] = pii.as_dict()
    if not texts:
        raise DataError(f"{', '.join(cfg.data)}: no usable text in column(s) {', '.join(columns)} "
                        f"({stats['empty']} empty, {stats['excluded']} excluded) — check --text-column and --exclude")
    random.Random(cfg.seed).shuffle(texts)
    if cfg.max_rows is not None and len(texts) > cfg.max_rows:
        stats["sampled_out"] = len(texts) - cfg.max_rows
        texts = texts[:cfg.max_rows]
    n_val = cfg.validation_rows
    if n_val is None:
        n_val = min(AUTO_VALIDATION_MAX, int(len(texts) * AUTO_VALIDATION_FRACTION))
    elif n_val >= len(texts):
        raise DataError(f"--validation-rows {n_val} leaves no training text ({len(texts)} usable texts) — lower it "
                        "or pass 0 to skip the perplexity")
    stats.update({"texts": len(texts), "train": len(texts) - n_val, "validation": n_val})
    return PretrainTexts(train=texts[n_val:], validation=texts[:n_val], stats=stats)
