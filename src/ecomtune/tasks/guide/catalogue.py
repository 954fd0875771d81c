"""Read a product catalogue (any CSV with id, name, type and optionally description, photo and price) and a rooms
table, checking both before anything is embedded: a missing column, a duplicate id, a bad price or a missing photo
is one line naming the file, the row and the fix."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.errors import DataError
from ecomtune.tasks.guide.pieces import piece_of


@dataclass
class Catalogue:
    """Products in file order; `images[i]` is an absolute path or None, `prices[i]` NaN when unknown."""

    path: Path
    ids: list[str]
    names: list[str]
    types: list[str]
    texts: list[str]  # what the text encoder reads
    images: list[str | None]
    prices: np.ndarray
    pieces: list[str | None]
    links: list[str | None]
    currency: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def row(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.ids)}

    @property
    def priced(self) -> bool:
        return bool(np.isfinite(self.prices).any())

    @property
    def has_photos(self) -> bool:
        return any(self.images)


def _read(path: str | Path, sep: str = ",", decimal: str = ".") -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file — check the path (relative paths are relative to the recipe)")
    try:
        return pd.read_csv(path, sep=sep, decimal=decimal, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as a table with separator {sep!r} ({exc}) — set `data.sep`") from None


def _slug_words(link: str) -> str:
    """'https://www.ikea.com/sa/en/p/frekvens-bar-table-in-outdoor-black-90420332/' -> 'frekvens bar table in
    outdoor black' (a product page's slug is a descriptive title)."""
    slug = link.rstrip("/").rsplit("/", 1)[-1]
    return " ".join(w for w in slug.split("-") if not w.isdigit() and not re.fullmatch(r"s?\d+", w))


def read_catalogue(data) -> Catalogue:
    """`data`: the recipe's `data` section (or anything with `catalogue`, `columns`, `sep`, `decimal`,
    `currency`)."""
    path = Path(data.catalogue)
    frame = _read(path, data.sep, data.decimal)
    cols = data.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v}
    missing = [f"`{v}` (data.columns.{k})" for k, v in wanted.items() if v not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)} — the columns are {', '.join(frame.columns)}; set "
                        "`data.columns` to the right names")
    ids = frame[cols.id].str.strip().tolist()
    for i, pid in enumerate(ids):
        if not pid:
            raise DataError(f"{path}, row {i + 2}: empty `{cols.id}` — give every product an id")
    seen: dict[str, int] = {}
    for i, pid in enumerate(ids):
        if pid in seen and getattr(data, "duplicate_ids", "error") == "error":
            raise DataError(f"{path}, rows {seen[pid] + 2} and {i + 2}: product id {pid!r} twice — ids must be "
                            "unique: merge the rows, or set `data.duplicate_ids: first` to keep each id's first row")
        seen.setdefault(pid, i)
    if len(seen) < len(ids):  # duplicate_ids: first
        frame = frame.iloc[sorted(seen.values())].reset_index(drop=True)
        ids = frame[cols.id].str.strip().tolist()

    def column(name: str | None) -> list[str]:  # runs of spaces (spreadsheet padding) become one
        return frame[name].str.split().str.join(" ").tolist() if name else [""] * len(frame)

    names, types, descs = column(cols.name), column(cols.type), column(cols.description)
    colours, categories, links = column(cols.colour), column(cols.category), column(cols.link)
    prices = np.full(len(frame), np.nan)
    if cols.price:
        for i, raw in enumerate(column(cols.price)):
            if not raw:
                continue
            try:
                value = float(raw.replace(data.decimal, ".") if data.decimal != "." else raw.replace(",", ""))
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise DataError(f"{path}, row {i + 2}, column `{cols.price}`: {raw!r} is not a price — write a "
                                f"number (decimal mark {data.decimal!r}), or leave it empty")
            prices[i] = value
    images: list[str | None] = [None] * len(frame)
    if cols.image:
        for i, rel in enumerate(column(cols.image)):
            if rel:
                file = (path.parent / rel).resolve()
                if not file.is_file():
                    raise DataError(f"{path}, row {i + 2}, column `{cols.image}`: {rel} does not exist (paths are "
                                    "relative to the catalogue) — fix the path, or leave the cell empty")
                images[i] = str(file)
    texts = [". ".join(p for p in (f"{n} {t}".strip(), c, d, cat, _slug_words(lk) if lk else "") if p)
             for n, t, c, d, cat, lk in zip(names, types, colours, descs, categories, links)]
    pieces = [piece_of(t, n, c) for t, n, c in zip(types, names, categories)]
    if not any(pieces):
        raise DataError(f"{path}: no product type in `{cols.type}` maps to a furnishing piece (bed, sofa, lamp...) — "
                        "point `data.columns.type` at the product-type column")
    return Catalogue(path, ids, names, types, texts, images, prices, pieces, [lk or None for lk in links],
                     getattr(data, "currency", ""))


@dataclass
class Rooms:
    """Rooms with the products in them (row numbers into the rooms' catalogue)."""

    ids: list[str]
    titles: list[str]
    types: list[str]  # '' when unknown
    images: list[str | None]
    products: list[list[int]]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def with_photo(self) -> list[int]:
        return [i for i, im in enumerate(self.images) if im]


ROOM_COLUMNS = ("room_id", "title", "room_type", "image", "product_ids")


def read_rooms(path: str | Path, catalogue: Catalogue) -> Rooms:
    """`room_id, title, room_type, image, product_ids`; product ids not in the catalogue are dropped (said once)."""
    path = Path(path)
    frame = _read(path)
    missing = [c for c in ROOM_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)} — a rooms table has {', '.join(ROOM_COLUMNS)} "
                        "(product_ids space-separated)")
    row = catalogue.row
    products, unknown = [], 0
    for ids in frame["product_ids"]:
        known = [row[p] for p in ids.split() if p in row]
        unknown += len(ids.split()) - len(known)
        products.append(known)
    if not any(products):
        raise DataError(f"{path}: no product id of `product_ids` is in {catalogue.path.name} — the rooms must name "
                        "products of the catalogue they are trained with (`data.rooms_catalogue`)")
    images = []
    for i, rel in enumerate(frame["image"]):
        file = (path.parent / rel).resolve() if rel else None
        if file is not None and not file.is_file():
            raise DataError(f"{path}, row {i + 2}, column `image`: {rel} does not exist — fix the path or leave it "
                            "empty")
        images.append(str(file) if file else None)
    return Rooms(frame["room_id"].tolist(), frame["title"].tolist(), frame["room_type"].tolist(), images, products)
