"""A toy furnishing world a tiny model can learn: products of a few pieces, each photo noise around its colour; rooms
(bedrooms, living rooms) whose photo is a collage of their products' colours and whose caption names the colour."""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.tasks.image_classify.conftest import save_tiny_resnet

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200), "white": (235, 235, 235)}
PIECES = {"bedroom": [("Bed frame", 300), ("Wardrobe", 200), ("Table lamp", 30), ("Rug, flatwoven", 60)],
          "living_room": [("Three-seat sofa", 400), ("Coffee table", 80), ("Floor lamp", 40), ("Rug, low pile", 70)]}


def collage(colours: list[tuple[int, int, int]], seed: int, side: int = 96) -> bytes:
    """A JPEG of tiles, one per colour, with noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.zeros((side, side, 3))
    half = side // 2
    for k, colour in enumerate((colours * 4)[:4]):
        y, x = divmod(k, 2)
        pixels[y * half:(y + 1) * half, x * half:(x + 1) * half] = colour
    pixels = np.clip(pixels + rng.normal(0, 25, pixels.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def toy_world(folder: Path, rooms_per_scene: int = 12) -> dict[str, Path]:
    """catalogue.csv (+ photos), rooms.csv (+ photos) and scenes.csv (labelled room photos) under `folder`."""
    rng = random.Random(0)
    (folder / "products").mkdir(parents=True, exist_ok=True)
    (folder / "rooms").mkdir(exist_ok=True)
    products = []
    for scene, kinds in PIECES.items():
        for kind, price in kinds:
            for colour in COLOURS:
                for v in range(2):
                    pid = f"{len(products):03d}.{v}"
                    (folder / "products" / f"{pid}.jpg").write_bytes(collage([COLOURS[colour]], len(products)))
                    products.append({"product_id": pid, "name": f"{colour.upper()}{v}", "type": kind,
                                     "colour": colour.capitalize(), "description": f"a {colour} {kind.lower()}",
                                     "price": f"{price * (1 + v)}", "image": f"products/{pid}.jpg", "scene": scene})
    frame = pd.DataFrame(products)
    frame.drop(columns="scene").to_csv(folder / "catalogue.csv", index=False)
    rooms = []
    for scene in PIECES:
        for r in range(rooms_per_scene):
            colour = list(COLOURS)[r % len(COLOURS)]
            mine = frame[(frame["scene"] == scene) & (frame["colour"] == colour.capitalize())]
            ids = rng.sample(list(mine["product_id"]), k=min(6, len(mine)))
            rid = f"{scene[:3]}{r:02d}"
            photo = r % 3 != 2
            if photo:
                (folder / "rooms" / f"{rid}.jpg").write_bytes(collage([COLOURS[colour]] * 3 + [(120, 90, 60)], r))
            rooms.append({"room_id": rid, "title": f"a {colour} {scene.replace('_', ' ')} number {r}",
                          "room_type": scene, "image": f"rooms/{rid}.jpg" if photo else "",
                          "product_ids": " ".join(ids)})
    pd.DataFrame(rooms).to_csv(folder / "rooms.csv", index=False)
    scenes = [{"path": r["image"], "label": r["room_type"], "split": "test" if k % 4 == 0 else "train"}
              for k, r in enumerate(rooms) if r["image"]]
    pd.DataFrame(scenes).to_csv(folder / "scenes.csv", index=False)
    return {"catalogue": folder / "catalogue.csv", "rooms": folder / "rooms.csv", "scenes": folder / "scenes.csv"}


def guide_recipe(world: dict[str, Path], image_backbone: str | None, text_backbone: str, out: Path,
                 name: str = "toy-guide") -> dict:
    return {"name": name, "task": "guide",
            "data": {"catalogue": str(world["catalogue"]), "rooms": str(world["rooms"]),
                     "scenes": str(world["scenes"]), "scene_split_column": "split", "currency": "SAR",
                     "columns": {"id": "product_id", "image": "image" if image_backbone else None,
                                 "price": "price", "colour": "colour"},
                     "test_fraction": 0.25},
            "model": {"image_backbone": image_backbone, "text_backbone": text_backbone, "image_size": 32,
                      "room_size": 64, "rank": 8, "max_length": 24},
            "training": {"epochs": 3, "batch_size": 4, "learning_rate": 1e-2},
            "output": {"dir": str(out)}}


@pytest.fixture(scope="session")
def guide_world(tmp_path_factory) -> dict[str, Path]:
    return toy_world(tmp_path_factory.mktemp("guide-world"))


@pytest.fixture(scope="session")
def guide_run(guide_world, tiny_encoder, tmp_path_factory) -> Path:
    """A guide built on the toy world with the tiny ResNet and the tiny BERT."""
    import ecomtune

    tmp = tmp_path_factory.mktemp("guide-run")
    resnet = save_tiny_resnet(tmp / "tiny-resnet")
    return ecomtune.train(guide_recipe(guide_world, resnet, tiny_encoder, tmp / "run"))
