"""Image data: read a folder per class or a table of paths, check every image, split grouped by file hash.

Checks before training, each naming the file and its row: missing, empty (0 bytes), unreadable, truncated and too
small images are bad rows (`data.bad_rows: error` lists them, `drop` drops them with a count); CMYK, palette,
alpha and grey images are noted by name and converted to RGB when decoded (`images.open_rgb`). Byte-identical
images share an md5, and a random split keeps each md5 on one side, so a duplicate cannot leak from train to test.
"""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ecomtune.data.labels import LabelSpace
from ecomtune.data.readers import read_table, resolve_path
from ecomtune.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
SPLITS = {"train": "train", "training": "train", "valid": "validation", "validation": "validation", "val": "validation",
          "dev": "validation", "test": "test", "testing": "test"}
NOT_RGB = {"CMYK": "CMYK", "P": "palette", "PA": "palette", "RGBA": "alpha", "LA": "alpha", "L": "grey", "1": "grey",
           "I;16": "16-bit", "I": "32-bit", "F": "float", "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV"}


@dataclass
class ImageSplit:
    """One split: absolute image paths, label ids [n, depth], where each row came from, and file hashes."""

    paths: list[str]
    labels: np.ndarray
    origins: list[str]
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, index) -> ImageSplit:
        index = list(index)
        return ImageSplit([self.paths[i] for i in index], self.labels[index], [self.origins[i] for i in index],
                          [self.hashes[i] for i in index])


@dataclass
class PreparedImages:
    space: LabelSpace
    train: ImageSplit
    validation: ImageSplit
    test: ImageSplit
    files: dict[str, str]
    notes: list[str] = field(default_factory=list)
    checked: dict = field(default_factory=dict)  # image statistics of the check


@dataclass
class ImageInfo:
    md5: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    problem: str = ""  # why the image cannot be used; "" when it can


def inspect(path: str, min_side: int) -> ImageInfo:
    """Hash and fully decode one image (a truncated JPEG only fails when its last bytes are read)."""
    p = Path(path)
    if not p.is_file():
        return ImageInfo(problem="file not found")
    data = p.read_bytes()
    if not data:
        return ImageInfo(problem="empty file (0 bytes)")
    info = ImageInfo(md5=hashlib.md5(data).hexdigest())
    try:
        with Image.open(p) as im:
            info.width, info.height, info.mode = im.width, im.height, im.mode
            im.draft("RGB", (max(min_side, 64), max(min_side, 64)))  # decode at a reduced scale: checks every byte
            im.load()
    except UnidentifiedImageError:
        info.problem = "not an image Pillow can read"
    except (OSError, SyntaxError, ValueError) as exc:
        info.problem = f"unreadable or truncated ({exc})"
    else:
        if min(info.width, info.height) < min_side:
            info.problem = f"too small ({info.width}x{info.height} < data.min_side {min_side})"
    return info


def read_source(path: str, data, role: str) -> pd.DataFrame:
    """A folder per class or a table -> rows with `image` (absolute path), the label levels and `origin`."""
    source = resolve_path(path)
    if not source.exists():
        raise DataError(f"{source}: `data.{role}` does not exist — give a folder with one sub-folder per class or "
                        "a table (csv, tsv, parquet) of image paths and labels")
    levels = data.levels
    if source.is_dir():
        if len(levels) > 1:
            raise DataError(f"{source}: a folder per class holds one label level, but `data.label_columns` names "
                            f"{len(levels)} — give a table with one column per level")
        rows = [{"image": str(f.resolve()), levels[0]: d.name, "origin": f"{d.name}/{f.name}"}
                for d in sorted(p for p in source.iterdir() if p.is_dir())
                for f in sorted(d.iterdir()) if f.suffix.lower() in EXTENSIONS]
        if not rows:
            raise DataError(f"{source}: no images ({', '.join(EXTENSIONS)}) in its sub-folders — put each class's "
                            "images in a sub-folder named after the class")
        return pd.DataFrame(rows)
    frame = read_table(source)
    wanted = [data.image_column, *levels] + ([data.split_column] if data.split_column else [])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        key = "image_column" if missing[0] == data.image_column else \
            "split_column" if missing[0] == data.split_column else "label_column(s)"
        raise DataError(f"{source}: no column '{missing[0]}' (`data.{key}`) — columns present: "
                        f"{', '.join(map(str, frame.columns))}")
    base = source.parent
    out = pd.DataFrame({"image": [str((base / p).resolve()) if p else "" for p in frame[data.image_column]],
                        **{lv: frame[lv].astype(str).str.strip() for lv in levels},
                        "origin": [f"{source.name} row {i + 2}" for i in range(len(frame))]})
    if data.split_column:
        out["split"] = frame[data.split_column].astype(str).str.strip().str.lower()
    return out


def _check_images(frame: pd.DataFrame, data, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Inspect every image (two threads: Pillow decodes without the GIL); bad rows are an error or dropped."""
    levels = data.levels
    files = frame["image"].tolist()
    with ThreadPoolExecutor(2) as pool:
        infos = dict(zip(files, pool.map(lambda f: inspect(f, data.min_side) if f else
                                         ImageInfo(problem="empty image path"), files)))
    problems = [(row.Index, row.origin, row.image, infos[row.image].problem) for row in frame.itertuples()
                if infos[row.image].problem]
    no_label = frame[levels].eq("").any(axis=1) | frame[levels].eq("nan").any(axis=1)
    problems += [(k, o, i, "empty label") for k, o, i in
                 zip(frame.index[no_label], frame["origin"][no_label], frame["image"][no_label])]
    if problems and data.bad_rows == "error":
        shown = "; ".join(f"{o}: {i} — {why}" for _, o, i, why in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DataError(f"{len(problems)} bad image rows: {shown}{more} — fix or remove them, or set "
                        "`data.bad_rows: drop`")
    if problems:
        notes.append(f"dropped {len(problems)} bad image rows (`data.bad_rows: drop`), e.g. {problems[0][1]}: "
                     f"{problems[0][3]}")
        # by row, not by origin: a train and a test folder may both hold `red/0.jpg`
        frame = frame.drop(index=sorted({k for k, _, _, _ in problems})).reset_index(drop=True)
    converted = defaultdict(list)
    for row in frame.itertuples():
        kind = NOT_RGB.get(infos[row.image].mode)
        if kind:
            converted[kind].append(row.origin)
    for kind, origins in converted.items():
        notes.append(f"{len(origins)} {kind} images are converted to RGB when read (alpha onto white), e.g. "
                     f"{', '.join(origins[:3])}")
    frame = frame.assign(md5=[infos[f].md5 for f in frame["image"]])
    sides = np.array([min(infos[f].width, infos[f].height) for f in frame["image"]] or [0])
    stats = {"images": len(frame), "unique_files": int(frame["md5"].nunique()),
             "short_side_px": {"p5": int(np.percentile(sides, 5)), "p50": int(np.median(sides)),
                               "max": int(sides.max())},
             "converted_to_rgb": {k: len(v) for k, v in converted.items()}}
    return frame, stats


def grouped_split(frame: pd.DataFrame, fraction: float, seed: int, level: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, held out): about `fraction` of each label's file-hash groups held out; a group never straddles."""
    if fraction <= 0:
        return frame, frame.iloc[:0]
    rng = random.Random(seed)
    held: list[str] = []
    for _, groups in sorted(frame.groupby(level)["md5"].unique().items()):
        groups = sorted(set(groups) - set(held))
        rng.shuffle(groups)
        take = round(len(groups) * fraction)
        if 0 < fraction and take == 0 and len(groups) > 2:
            take = 1
        held += groups[:take]
    out = frame["md5"].isin(set(held))
    return frame[~out], frame[out]


def _sample(frame: pd.DataFrame, n: int | None, seed: int, level: str) -> pd.DataFrame:
    if not n or len(frame) <= n:
        return frame
    share = n / len(frame)
    keep = [i for _, rows in sorted(frame.groupby(level).groups.items())
            for i in random.Random(seed).sample(list(rows), max(1, round(len(rows) * share)))]
    return frame.loc[sorted(keep)]


def prepare_images(recipe) -> PreparedImages:
    """Read, check and split the recipe's images; labels become ids of the training label space."""
    data, notes = recipe.data, []
    levels = data.levels
    frames = {"train": read_source(data.train, data, "train")}
    for role in ("validation", "test"):
        if getattr(data, role):
            frames[role] = read_source(getattr(data, role), data, role)
    frame = pd.concat([f.assign(role=r) for r, f in frames.items()], ignore_index=True)
    frame, stats = _check_images(frame, data, notes)
    finest = levels[-1]
    if data.split_column:
        unknown = sorted(set(frame["split"]) - set(SPLITS))
        if unknown:
            raise DataError(f"{data.train}: `data.split_column` ({data.split_column}) has values {unknown[:5]} — use "
                            f"train / valid / validation / test")
        frame["role"] = frame["split"].map(SPLITS)
    train = _sample(frame[frame["role"] == "train"], data.max_rows, data.seed, finest)
    parts = {"train": train}
    for role, fraction in (("test", data.test_fraction), ("validation", data.validation_fraction)):
        if (frame["role"] == role).any():
            parts[role] = frame[frame["role"] == role]
        else:
            parts["train"], parts[role] = grouped_split(parts["train"], fraction, data.seed + (role == "validation"), finest)
    if data.max_rows:
        for role in ("validation", "test"):
            parts[role] = _sample(parts[role], max(1, data.max_rows // 4), data.seed, finest)
    if not len(parts["train"]):
        raise DataError(f"{data.train}: no training images left after the checks and the split")
    space = LabelSpace.from_rows(levels, list(parts["train"][levels].itertuples(index=False, name=None)))
    splits = {}
    for role, part in parts.items():
        known = [space.knows(r) for r in part[levels].itertuples(index=False, name=None)]
        if not all(known):
            notes.append(f"{len(known) - sum(known)} {role} images have a label never seen in training and are "
                         f"left out, e.g. {part['origin'][[not k for k in known]].iloc[0]}")
            part = part[known]
        rows = list(part[levels].itertuples(index=False, name=None))
        splits[role] = ImageSplit(part["image"].tolist(), space.encode(rows), part["origin"].tolist(),
                                  part["md5"].tolist())
    if not len(splits["test"]):  # evaluation needs test images: say so now, not after training
        raise DataError(f"{data.train}: no test images after the checks and the split — the grouped split holds out "
                        "whole sets of byte-identical files, and a label with 1-2 distinct images keeps them all in "
                        "training — add distinct images, raise `data.test_fraction`, or give `data.test`")
    shared = set(splits["train"].hashes) & (set(splits["test"].hashes) | set(splits["validation"].hashes))
    if shared:
        notes.append(f"{len(shared)} images of the given splits are byte-identical to a training image (a leak "
                     "that flatters test metrics) — prefer the grouped split (drop `split_column` / the test file)")
    files = {role: str(resolve_path(getattr(data, role))) for role in ("train", "validation", "test")
             if getattr(data, role)}
    return PreparedImages(space, splits["train"], splits["validation"], splits["test"], files, notes, stats)


def summarize(prepared: PreparedImages) -> dict:
    """Rows per split, label counts and a fingerprint of exactly which images went where."""
    digest = hashlib.sha256()
    for role in ("train", "validation", "test"):
        split = getattr(prepared, role)
        for h, lab in zip(split.hashes, split.labels.tolist()):
            digest.update(f"{role}:{h}:{lab}\n".encode())
    counts = np.bincount(prepared.train.labels[:, -1], minlength=prepared.space.sizes[-1])
    return {"rows": {r: len(getattr(prepared, r)) for r in ("train", "validation", "test")},
            "labels": {lv: len(names) for lv, names in zip(prepared.space.levels, prepared.space.labels)},
            "train_label_counts": dict(zip(prepared.space.labels[-1], counts.tolist())),
            "sha256": digest.hexdigest(), "images": prepared.checked, "notes": prepared.notes}


def check(recipe) -> dict:
    """`ecomtune data check`: every image check and the split, before any weights load."""
    from ecomtune.tasks.image_classify.slices import check_columns

    prepared = prepare_images(recipe)
    check_columns(recipe)  # `evaluation.slices` names columns of the tables
    summary = summarize(prepared)
    rows, img = summary["rows"], prepared.checked
    said = [(f"{rows['train']} train / {rows['validation']} validation / {rows['test']} test images   (sha256 "
             f"{summary['sha256'][:12]})"),
            (f"{img['unique_files']} distinct files of {img['images']}; short side p5 "
             f"{img['short_side_px']['p5']} px, median {img['short_side_px']['p50']} px"),
            *[f"note: {n}" for n in prepared.notes]]
    return {"task": recipe.task, **summary, "said": said}
