"""Interactions -> per-user chronological sequences -> the leave-one-out split (+ the cold-start hold-out).

Protocol (the one published sequential-recommendation results use):
- each user's last item is the test target (history: everything before it), the second-to-last the validation
  target (history: everything before that), and the rest is training;
- users with fewer than `min_history` (>= 3) interactions are dropped;
- cold start (`data.cold_items > 0`): a seeded fraction of items is removed from every training sequence and
  every history, so no model ever sees them interacted with; they stay in the catalogue and remain validation /
  test targets, and the evaluation reports the users whose target is cold separately.

Items get internal indices 1..n in first-seen order (0 is padding); `item_ids[i]` is the external id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecomtune.data.pii import PiiReport, scrub
from ecomtune.data.readers import read_lines, read_table, resolve_path
from ecomtune.errors import DataError
from ecomtune.tasks.recommend.recipe import RecommendData


@dataclass
class Split:
    """Evaluation cases: history (internal ids, oldest first) -> one target."""

    users: list[int]
    histories: list[np.ndarray]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows) -> Split:
        rows = list(rows)
        return Split([self.users[r] for r in rows], [self.histories[r] for r in rows], self.targets[rows])


@dataclass
class RecData:
    """The catalogue, the training sequences and the validation/test cases."""

    item_ids: list[str]  # index 0 = padding
    item_texts: list[str] | None  # aligned with item_ids, or None for ID-only data
    user_ids: list[str]
    train: list[np.ndarray]  # per user: training sequence (internal ids)
    validation: Split
    test: Split
    cold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # held-out item ids
    user_texts: list[str] | None = None  # aligned with user_ids ("" = no profile), when `data.users` is set
    notes: list[str] = field(default_factory=list)
    pii: dict = field(default_factory=dict)  # personal data found per kind in item / user texts (`data.pii`)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1

    def trainable_mask(self) -> np.ndarray:
        """[n_items + 1] bool: items the training softmax may predict (all but padding and cold items)."""
        mask = np.ones(len(self.item_ids), dtype=bool)
        mask[0] = False
        mask[self.cold] = False
        return mask

    def summary(self) -> dict:
        lengths = [len(s) for s in self.train]
        return {"users": len(self.user_ids), "items": self.n_items, "cold_items": len(self.cold),
                "train_interactions": int(sum(lengths)), "mean_train_length": round(float(np.mean(lengths)), 2),
                "validation_cases": len(self.validation), "test_cases": len(self.test),
                "cold_test_cases": int(np.isin(self.test.targets, self.cold).sum())}


def _clean_columns(frame):
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]  # RecBole `item_id:token` -> `item_id`
    return frame


def _sniff(path: Path) -> tuple[str, str | None]:
    """(format, the delimiter of a table whose file name does not say it is one) of an interactions file."""
    suffixes = {s.lower() for s in path.suffixes}
    if suffixes & {".parquet", ".json", ".jsonl"}:
        return "table", None
    head = read_lines(path, limit=50)
    if head and "item_id_list" in head[0]:
        return "recbole", None
    if suffixes & {".csv", ".tsv", ".inter"}:
        return "table", None
    table = _delimited(head)
    if table is None:
        return "sequences", None
    sep, has_header, width = table
    if not has_header:
        names = (["user_id", "item_id", "rating", "timestamp"] + [f"col{i}" for i in range(5, width + 1)])[:width]
        header = sep.join(names).replace("\t", "\\t")
        kind = "TAB" if sep == "\t" else "comma"
        time = ", and set `data.time_column: timestamp`" if width >= 4 else ""
        raise DataError(f"{path}: reads as a table without a header ({width} {kind}-separated columns, numbers in "
                        "the 3rd/4th like rating/timestamp), not as `user item item …` lines — add a header line, "
                        f"e.g. `sed -i '1i {header}' {path.name}`{time}; or set `data.format: sequences` if each "
                        "line is one user's items")
    return "table", sep


def _delimited(lines: list[str]) -> tuple[str, bool, int] | None:
    """(delimiter, has a header, columns) when `lines` are TAB- or comma-separated fields, the same number (>= 3)
    on every line, whose 3rd or 4th field is a number (a rating, a timestamp) on every line after the first."""
    for sep in ("\t", ","):
        rows = [line.rstrip("\r\n").split(sep) for line in lines if line.strip()]
        width = len(rows[0]) if rows else 0
        if len(rows) < 2 or width < 3 or any(len(r) != width for r in rows):
            continue
        for col in range(2, min(width, 4)):
            if all(_number(r[col]) for r in rows[1:]):
                return sep, not _number(rows[0][col]), width
    return None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_sequences(cfg: RecommendData) -> tuple[list[str], list[list[str]]]:
    """(user ids, chronological item-id lists) from any of the supported layouts."""
    path = resolve_path(cfg.interactions)
    if not path.exists():
        raise DataError(f"{path}: file not found — check `data.interactions` in the recipe")
    fmt, sep = (cfg.format, None) if cfg.format != "auto" else _sniff(path)
    if fmt == "sequences":
        users, seqs = [], []
        for lineno, line in enumerate(read_lines(path), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DataError(f"{path}: line {lineno} has a user but no items — each line must be "
                                "`user item item ...` (space-separated, oldest first)")
            users.append(parts[0])
            seqs.append(parts[1:])
        return users, seqs
    frame = _clean_columns(read_table(path, {"\t": ".tsv", ",": ".csv"}.get(sep)))
    if fmt == "recbole":
        for col in ("user_id", "item_id_list", "item_id"):
            if col not in frame.columns:
                raise DataError(f"{path}: RecBole file without a `{col}` column — columns: {', '.join(frame.columns)}")
        return frame["user_id"].tolist(), [f"{h} {t}".split() for h, t in zip(frame["item_id_list"], frame["item_id"])]
    for key, col in (("user_column", cfg.user_column), ("item_column", cfg.item_column),
                     ("time_column", cfg.time_column)):
        if col is not None and col not in frame.columns:
            raise DataError(f"{path}: no column `{col}` (`data.{key}`) — columns present: {', '.join(frame.columns)}")
    empty = frame.index[(frame[cfg.user_column] == "") | (frame[cfg.item_column] == "")]
    if len(empty):
        raise DataError(f"{path}: row {int(empty[0]) + 2} has an empty `{cfg.user_column}` or `{cfg.item_column}` "
                        "— remove rows without a user or an item")
    if cfg.time_column:
        times = frame[cfg.time_column].astype(float, errors="ignore")
        frame = frame.assign(_t=times).sort_values("_t", kind="stable")
    grouped = frame.groupby(cfg.user_column, sort=False)[cfg.item_column].agg(list)
    return grouped.index.tolist(), grouped.tolist()


def read_item_texts(cfg: RecommendData) -> dict[str, str]:
    """External item id -> text (text columns joined with ' | ')."""
    return _read_texts(cfg.items, ("item_id_column", cfg.item_id_column),
                       [("item_text_column", c) for c in cfg.text_columns], "item")


def read_user_texts(cfg: RecommendData) -> dict[str, str]:
    """External user id -> profile text (two_tower's optional user-tower input)."""
    return _read_texts(cfg.users, ("user_id_column", cfg.user_id_column),
                       [("user_text_column", c) for c in cfg.user_text_columns], "user")


def _read_texts(file: str, id_key: tuple[str, str], text_keys: list[tuple[str, str]], what: str) -> dict[str, str]:
    path = resolve_path(file)
    frame = _clean_columns(read_table(path))
    for key, col in [id_key] + text_keys:
        if col not in frame.columns:
            raise DataError(f"{path}: no column `{col}` (`data.{key}`) — columns present: {', '.join(frame.columns)}")
    id_col, text_cols = id_key[1], [c for _, c in text_keys]
    texts = frame[text_cols[0]].astype(str)
    for col in text_cols[1:]:
        texts = texts.str.cat(frame[col].astype(str), sep=" | ")
    dupes = frame[id_col].duplicated()
    if dupes.any():
        row = int(np.flatnonzero(dupes.to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: {what} id {frame[id_col].iloc[row]!r} appears twice in "
                        f"`{id_col}` — keep one row per {what}")
    return dict(zip(frame[id_col].astype(str), texts.str.strip()))


def load_data(cfg: RecommendData, need_text: bool) -> RecData:
    """Read, index, split; with `need_text`, every item must have a (non-empty) text."""
    users, seqs = read_sequences(cfg)
    notes = []
    keep = [i for i, s in enumerate(seqs) if len(s) >= cfg.min_history]
    if len(keep) < len(seqs):
        notes.append(f"{len(seqs) - len(keep)} users with fewer than {cfg.min_history} interactions dropped")
    rng = np.random.default_rng(cfg.seed)
    if cfg.max_users and len(keep) > cfg.max_users:
        keep = sorted(rng.choice(keep, cfg.max_users, replace=False).tolist())
        notes.append(f"sampled {cfg.max_users} users (data.max_users)")
    if not keep:
        raise DataError(f"{cfg.interactions}: no user has {cfg.min_history} or more interactions — leave-one-out "
                        "needs at least train + validation + test items per user")
    texts = read_item_texts(cfg) if cfg.items else None
    index: dict[str, int] = {}
    if texts is not None:  # the whole catalogue, including items nobody interacted with
        for item in texts:
            index.setdefault(item, len(index) + 1)
    sequences = []
    for u in keep:
        for item in seqs[u]:
            if item not in index:
                if texts is not None and need_text:
                    raise DataError(f"{cfg.interactions}: item {item!r} (user {users[u]!r}) is not in "
                                    f"{cfg.items} — every interacted item needs a row with its text")
                index[item] = len(index) + 1
        sequences.append(np.array([index[i] for i in seqs[u]], dtype=np.int64))
    item_ids = ["[PAD]"] + list(index)
    item_texts = None
    if texts is not None:
        item_texts = [""] + [texts.get(i, "") for i in item_ids[1:]]
        empty = [i for i in item_ids[1:] if not texts.get(i, "").strip()]
        if empty and need_text:
            raise DataError(f"{cfg.items}: item {empty[0]!r} has an empty text ({len(empty)} items in all) — fill "
                            f"`{'`/`'.join(cfg.text_columns)}` or remove those items")
    cold = np.zeros(0, dtype=np.int64)
    if cfg.cold_items:
        interacted = np.unique(np.concatenate(sequences))
        cold = np.sort(rng.choice(interacted, int(round(cfg.cold_items * len(interacted))), replace=False))
    data = split(item_ids, item_texts, [users[u] for u in keep], sequences, cold, notes)
    needed = 1 if cfg.users else 2  # a training pair: history -> next item (with a profile, the history may be empty)
    if not any(len(s) >= needed for s in data.train):
        cold_note = ", cold items removed" if len(cold) else ""
        raise DataError(f"{resolve_path(cfg.interactions)}: nothing to train on — leave-one-out holds out each "
                        f"user's last two items, and no user keeps {needed}+ training items ({len(keep)} users, the "
                        f"longest with {max(map(len, sequences))} interactions{cold_note}) — check that the file is "
                        "read as intended (`data.format`), or give users longer histories")
    if cfg.users:
        profiles = read_user_texts(cfg)
        data.user_texts = [profiles.get(str(u), "") for u in data.user_ids]
        missing = sum(not t for t in data.user_texts)
        if missing == len(data.user_texts):
            raise DataError(f"{cfg.users}: no user of {cfg.interactions} has a row here — `data.user_id_column` "
                            f"({cfg.user_id_column!r}) must hold the same user ids as the interactions")
        if missing:
            data.notes.append(f"{missing} of {len(data.user_texts)} users have no profile text (they get none)")
    _scrub(data, cfg.pii)
    return data


def _scrub(data: RecData, policy: str) -> None:
    """Personal data in item and user texts masked (`data.pii: mask`); under `drop` a user profile holding some is
    left out (the user keeps no profile text) and item texts are masked: an item cannot leave the catalogue its
    histories name."""
    report = PiiReport(policy)
    if data.item_texts is not None:
        data.item_texts, _, found = scrub(data.item_texts, "keep" if policy == "keep" else "mask")
        report.add(found)
    if data.user_texts is not None:
        texts, keep, found = scrub(data.user_texts, policy)
        data.user_texts = [t if k else "" for t, k in zip(texts, keep)]
        report.add(found)
    data.pii = report.as_dict()
    if report.rows:
        data.notes.append(report.said())


def check(recipe) -> dict:
    """`ecomtune data check` of a recommendation recipe: read, validate and split; users, items, notes."""
    data = load_data(recipe.data, need_text=recipe.uses_text)
    s = data.summary()
    said = [f"{s['users']} users, {s['items']} items ({s['cold_items']} held out as cold), {s['train_interactions']} "
            f"training interactions ({s['mean_train_length']} per user)",
            f"leave-one-out: {s['validation_cases']} validation / {s['test_cases']} test cases "
            f"({s['cold_test_cases']} with a cold target)"]
    return {"task": "recommend", **s, "notes": data.notes, "pii": data.pii, "said": said}


def split(item_ids, item_texts, user_ids, sequences, cold, notes=None) -> RecData:
    """Leave-one-out with the cold items removed from training sequences and histories (not from targets)."""
    is_cold = np.zeros(len(item_ids), dtype=bool)
    is_cold[cold] = True

    def warm(seq):
        return seq[~is_cold[seq]] if len(cold) else seq

    train = [warm(s[:-2]) for s in sequences]
    users = list(range(len(sequences)))
    validation = Split(users, [warm(s[:-2]) for s in sequences], np.array([s[-2] for s in sequences]))
    test = Split(users, [warm(s[:-1]) for s in sequences], np.array([s[-1] for s in sequences]))
    return RecData(item_ids, item_texts, user_ids, train, validation, test, cold, notes=list(notes or []))
