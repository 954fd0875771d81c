"""The reference profile (`profile.json` in a run directory): what the model's inputs and outputs looked like on
held-out data at training time, binned, so live traffic can be compared with it (`psi.py`, `monitor.py`).

Signals, one histogram each (counts over fixed bins; every bin is right-closed, the end bins open-ended):

    predicted/<level>   predicted label per level or head          one bin per label
    confidence/<level>  top-1 probability per level or head        10 equal bins between 1/n_labels and 1
    text_length         characters per text                        up to 10 bins cut at reference quantiles
    unk_rate            unknown tokens / tokens, per text          0 exactly, then (0, 2%], ... (> 25%)

Plain JSON, no absolute paths: the file travels with copies of the run directory.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path

import numpy as np

from ecomtune.errors import RunDirError

PROFILE = "profile.json"
FORMAT_VERSION = 1
REFERENCE_ROWS = 1000  # validation rows first, topped up with test rows when validation is small
MAX_LENGTH_BINS = 10
ROWS_PER_LENGTH_BIN = 25  # fewer reference rows -> fewer quantile bins, so each bin's share is not noise
UNK_EDGES = [0.0, 0.02, 0.05, 0.1, 0.25]
DEGENERATE = 0.99  # a signal with this share of its reference rows in one bin carries little information


def confidence_edges(n_labels: int) -> list[float]:
    """Inner cut points of 10 equal bins over [1/n_labels, 1]: the range a top-1 probability can take."""
    low = 1.0 / max(n_labels, 1)
    return [round(low + (1 - low) * k / 10, 4) for k in range(1, 10)]


def length_edges(lengths: np.ndarray) -> list[float]:
    """Inner cut points at reference quantiles (ties merged): each bin holds about the same share of rows."""
    if len(lengths) == 0:
        return []
    k = int(np.clip(len(lengths) // ROWS_PER_LENGTH_BIN, 2, MAX_LENGTH_BINS))
    cuts = np.quantile(np.asarray(lengths, dtype=np.float64), np.linspace(0, 1, k + 1)[1:-1])
    return sorted({round(float(c), 2) for c in cuts})


def bin_labels(edges: list[float], percent: bool = False) -> list[str]:
    """Readable names of the bins that `edges` cut: '≤a', '(a, b]', ..., '>z'."""
    fmt = (lambda v: f"{v * 100:g}%") if percent else (lambda v: f"{v:g}")
    if not edges:
        return ["all"]
    names = [fmt(edges[0]) if edges[0] == 0 else f"≤{fmt(edges[0])}"]  # rates and counts cannot go below 0
    names += [f"({fmt(a)}, {fmt(b)}]" for a, b in pairwise(edges)]
    return names + [f">{fmt(edges[-1])}"]


def unk_rates(texts: list[str], tokenizer, max_length: int) -> np.ndarray | None:
    """Per text, the share of its tokens (special tokens excluded) that are the tokenizer's unknown token.

    None when the tokenizer has no unknown token. Tokenised with the same truncation as `ExpertModel`, so that a
    fast tokenizer shared with a serving thread never has its settings changed under it (which would raise
    'Already borrowed'); the rate is therefore over the tokens the model actually sees.
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return None
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_special_tokens_mask=True)
    rates = np.zeros(len(texts), dtype=np.float64)
    for i, (ids, special) in enumerate(zip(enc["input_ids"], enc["special_tokens_mask"])):
        ids = np.asarray(ids)[np.asarray(special) == 0]
        rates[i] = float((ids == unk).mean()) if len(ids) else 0.0  # an empty text has no unknown tokens
    return rates


def bin_rows(signals: dict, texts: list[str], pred: np.ndarray, probs: list[np.ndarray], tokenizer=None,
             max_length: int = 512) -> np.ndarray:
    """Bin index of every row for every signal, [n_rows, n_signals] in the order of `signals`."""
    n = len(texts)
    pred = np.asarray(pred).reshape(n, -1) if n else np.zeros((0, 1), dtype=np.int64)
    if len(pred) != n or any(len(p) != n for p in probs):
        raise ValueError(f"observe: {n} texts but predictions for {len(pred)} rows and probabilities for "
                         f"{[len(p) for p in probs]} rows — pass ExpertModel.predict_arrays(texts) unchanged")
    out = np.zeros((n, len(signals)), dtype=np.int32)
    rates = None
    for j, spec in enumerate(signals.values()):
        kind = spec["kind"]
        if kind == "label":
            out[:, j] = np.clip(pred[:, spec["level"]], 0, len(spec["bins"]) - 1)
            continue
        if kind == "confidence":
            values = np.asarray(probs[spec["level"]], dtype=np.float64).max(axis=1) if n else np.zeros(0)
        elif kind == "length":
            values = np.array([len(t) for t in texts], dtype=np.float64)
        elif kind == "unk_rate":
            if rates is None:
                rates = unk_rates(texts, tokenizer, max_length) if tokenizer is not None else None
            values = rates if rates is not None else np.zeros(n)
        else:
            raise ValueError(f"profile: unknown signal kind {kind!r}")
        out[:, j] = np.searchsorted(np.asarray(spec["edges"], dtype=np.float64), values, side="left")
    return out


def label_shares(raw_labels: list[tuple[str, ...]], levels: list[str], labels: list[list[str]]) -> dict:
    """{level: {label: share}} of a list of label tuples (the training labels, for reference)."""
    out = {}
    for i, level in enumerate(levels):
        counts = {name: 0 for name in labels[i]}
        for row in raw_labels:
            counts[row[i]] = counts.get(row[i], 0) + 1
        total = max(1, len(raw_labels))
        out[level] = {k: round(v / total, 4) for k, v in counts.items()}
    return out


def build_profile(model, texts: list[str], pred: np.ndarray | None = None, probs: list[np.ndarray] | None = None,
                  train_labels: dict | None = None, source: dict | None = None, batch_size: int = 64) -> dict:
    """The reference profile of `model` (an `ExpertModel`) on `texts` (predicted here unless given)."""
    texts = list(texts)
    if not texts:
        raise RunDirError("cannot build a drift reference profile from 0 rows — the run has no validation or test "
                          "rows; give `data.validation` or set `data.split.validation` > 0")
    if pred is None or probs is None:
        pred, probs = model.predict_arrays(texts, batch_size)
    space = model.space
    signals: dict = {}
    for i, level in enumerate(space.levels):
        signals[f"predicted/{level}"] = {"kind": "label", "level": i, "bins": list(space.labels[i])}
    for i, level in enumerate(space.levels):
        edges = confidence_edges(space.sizes[i])
        signals[f"confidence/{level}"] = {"kind": "confidence", "level": i, "edges": edges, "bins": bin_labels(edges)}
    lengths = np.array([len(t) for t in texts])
    edges = length_edges(lengths)
    signals["text_length"] = {"kind": "length", "edges": edges, "bins": bin_labels(edges)}
    skipped = {}
    if getattr(model.tokenizer, "unk_token_id", None) is not None:
        signals["unk_rate"] = {"kind": "unk_rate", "edges": UNK_EDGES, "bins": bin_labels(UNK_EDGES, percent=True),
                               "unk_token": str(model.tokenizer.unk_token)}
    else:
        skipped["unk_rate"] = "the tokenizer has no unknown token"
    binned = bin_rows(signals, texts, pred, probs, model.tokenizer, model.max_length)
    for j, spec in enumerate(signals.values()):
        counts = np.bincount(binned[:, j], minlength=len(spec["bins"]))
        spec["counts"] = counts.tolist()
        spec["proportions"] = [round(float(c) / len(texts), 4) for c in counts]
        spec["degenerate"] = bool(counts.max() >= DEGENERATE * len(texts))
    signals["text_length"]["mean"] = round(float(lengths.mean()), 1)
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "task": model.task,
        "levels": list(space.levels),
        "labels": [list(x) for x in space.labels],
        "rows": len(texts),
        "source": source or {},
        "max_length": int(model.max_length),
        "train_labels": train_labels or {},
        "signals": signals,
        "skipped": skipped,
    }


def reference_texts(prepared, rows: int = REFERENCE_ROWS) -> tuple[list[str], dict]:
    """Validation texts, topped up with test texts up to `rows`; -> (texts, {split: rows taken})."""
    texts: list[str] = []
    source: dict = {}
    for split in (prepared.validation, prepared.test):
        take = split.texts[:max(0, rows - len(texts))]
        if take:
            texts += take
            source[split.name] = len(take)
    return texts, source


def profile_from_prepared(model, prepared, batch_size: int = 64, rows: int = REFERENCE_ROWS) -> dict:
    """The reference profile of `model` on a recipe's prepared data (validation first, then test)."""
    texts, source = reference_texts(prepared, rows)
    train = label_shares(prepared.train.raw_labels, prepared.space.levels, prepared.space.labels)
    return build_profile(model, texts, train_labels=train, source={"splits": source}, batch_size=batch_size)


def write_profile(run_dir: str | Path, profile: dict) -> Path:
    path = Path(run_dir) / PROFILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(profile, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def write_reference_profile(run_dir: str | Path, model, prepared, batch_size: int = 64) -> dict:
    """Build and write `profile.json` at the end of training; -> the manifest's `monitor` entry."""
    profile = profile_from_prepared(model, prepared, batch_size)
    write_profile(run_dir, profile)
    return {"profile": PROFILE, "rows": profile["rows"], "source": profile["source"]["splits"]}


def has_profile(run_dir: str | Path) -> bool:
    return (Path(run_dir) / PROFILE).is_file()


def load_profile(run_dir: str | Path) -> dict:
    """Read `profile.json`; RunDirError when it is missing, unreadable or newer than this ecomtune."""
    path = Path(run_dir) / PROFILE
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {PROFILE} — build it with `ecomtune monitor {run_dir} --input FILE` "
                          "(it is written at the end of `ecomtune train`)")
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}) — delete it and rerun `ecomtune monitor` to rebuild "
                          "it") from None
    version = profile.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or "signals" not in profile:
        raise RunDirError(f"{path}: profile format version {version} is not supported by this ecomtune "
                          f"({FORMAT_VERSION}) — upgrade ecomtune, or delete it and rerun `ecomtune monitor`")
    return profile


def check_profile(profile: dict, space, where: str | Path = PROFILE) -> None:
    """The profile must describe the model's own label space."""
    if profile.get("levels") != list(space.levels) or profile.get("labels") != [list(x) for x in space.labels]:
        raise RunDirError(f"{where}: built for labels {profile.get('labels')} but the model predicts "
                          f"{space.labels} — delete it and rerun `ecomtune monitor` to rebuild it")


def ensure_profile(run_dir: str | Path, model, batch_size: int = 64) -> tuple[dict, bool]:
    """The run's profile; for runs trained before profiles existed, build it from the recipe's validation split
    (topped up from test) and write it. -> (profile, built now)."""
    if has_profile(run_dir):
        profile = load_profile(run_dir)
        check_profile(profile, model.space, Path(run_dir) / PROFILE)
        return profile, False
    from ecomtune.data.prepare import prepare_data
    from ecomtune.errors import DataError
    from ecomtune.recipes.loader import recipe_of_run
    from ecomtune.rundir import read_manifest

    recipe = recipe_of_run(run_dir, read_manifest(run_dir))
    try:
        prepared = prepare_data(recipe)
    except DataError as exc:
        raise RunDirError(f"{run_dir}: has no {PROFILE} and it cannot be built from the training data ({exc}) — "
                          "run this where the recipe's data files are, or copy a profile.json into the run "
                          "directory") from None
    profile = profile_from_prepared(model, prepared, batch_size)
    write_profile(run_dir, profile)
    return profile, True
