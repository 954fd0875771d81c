"""The guide's data, read and encoded once: the catalogue(s), the rooms, the scene photos and their features (`Build`),
the held-out split of the rooms. `train`, `evaluate` and the benchmarks share it."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.console import say
from ecomtune.errors import DataError
from ecomtune.tasks.guide.catalogue import Catalogue, Rooms, read_catalogue, read_rooms
from ecomtune.tasks.guide.features import Encoders
from ecomtune.tasks.guide.matching import Matcher
from ecomtune.tasks.guide.recipe import GuideRecipe
from ecomtune.tasks.guide.request import SCENES
from ecomtune.tasks.guide.scenes import SceneModel
from ecomtune.training.meter import Meter


@dataclass
class Build:
    recipe: GuideRecipe
    catalogue: Catalogue  # what the guide sells
    rooms_catalogue: Catalogue  # what the rooms name (the same object when one catalogue)
    rooms: Rooms
    folder: object
    test: list[int] = field(default_factory=list)  # held-out photo rooms
    train: list[int] = field(default_factory=list)  # rooms the matcher learns from
    meter: Meter = field(default_factory=lambda: Meter("cpu"))
    features: dict = field(default_factory=dict)
    matcher: Matcher | None = None
    scene_model: SceneModel | None = None
    pieces: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def summary(c: Catalogue) -> dict:
    pieces = Counter(p for p in c.pieces if p)
    return {"file": c.path.name, "products": len(c), "with_photo": sum(1 for i in c.images if i),
            "priced": int(np.isfinite(c.prices).sum()), "currency": c.currency,
            "mapped_to_a_piece": sum(pieces.values()), "pieces": dict(pieces.most_common())}


def read_all(recipe: GuideRecipe) -> tuple[Catalogue, Catalogue, Rooms]:
    catalogue = read_catalogue(recipe.data)
    rooms_catalogue = catalogue
    if recipe.data.rooms_catalogue:
        from ecomtune.tasks.guide.recipe import Columns, GuideData

        photos = recipe.model.image_backbone and catalogue.has_photos  # photos only help a catalogue with photos
        ikea = GuideData(catalogue=recipe.data.rooms_catalogue, rooms=recipe.data.rooms, columns=Columns(
            id="product_id", image="image" if photos else None, colour="colour"))
        rooms_catalogue = read_catalogue(ikea)
    return catalogue, rooms_catalogue, read_rooms(recipe.data.rooms, rooms_catalogue)


def read_scene_table(recipe: GuideRecipe) -> pd.DataFrame:
    """The extra scene photos: columns path (absolute), label, held_out."""
    d = recipe.data
    if not d.scenes:
        return pd.DataFrame({"path": [], "label": [], "held_out": []})
    path = Path(d.scenes)
    if not path.is_file():
        raise DataError(f"{path}: no such file — `data.scenes` must be a table of room photos")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in filter(None, (d.scene_image_column, d.scene_label_column, d.scene_split_column)):
        if col not in frame.columns:
            raise DataError(f"{path}: no column `{col}` — the columns are {', '.join(frame.columns)}; set "
                            "`data.scene_image_column` / `scene_label_column` / `scene_split_column`")
    bad = sorted(set(frame[d.scene_label_column]) - set(SCENES))
    if bad:
        raise DataError(f"{path}, column `{d.scene_label_column}`: unknown scene {bad[0]!r} — scenes are "
                        f"{', '.join(SCENES)}; rename the labels")
    held = frame[d.scene_split_column].str.lower().eq("test") if d.scene_split_column else False
    return pd.DataFrame({"path": [str((path.parent / p).resolve()) for p in frame[d.scene_image_column]],
                         "label": frame[d.scene_label_column], "held_out": held})


def split_rooms(rooms: Rooms, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(held-out photo rooms, training rooms). Photos of one staged scene share a caption, and a photo room often
    has a text-only twin with the same caption and products: every room with a held-out caption is left out of
    training, so the score never rests on the same scene seen in training."""
    captions = sorted({rooms.titles[i] for i in rooms.with_photo})
    random.Random(seed).shuffle(captions)
    held = set(captions[:round(len(captions) * fraction)])
    test = [i for i in rooms.with_photo if rooms.titles[i] in held]
    train = [i for i in range(len(rooms)) if rooms.titles[i] not in held and rooms.products[i]]
    return test, train


def encode(b: Build, enc: Encoders | None = None) -> None:
    m = b.recipe.model
    if enc is None:
        say(f"loading {m.image_backbone or 'no image backbone'} + {m.text_backbone}")
        enc = Encoders(m.image_backbone, m.text_backbone, m.image_size, m.room_size, m.max_length)
    f = b.features
    f["encoders"] = enc
    f["rooms_text"] = enc.texts(b.rooms_catalogue.texts, progress="product texts")
    f["rooms_photo"] = enc.photos(b.rooms_catalogue.images, progress="product photos") if enc.image else None
    if b.catalogue is b.rooms_catalogue:
        f["text"], f["photo"] = f["rooms_text"], f["rooms_photo"]
    else:
        f["text"] = enc.texts(b.catalogue.texts, progress="catalogue texts")
        f["photo"] = enc.photos(b.catalogue.images, progress="catalogue photos") if enc.image and \
            b.catalogue.has_photos else None
    f["captions"] = enc.texts([t or "a room" for t in b.rooms.titles])
    f["regions"], pooled = {}, {}
    if enc.image:
        from ecomtune.console import ProgressBar

        with ProgressBar("room photos", len(b.rooms.with_photo)) as advance:
            for i in b.rooms.with_photo:
                f["regions"][i], pooled[i] = enc.room(b.rooms.images[i])
                advance(1)
    f["room_pooled"] = pooled
    scenes = read_scene_table(b.recipe)
    f["scene_table"] = scenes
    f["scene_x"] = enc.photos(list(scenes["path"]), progress="scene photos") if enc.image and len(scenes) else None
