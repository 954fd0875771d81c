"""Recipe -> validated, split, encoded data. Everything that can be wrong with the data fails here, before training.

Row numbers in messages count data rows from 1 (the header is not a row), in the file named.
"""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from ecomtune.data.pii import PiiReport, scrub_columns
from ecomtune.data.readers import read_table, resolve_path
from ecomtune.errors import DataError
from ecomtune.recipes.schema import DataConfig, Recipe
from ecomtune.data.labels import LabelSpace
from ecomtune.registry import task as get_task

MAX_LISTED = 5  # rows quoted in one error message


@dataclass
class Split:
    """One split: texts, encoded labels [n, depth], raw label names, and where each row came from."""

    name: str
    texts: list[str]
    raw_labels: list[tuple[str, ...]]
    rows: list[int]
    files: list[str]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class PreparedData:
    train: Split
    validation: Split
    test: Split
    space: LabelSpace
    notes: list[str] = field(default_factory=list)  # what was dropped or changed, and why
    files: dict[str, str] = field(default_factory=dict)
    pii: dict = field(default_factory=dict)  # personal data found per kind, and the policy (`data.pii`)

    @property
    def sha256(self) -> str:
        """Hash of the prepared splits: same hash, same training data."""
        h = hashlib.sha256()
        for split in (self.train, self.validation, self.test):
            h.update(split.name.encode())
            for text, label in zip(split.texts, split.raw_labels):
                h.update(text.encode("utf-8") + b"\x00" + "\x1f".join(label).encode("utf-8") + b"\x01")
        return h.hexdigest()

    def splits(self) -> list[Split]:
        return [self.train, self.validation, self.test]


def _label_key(frame: pd.DataFrame, levels: list[str], sep: str = " > ") -> pd.Series:
    """One string per row naming its full label path (vectorised: row-wise joins are slow on 60k rows)."""
    key = frame[levels[0]].astype(str)
    return key.str.cat([frame[c].astype(str) for c in levels[1:]], sep=sep) if len(levels) > 1 else key


def normalize(text: str) -> str:
    """Key used to detect duplicates and train/test overlap."""
    return " ".join(text.lower().split())


def _load(path: str, data: DataConfig, task: str, levels: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """Read one file, check its columns, and return a frame with `text`, level columns, `_row`, `_file`."""
    frame = read_table(path)
    schema = get_task(task).module("data")
    needed = data.text_columns + schema.label_columns(data)
    needed += [data.split.group_column] if data.split.group_column else []
    needed += list(data.filters or {})
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        hints = []
        for col in missing:
            close = difflib.get_close_matches(col, list(frame.columns), n=1)
            hints.append(f"'{col}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise DataError(f"{resolve_path(path)}: missing column {', '.join(hints)} — columns present: "
                        f"{', '.join(map(str, frame.columns))}; fix the column names in `data` of the recipe")
    frame = frame.reset_index(drop=True)
    frame["_row"] = np.arange(1, len(frame) + 1)
    frame["_file"] = str(resolve_path(path))
    for col, values in (data.filters or {}).items():
        frame = frame[~frame[col].astype(str).isin([str(v) for v in values])]
    text = frame[data.text_columns[0]].astype(str)
    for col in data.text_columns[1:]:
        text = text.str.cat(frame[col].astype(str), sep=" ")
    levels = levels or schema.level_names(data, frame)
    label_frame = schema.extract_labels(frame, data, levels)
    label_frame.columns = levels
    out = pd.DataFrame({"text": text.str.replace("\ufeff", "", regex=False).str.strip()}, index=frame.index)
    out = pd.concat([out, label_frame], axis=1)
    out["_row"], out["_file"] = frame["_row"], frame["_file"]
    if data.split.group_column:
        out["_group"] = frame[data.split.group_column].astype(str)
    return out, levels


def _map_labels(frame: pd.DataFrame, data: DataConfig, levels: list[str], notes: list[str]) -> pd.DataFrame:
    if not data.label_map:
        return frame
    mapping = {str(k): v for k, v in data.label_map.items()}
    col = levels[-1] if len(levels) == 1 else None
    cols = [col] if col else levels
    for c in cols:
        mapped = frame[c].map(lambda v: mapping.get(v, v))
        dropped = mapped.isna()
        if dropped.any():
            notes.append(f"{int(dropped.sum())} rows of {frame['_file'].iloc[0]} dropped: their '{c}' maps to null "
                         "in `data.label_map`")
        frame = frame.assign(**{c: mapped})[~dropped]
    return frame


def _bad_rows(frame: pd.DataFrame, data: DataConfig, levels: list[str], notes: list[str]) -> pd.DataFrame:
    problems = []
    text_col = "+".join(data.text_columns)
    empty_text = frame["text"].str.len() == 0
    problems += [(r, text_col, "empty text") for r in frame.loc[empty_text, "_row"]]
    bad = empty_text.copy()
    for lvl in levels:
        empty_label = frame[lvl].astype(str).str.len() == 0
        problems += [(r, lvl, "empty label") for r in frame.loc[empty_label, "_row"]]
        bad |= empty_label
    if not problems:
        return frame
    source = frame["_file"].iloc[0]
    if data.bad_rows == "error":
        listed = "; ".join(f"row {r}, column '{c}': {what}" for r, c, what in sorted(problems)[:MAX_LISTED])
        raise DataError(f"{source}: {len(problems)} bad value(s) — {listed}"
                        f"{' …' if len(problems) > MAX_LISTED else ''} — fix them or set `data.bad_rows: drop`")
    notes.append(f"{int(bad.sum())} rows of {source} dropped: empty text or label (`data.bad_rows: drop`)")
    return frame[~bad]


def _dedupe(frame: pd.DataFrame, levels: list[str], notes: list[str]) -> pd.DataFrame:
    key = frame["text"].map(normalize) + "\x00" + _label_key(frame, levels)
    dup = key.duplicated()
    if dup.any():
        notes.append(f"{int(dup.sum())} repeated (text, label) rows of {frame['_file'].iloc[0]} dropped "
                     "(`data.dedupe: true`)")
    return frame[~dup]


def _rare(frame: pd.DataFrame, data: DataConfig, levels: list[str], notes: list[str],
          independent: bool = False) -> pd.DataFrame:
    if independent:  # multitask: each column's labels must be frequent, not every combination of them
        for level in levels:
            frame = _rare(frame, data, [level], notes)
        return frame
    label = _label_key(frame, levels)
    counts = label.value_counts()
    rare = counts[counts < data.min_label_count]
    if rare.empty:
        return frame
    if data.rare_labels == "error":
        listed = ", ".join(f"'{k}' ({v})" for k, v in list(rare.items())[:MAX_LISTED])
        raise DataError(
            f"{frame['_file'].iloc[0]}: {len(rare)} label(s) in column(s) {', '.join(levels)} have fewer than "
            f"{data.min_label_count} training rows: {listed}{' …' if len(rare) > MAX_LISTED else ''} — add rows, "
            "lower `data.min_label_count`, or set `data.rare_labels: drop`"
        )
    keep = ~label.isin(rare.index)
    notes.append(f"{int((~keep).sum())} rows with {len(rare)} rare label(s) (< {data.min_label_count} rows) dropped "
                 "(`data.rare_labels: drop`)")
    return frame[keep]


def _split(frame: pd.DataFrame, fraction: float, data: DataConfig, levels: list[str], seed: int):
    if fraction <= 0:
        return frame, frame.iloc[:0]
    if data.split.group_column:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        keep, held = next(splitter.split(frame, groups=frame["_group"]))
        return frame.iloc[keep], frame.iloc[held]
    strata = _label_key(frame, levels) if data.split.stratify else None
    if strata is not None and strata.value_counts().min() < 2:
        strata = None  # a label with one row cannot be stratified; min_label_count >= 2 normally prevents this
    try:
        return train_test_split(frame, test_size=fraction, random_state=seed, stratify=strata)
    except ValueError as exc:
        raise DataError(f"cannot split {len(frame)} rows with `data.split` ({exc}) — lower the held-out "
                        "fractions or add rows") from None


def _sample(frame: pd.DataFrame, n: int | None, levels: list[str], seed: int, stratify: bool) -> pd.DataFrame:
    if n is None or len(frame) <= n:
        return frame
    strata = _label_key(frame, levels) if stratify else None
    if strata is not None and (strata.value_counts() < 2).any():
        strata = None
    try:
        keep, _ = train_test_split(frame, train_size=n, random_state=seed, stratify=strata)
    except ValueError:
        keep, _ = train_test_split(frame, train_size=n, random_state=seed)
    return keep


def _note_cut(path: str | None, rows: int, limit: int | None, key: str, notes: list[str]) -> None:
    """A file the user named is cut to a sample (a preset's limit, say): never silently."""
    if path and limit and rows > limit:
        notes.append(f"{resolve_path(path)}: {rows} rows, of which a seeded sample of {limit} is used "
                     f"(`data.{key}`) — set `data.{key}: null` (`--set data.{key}=null`) to use the whole file")


def _to_split(name: str, frame: pd.DataFrame, levels: list[str]) -> Split:
    return Split(
        name=name,
        texts=frame["text"].tolist(),
        raw_labels=[tuple(r) for r in frame[levels].astype(str).itertuples(index=False, name=None)],
        rows=frame["_row"].astype(int).tolist(),
        files=frame["_file"].tolist(),
    )


def _check_overlap(train: pd.DataFrame, other: pd.DataFrame, name: str, dedupe: bool, notes: list[str]):
    seen = set(train["text"].map(normalize))
    overlap = other["text"].map(normalize).isin(seen)
    if not overlap.any():
        return other
    if not dedupe:
        listed = ", ".join(str(r) for r in other.loc[overlap, "_row"].head(MAX_LISTED))
        raise DataError(f"{other['_file'].iloc[0]}: {int(overlap.sum())} {name} row(s) repeat a training text "
                        f"(rows {listed}) — remove them or set `data.dedupe: true` to drop them")
    notes.append(f"{int(overlap.sum())} {name} rows dropped: same text as a training row")
    return other[~overlap]


def _unknown(space: LabelSpace, frame: pd.DataFrame, levels: list[str], name: str, explicit: bool,
             data: DataConfig, notes: list[str]) -> pd.DataFrame:
    known = pd.Series(True, index=frame.index)
    for i, level in enumerate(levels):
        known &= frame[level].astype(str).isin(set(space.labels[i]))
    if known.all():
        return frame
    bad = frame[~known]
    if explicit and data.bad_rows == "error":
        first = bad.iloc[0]
        col = next(c for c in levels if str(first[c]) not in set(space.labels[levels.index(c)]))
        raise DataError(f"{first['_file']}: row {first['_row']}, column '{col}': label '{first[col]}' never occurs "
                        f"in training ({len(bad)} {name} row(s) like this) — add training rows with it, or set "
                        "`data.bad_rows: drop`")
    notes.append(f"{len(bad)} {name} rows dropped: their label never occurs in the training split")
    return frame[known]


def _scrub(frame: pd.DataFrame, data: DataConfig, report: PiiReport) -> pd.DataFrame:
    """Personal data masked in the texts, or their rows dropped (`data.pii`), before anything is split, trained,
    cached or written (data/pii.py says why)."""
    frame, found = scrub_columns(frame, ["text"], data.pii)
    report.add(found)
    return frame


def _pii_note(report: PiiReport, notes: list[str]) -> dict:
    if report.rows:
        notes.append(report.said())
    return report.as_dict()


def load_labelled(path: str, recipe: Recipe, levels: list[str]) -> tuple[list[str], list[tuple[str, ...]], list[str]]:
    """Texts and raw label tuples of one extra labelled file (for `evaluate --input`), cleaned like training data."""
    notes: list[str] = []
    frame, levels = _load(path, recipe.data, recipe.task, levels)
    frame = _scrub(frame, recipe.data, PiiReport(recipe.data.pii))
    frame = _map_labels(frame, recipe.data, levels, notes)
    frame = _bad_rows(frame, recipe.data, levels, notes)
    raw = [tuple(r) for r in frame[levels].astype(str).itertuples(index=False, name=None)]
    return frame["text"].tolist(), raw, notes


def prepare_data(recipe: Recipe) -> PreparedData:
    """Read, validate, split, sample and encode the data of a recipe. Raises DataError naming file/row/column."""
    data, notes = recipe.data, []
    seed = data.split.seed
    pii = PiiReport(data.pii)

    def clean(path: str, levels):
        frame, levels = _load(path, data, recipe.task, levels)
        frame = _scrub(frame, data, pii)
        frame = _map_labels(frame, data, levels, notes)
        frame = _bad_rows(frame, data, levels, notes)
        if data.dedupe:
            frame = _dedupe(frame, levels, notes)
        return frame, levels

    train, levels = clean(data.train, None)
    if train.empty:
        raise DataError(f"{resolve_path(data.train)}: no usable rows — check `data.filters` and `data.label_map`")
    independent = getattr(get_task(recipe.task).module("data"), "INDEPENDENT", False)  # heads, not a path
    train = _rare(train, data, levels, notes, independent=independent)
    test = clean(data.test, levels)[0] if data.test else None
    validation = clean(data.validation, levels)[0] if data.validation else None
    if test is None:
        train, test = _split(train, data.split.test, data, levels, seed)
    if validation is None:
        train, validation = _split(train, data.split.validation, data, levels, seed + 1)
    _note_cut(data.validation, len(validation), data.max_validation_rows, "max_validation_rows", notes)
    _note_cut(data.test, len(test), data.max_test_rows, "max_test_rows", notes)
    train = _sample(train, data.max_train_rows, levels, seed, data.split.stratify)
    validation = _sample(validation, data.max_validation_rows, levels, seed, data.split.stratify)
    test = _sample(test, data.max_test_rows, levels, seed, data.split.stratify)

    space = LabelSpace.from_rows(levels, [tuple(r) for r in train[levels].astype(str).itertuples(index=False)])
    for i in range(space.depth) if independent else [space.depth - 1]:
        if space.sizes[i] < 2:
            raise DataError(f"{resolve_path(data.train)}: column '{levels[i]}' has only one label "
                            f"({space.labels[i][0]!r}) in training — a classifier needs at least two")
    test = _check_overlap(train, test, "test", data.dedupe, notes)
    validation = _check_overlap(train, validation, "validation", data.dedupe, notes)
    test = _unknown(space, test, levels, "test", bool(data.test), data, notes)
    validation = _unknown(space, validation, levels, "validation", bool(data.validation), data, notes)
    if test.empty:
        raise DataError("the test split is empty — set `data.split.test` above 0 or give `data.test`")

    prepared = PreparedData(
        train=_to_split("train", train, levels),
        validation=_to_split("validation", validation, levels),
        test=_to_split("test", test, levels),
        space=space,
        notes=notes,
        pii=_pii_note(pii, notes),
        files={k: str(resolve_path(v)) for k, v in
               (("train", data.train), ("validation", data.validation), ("test", data.test)) if v},
    )
    for split in prepared.splits():
        split.labels = space.encode(split.raw_labels)
    return prepared


def summarize(prepared: PreparedData) -> dict:
    """Rows, label balance, text-length percentiles and notes, for `ecomtune data check` and the manifest."""
    out: dict = {"rows": {s.name: len(s) for s in prepared.splits()}, "levels": {}, "text_chars": {}}
    for i, level in enumerate(prepared.space.levels):
        counts = pd.Series([r[i] for r in prepared.train.raw_labels]).value_counts()
        out["levels"][level] = {"n_labels": len(counts), "counts": {str(k): int(v) for k, v in counts.items()},
                                "imbalance": float(counts.max() / counts.min())}
    lengths = np.array([len(t) for t in prepared.train.texts])
    out["text_chars"] = {f"p{q}": float(np.percentile(lengths, q)) for q in (5, 50, 95, 99)}
    out["text_chars"]["max"] = int(lengths.max())
    out["notes"] = list(prepared.notes)
    out["pii"] = dict(prepared.pii)
    out["sha256"] = prepared.sha256
    return out


def known_labelled(recipe: Recipe, space: LabelSpace, data: str | None = None) -> tuple[list[str], list[tuple], int]:
    """Texts and raw labels to score a model on — a labelled file, or the recipe's test split — keeping only rows
    whose label the model knows, and how many were left out; a DataError when none is left."""
    if data is not None:
        texts, raw, _ = load_labelled(str(data), recipe, space.levels)
    else:
        test = prepare_data(recipe).test
        texts, raw = test.texts, test.raw_labels
    keep = [i for i, r in enumerate(raw) if space.knows(r)]
    if not keep:
        seen = sorted({" > ".join(r) for r in raw})[:3]
        raise DataError(f"{data or 'the test split'}: no row has a label the model knows — the file has "
                        f"{', '.join(map(repr, seen))}…, the model {', '.join(map(repr, space.labels[-1][:5]))}…; "
                        f"check that column(s) {', '.join(space.levels)} hold the training labels (the recipe's "
                        "`data.label_map` is applied)")
    return [texts[i] for i in keep], [raw[i] for i in keep], len(raw) - len(keep)
