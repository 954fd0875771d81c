"""`ecomtune guide build RECIPE` (the task's `train`): setup -> fit -> evaluate -> save.

setup   read and check the catalogue(s), rooms and scene photos; open the run folder
encode  the frozen backbones, once: product photos and texts, room photo regions, captions, scene photos
fit     the matching projections on the training rooms; pieces per scene; the scene recogniser
evaluate  matching on the held-out photo rooms (photo, photo + caption, caption) against the frozen baselines,
        scene accuracy on held-out photos
save    `model/` (matcher weights, scene model), `catalogue/` (the catalogue's vectors, ready to answer), manifest
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file

from ecomtune.console import say
from ecomtune.recipes.loader import recipe_to_store
from ecomtune.reports import write_model_card, write_report
from ecomtune.rundir import Manifest, dir_size_mb, open_recipe_run, write_manifest
from ecomtune.tasks.guide.data import (
    Build,
    encode,
    read_all,
    read_scene_table,
    split_rooms,
    summary,
)
from ecomtune.tasks.guide.evaluate import evaluate, frozen_baselines
from ecomtune.tasks.guide.matching import Example, Matcher
from ecomtune.tasks.guide.matching import fit as fit_matcher
from ecomtune.tasks.guide.recipe import GuideRecipe
from ecomtune.tasks.guide.request import SCENES
from ecomtune.tasks.guide.scenes import SceneModel

# Scenes the rooms may not cover (house_rooms has bathrooms, IKEA's rooms have none): what such a room needs.
DEFAULT_PIECES = {
    "bathroom": ["bathroom_vanity", "mirror", "towel", "box_basket", "lamp", "laundry_care"],
    "bedroom": ["bed", "wardrobe", "bedside_table", "lamp", "bedding", "rug"],
    "living_room": ["sofa", "coffee_table", "armchair", "lamp", "rug", "bookcase_shelf"],
    "dining_room": ["dining_table", "chair", "lamp", "storage_cabinet", "tableware"],
    "kitchen": ["kitchen", "stool_bench", "lamp", "tableware", "trolley"],
    "children_room": ["bed", "children_furniture", "box_basket", "lamp", "rug", "bedding"],
    "home_office": ["desk", "office_chair", "bookcase_shelf", "lamp", "box_basket"],
    "outdoor": ["outdoor_furniture", "plant_pot", "cushion", "lamp"],
    "hallway": ["hallway_storage", "mirror", "stool_bench", "lamp", "rug"],
    "laundry": ["laundry_care", "box_basket", "storage_cabinet", "towel"],
}


def _recipe(recipe) -> GuideRecipe:
    if isinstance(recipe, GuideRecipe):
        return recipe
    from ecomtune.recipes.loader import load_recipe

    return load_recipe(recipe)


def train(recipe, resume: bool = False) -> Path:
    """Build a guide end to end and return its folder (`resume` rebuilds: a build takes minutes)."""
    build = setup(_recipe(recipe), resume)
    encode(build)
    fit(build)
    return save(build, evaluate(build))


def check(recipe) -> dict:
    """`ecomtune data check`: every check that precedes a build."""
    recipe = _recipe(recipe)
    catalogue, _, rooms = read_all(recipe)
    scenes = read_scene_table(recipe)
    return {"task": "guide", "catalogue": summary(catalogue), "rooms": len(rooms),
            "rooms_with_photo": len(rooms.with_photo), "scene_photos": len(scenes)}


def baseline(recipe) -> dict:
    """`ecomtune baseline RECIPE`: the frozen backbones (cosine, no training) on the held-out rooms."""
    recipe = _recipe(recipe)
    catalogue, rooms_catalogue, rooms = read_all(recipe)
    test, train_rooms = split_rooms(rooms, recipe.data.test_fraction, recipe.data.seed)
    b = Build(recipe, catalogue, rooms_catalogue, rooms, None, test, train_rooms)
    encode(b)
    return {"name": "frozen backbones (cosine)", "metrics": {"test": frozen_baselines(b)}}


def setup(recipe: GuideRecipe, resume: bool) -> Build:
    say("checking the catalogue and rooms")
    catalogue, rooms_catalogue, rooms = read_all(recipe)
    say(f"  {len(catalogue)} products ({sum(1 for p in catalogue.pieces if p)} mapped to pieces), {len(rooms)} "
        f"rooms ({len(rooms.with_photo)} with a photo)")
    test, train_rooms = split_rooms(rooms, recipe.data.test_fraction, recipe.data.seed)
    folder = open_recipe_run(recipe, resume)
    return Build(recipe, catalogue, rooms_catalogue, rooms, folder, test, train_rooms)


def fit(b: Build) -> None:
    t, f = b.recipe.training, b.features
    enc = f["encoders"]
    with b.meter:
        b.matcher = Matcher(enc.image_dim, enc.text_dim, b.recipe.model.rank)
        photos = torch.from_numpy(f["rooms_photo"]) if f["rooms_photo"] is not None else None
        examples = [Example(b.rooms.products[i],
                            torch.from_numpy(f["regions"][i]) if i in f["regions"] else None,
                            torch.from_numpy(f["captions"][i]) if b.rooms.titles[i] else None) for i in b.train]
        examples = [e for e in examples if e.regions is not None or e.text is not None]
        say(f"training the matcher on {len(examples)} rooms ({t.epochs} epochs)")
        b.history = fit_matcher(b.matcher, photos, torch.from_numpy(f["rooms_text"]), examples, epochs=t.epochs,
                                batch_size=t.batch_size, learning_rate=t.learning_rate, weight_decay=t.weight_decay,
                                seed=t.seed, meter=b.meter)
        b.pieces = pieces_per_scene(b)
        b.scene_model = fit_scenes(b)


def pieces_per_scene(b: Build) -> dict:
    """{scene: {"rooms": n, "pieces": {piece: share of the scene's rooms that have one}}} from the training rooms
    with a room type; scenes without rooms get DEFAULT_PIECES (marked)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    n: Counter = Counter()
    for i in b.train:
        scene = b.rooms.types[i]
        if scene:
            n[scene] += 1
            counts[scene].update({p for p in (b.rooms_catalogue.pieces[j] for j in b.rooms.products[i]) if p})
    out = {s: {"rooms": n[s], "pieces": {p: round(c / n[s], 3) for p, c in counts[s].most_common()}} for s in n}
    for scene, defaults in DEFAULT_PIECES.items():
        if scene not in out:
            out[scene] = {"rooms": 0, "pieces": {p: round(0.9 - 0.1 * k, 2) for k, p in enumerate(defaults)},
                          "default": True}
    return out


def fit_scenes(b: Build) -> SceneModel | None:
    f = b.features
    if not f["room_pooled"]:
        return None
    held = set(b.test)
    rows = [i for i in f["room_pooled"] if i not in held and b.rooms.types[i] in SCENES]
    x = [f["room_pooled"][i] for i in rows]
    y = [b.rooms.types[i] for i in rows]
    table = f["scene_table"]
    if f["scene_x"] is not None:
        keep = ~table["held_out"].to_numpy(bool)
        x += list(f["scene_x"][keep])
        y += list(table["label"][keep])
    if len(set(y)) < 2:
        b.notes.append("scene recogniser: fewer than two scenes among the photos — scenes come from the request")
        return None
    say(f"fitting the scene recogniser on {len(y)} photos ({len(set(y))} scenes)")
    return SceneModel.fit(np.stack(x), y, b.recipe.training.seed)


def save(b: Build, result: dict) -> Path:
    run_dir, recipe, f = b.folder.path, b.recipe, b.features
    (run_dir / "model").mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in b.matcher.state_dict().items()}, run_dir / "model" / "matcher.safetensors")
    (run_dir / "model" / "matcher.json").write_text(json.dumps(b.matcher.config()), encoding="utf-8")
    if b.scene_model is not None:
        b.scene_model.save(run_dir / "model" / "scenes.npz")
    (run_dir / "model" / "pieces.json").write_text(json.dumps(b.pieces, indent=1, ensure_ascii=False), "utf-8")
    save_catalogue(run_dir / "catalogue", b)
    start = time.perf_counter()
    from ecomtune.tasks.guide.predict import Guide

    guide = Guide.open(run_dir, {}, recipe, f["encoders"])
    seconds, answered = time.perf_counter() - start, 0
    start = time.perf_counter()
    for i in b.test[:10]:
        guide.ask(text=b.rooms.titles[i] or None, photo=b.rooms.images[i])
        answered += 1
    per_answer = (time.perf_counter() - start) / max(answered, 1)
    n_params = int(sum(p.numel() for p in b.matcher.parameters()))
    cost = {**b.meter.summary(), "trainable_params": n_params, "total_params": n_params,
            "model_size_mb": round(dir_size_mb(run_dir / "model") + dir_size_mb(run_dir / "catalogue"), 1),
            "device": "cpu", "steps": len(b.history) * -(-len(b.train) // recipe.training.batch_size),
            "inference_samples_per_second": round(1 / per_answer, 2) if answered else None,
            "load_seconds": round(seconds, 2)}
    manifest = Manifest(
        name=recipe.name, task=recipe.task, language=recipe.language, description=recipe.description,
        backbone={"name": f"{recipe.model.image_backbone} + {recipe.model.text_backbone}",
                  "hf_id": recipe.model.text_backbone, "kind": "encoder"},
        recipe=recipe_to_store(recipe, b.folder.final),
        data={"catalogue": summary(b.catalogue), "rooms": len(b.rooms), "rooms_with_photo": len(b.rooms.with_photo),
              "train_rooms": len(b.train), "test_rooms": len(b.test),
              "scene_photos": len(f["scene_table"])},
        metrics={"test": result["metrics"]}, baseline={"name": "frozen backbones (cosine)",
                                                        "metrics": {"test": result["baseline"]}},
        cost=cost, history=b.history, extra={"pieces": b.pieces, "notes": b.notes}).to_dict()
    write_manifest(run_dir, manifest)
    write_report(run_dir, manifest)
    write_model_card(run_dir, manifest, usage=USAGE)
    return b.folder.finish()


def save_catalogue(folder: Path, b: Build) -> None:
    """The catalogue as the guide answers from it: a table (ids, names, pieces, prices, photo paths relative to the
    guide folder) and the product vectors (text, and projected photo vectors when there are photos)."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    c, f = b.catalogue, b.features
    final = Path(b.folder.final).resolve()
    table = pd.DataFrame({"id": c.ids, "name": c.names, "type": c.types, "text": c.texts,
                          "piece": [p or "" for p in c.pieces],
                          "price": c.prices, "link": [lk or "" for lk in c.links],
                          "image": [os.path.relpath(p, final / "catalogue") if p else "" for p in c.images]})
    table.to_csv(folder / "products.csv", index=False)
    np.save(folder / "text.npy", f["text"])
    if f["photo"] is not None:
        with torch.no_grad():
            np.save(folder / "photo.npy", b.matcher.products(torch.from_numpy(f["photo"])).numpy())
    (folder / "catalogue.json").write_text(json.dumps({"currency": c.currency, "source": c.path.name}), "utf-8")


USAGE = """```bash
ecomtune guide ask GUIDE --photo room.jpg --text "cosy bedroom for a teenager, under 600"
ecomtune serve GUIDE        # POST /v1/guide, and the shopper's page at /guide
```"""


def evaluate_run(run_dir, data=None, device: str = "cpu") -> dict:
    """`ecomtune evaluate GUIDE [--input rooms.csv]`."""
    from ecomtune.tasks.guide.predict import Guide

    return Guide.load(run_dir).evaluate(data)
