"""Product Q&A data: one (product, question, answer) row per answered question, from any table `read_table` reads.

The default column names are those of the Amazon Q&A files (McAuley et al.): `asin`, `question`, `answer`,
`questionType` (`yes/no` | `open-ended`) and `answerType` (`Y` / `N` / `?` for yes/no questions, absent for
open-ended ones). Every other column is ignored. The frames `QAData` holds have the columns

    row (the row in the file, 0-based), product, question, answer, kind ("yes/no" | "open"), label ("yes" | "no" | "")

`label` is set only for yes/no questions whose answer is labelled yes or no; "?" (the answer does not say) and
open questions have "".

The split is grouped by product (seeded): all of a product's questions are in train or all in test, so a test
question is never answered from its own product's training rows, and the context of a question (the product's
other Q&A, see `context.py`) always comes from its own side of the split.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.data.pii import scrub_columns
from ecomtune.data.readers import read_table, resolve_path, table_format
from ecomtune.errors import DataError

YES, NO = "yes", "no"
OPEN = "open"
BAD_ROWS = ("error", "drop")
# What `answerType` (or another label column) may hold: the yes / no answers, and the answers that do not say
DEFAULT_LABELS = {"Y": YES, "N": NO, "?": "", "": ""}


@dataclass
class QAData:
    """The train / test rows (split by product) and what they hold (`info`)."""

    train: pd.DataFrame
    test: pd.DataFrame
    info: dict = field(default_factory=dict)


def where(fmt: str, index: int) -> str:
    """"row R (line L)" of a 0-based frame row: the line a text editor shows (CSV/TSV have a header line)."""
    if fmt in (".csv", ".tsv"):
        return f"row {index + 1} (line {index + 2})"
    if fmt == ".jsonl":
        return f"row {index + 1} (line {index + 1})"
    return f"row {index + 1}"


def read_qa(path: str | Path, product_column: str = "asin", question_column: str = "question",
            answer_column: str = "answer", kind_column: str | None = "questionType",
            label_column: str | None = "answerType", yes_no_kind: str = "yes/no",
            labels: dict[str, str] | None = None, bad_rows: str = "error",
            pii: str = "mask") -> tuple[pd.DataFrame, dict]:
    """The normalised Q&A frame (see the module docstring) and what was dropped.

    `kind_column=None`: every question is open. `label_column=None`: no yes/no labels. `labels` maps the label
    column's values to "yes" / "no" / "" (does not say); the default reads the Amazon `Y` / `N` / `?`. A row with an
    empty product, question or answer, or a yes/no label outside `labels`, is a DataError naming its row and column
    (`bad_rows: "error"`), or is dropped and counted (`bad_rows: "drop"`). Personal data in questions and answers
    is masked, or its rows dropped, or kept (`pii`: "mask" / "drop" / "keep"; counted in `pii` of the info).
    """
    if bad_rows not in BAD_ROWS:
        raise DataError(f"`bad_rows` must be one of {', '.join(BAD_ROWS)}, got {bad_rows!r} — set `bad_rows: drop` "
                        "to skip bad rows or `bad_rows: error` to stop at the first")
    labels = DEFAULT_LABELS if labels is None else {str(k).strip(): v for k, v in labels.items()}
    for value in labels.values():
        if value not in (YES, NO, ""):
            raise DataError(f"`labels` maps to {value!r} — map each label value to \"yes\", \"no\" or \"\" (the "
                            "answer does not say)")
    path = resolve_path(str(path))
    frame = read_table(path)
    fmt = table_format(path)
    named = {"product_column": product_column, "question_column": question_column, "answer_column": answer_column,
             "kind_column": kind_column, "label_column": label_column}
    for key, column in named.items():
        if column is not None and column not in frame.columns:
            raise DataError(f"{path}: no column `{column}` (set by `{key}`) — columns are: "
                            f"{', '.join(map(str, frame.columns))}" +
                            ("; set it to None if the table has none" if key in ("kind_column", "label_column")
                             else ""))
    keep = np.ones(len(frame), dtype=bool)
    problems: dict[str, int] = {}

    def bad(mask: np.ndarray, column: str, problem: str, fix: str) -> None:
        nonlocal keep
        if not mask.any():
            return
        if bad_rows == "error":
            first = int(np.flatnonzero(mask)[0])
            raise DataError(f"{path}: {where(fmt, first)}, column `{column}`: {problem} ({int(mask.sum())} "
                            f"such rows) — {fix}, or set `bad_rows: drop`")
        problems[f"{problem} in `{column}`"] = int((mask & keep).sum())
        keep &= ~mask

    text = {c: frame[c].astype(str).str.strip() for c in (product_column, question_column, answer_column)}
    for column, values in text.items():
        bad(values.to_numpy() == "", column, "empty value", "fill it in or remove the row")
    kind = (frame[kind_column].astype(str).str.strip() == yes_no_kind).to_numpy() if kind_column \
        else np.zeros(len(frame), dtype=bool)
    label = np.full(len(frame), "", dtype=object)
    if label_column:
        raw = frame[label_column].astype(str).str.strip()
        unknown = kind & ~raw.isin(list(labels)).to_numpy()
        values = ", ".join(repr(v) for v in labels)
        bad(unknown, label_column, f"yes/no label outside {values}",
            "map it with `labels` (e.g. `labels: {Yes: yes, No: no}`)")
        label = np.where(kind & ~unknown, raw.map(labels).fillna("").to_numpy(dtype=object), "")
    out = pd.DataFrame({"row": np.arange(len(frame)), "product": text[product_column].to_numpy(),
                        "question": text[question_column].to_numpy(), "answer": text[answer_column].to_numpy(),
                        "kind": np.where(kind, "yes/no", OPEN), "label": label})
    out, found = scrub_columns(out[keep], ["question", "answer"], pii)
    return out.reset_index(drop=True), {"dropped": len(frame) - len(out), "problems": problems,
                                        "pii": found.as_dict()}


def split_products(frame: pd.DataFrame, test: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows: a seeded shuffle of the distinct products, the first `round(test x products)` (at least
    one when `test > 0`) go to test. A product is never on both sides."""
    if not 0 <= test < 1:
        raise DataError(f"the test fraction must be in [0, 1), got {test} — e.g. `test: 0.2`")
    products = sorted(frame["product"].unique())
    random.Random(seed).shuffle(products)
    n_test = max(1, round(len(products) * test)) if test > 0 else 0
    if n_test >= len(products) and test > 0:
        raise DataError(f"{len(products)} product(s) cannot be split {1 - test:.0%} / {test:.0%} by product — "
                        "add products or set `test: 0`")
    in_test = frame["product"].isin(set(products[:n_test])).to_numpy()
    return frame[~in_test].reset_index(drop=True), frame[in_test].reset_index(drop=True)


def describe(frame: pd.DataFrame) -> dict:
    """Rows, products, yes/no counts and the majority share of the labelled yes/no questions."""
    labelled = frame["label"][frame["label"] != ""]
    yes = int((labelled == YES).sum())
    return {"rows": len(frame), "products": int(frame["product"].nunique()),
            "yes_no": int((frame["kind"] == "yes/no").sum()), "open": int((frame["kind"] == OPEN).sum()),
            "labelled": len(labelled), "yes": yes, "no": len(labelled) - yes,
            "majority_share": round(max(yes, len(labelled) - yes) / len(labelled), 4) if len(labelled) else None}


def load_qa(path: str | Path, test: float = 0.2, seed: int = 42, bad_rows: str = "error", pii: str = "mask",
            **columns) -> QAData:
    """Read, validate and split by product; `columns` are `read_qa`'s column / label arguments."""
    frame, dropped = read_qa(path, bad_rows=bad_rows, pii=pii, **columns)
    if frame.empty:
        raise DataError(f"{path}: no usable Q&A rows" + (f" ({dropped['dropped']} dropped)" if dropped["dropped"]
                                                         else "") + " — check the column names and the file")
    train, test_frame = split_products(frame, test, seed)
    info = {**describe(frame), **dropped, "seed": seed, "test_fraction": test,
            "train": describe(train), "test": describe(test_frame)}
    return QAData(train, test_frame, info)
