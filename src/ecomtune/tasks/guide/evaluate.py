"""How well a guide matches: each held-out photo room's scores over the rooms' catalogue (the trained matcher from the
photo, the caption, or both; and the frozen baselines), Recall@10/50 and NDCG@10; scene accuracy on held-out
photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ecomtune.console import say
from ecomtune.tasks.guide.catalogue import read_rooms
from ecomtune.tasks.guide.data import Build, encode, read_all, split_rooms
from ecomtune.tasks.guide.matching import Matcher, ranking_metrics
from ecomtune.tasks.guide.request import SCENES


def _scores(b: Build, i: int, how: str, matcher: Matcher | None) -> np.ndarray:
    """One held-out room's scores over the rooms' catalogue: the trained matcher, or the frozen baselines."""
    f = b.features
    text = torch.from_numpy(f["captions"][i])
    photos = torch.from_numpy(f["rooms_photo"]) if f["rooms_photo"] is not None else None
    regions = torch.from_numpy(f["regions"][i]) if i in f["regions"] else None
    with torch.no_grad():
        if matcher is not None:
            products = matcher.products(photos)
            use_regions = regions if how in ("photo", "photo + caption") else None
            use_text = text if how in ("caption", "photo + caption") else None
            return matcher.score(products, torch.from_numpy(f["rooms_text"]), use_regions, use_text,
                                 b.recipe.model.text_weight).numpy()
        if how == "frozen caption vs product text":
            return f["rooms_text"] @ f["captions"][i]
        if how == "frozen photo vs product photo":
            return f["rooms_photo"] @ f["room_pooled"][i]
        return (regions @ photos.T).max(0).values.numpy()  # frozen regions vs product photo


def frozen_baselines(b: Build) -> dict:
    """Each frozen way of matching (no training) on the held-out rooms, with the headline numbers of the best."""
    if not b.test:
        return {}
    ways = ["frozen caption vs product text"]
    if b.features["regions"]:
        ways += ["frozen photo vs product photo", "frozen regions vs product photo"]
    out = {how: ranking_metrics([_scores(b, i, how, None) for i in b.test], [b.rooms.products[i] for i in b.test])
           for how in ways}
    best = max(ways, key=lambda w: out[w]["recall@50"])
    return {**out, "best": best, **out[best]}


def evaluate(b: Build) -> dict:
    f, positives = b.features, [b.rooms.products[i] for i in b.test]
    metrics: dict = {"test_rooms": len(b.test)}
    if b.test:
        say(f"scoring {len(b.test)} held-out rooms against {len(b.rooms_catalogue)} products")
        ways = ["caption"] + (["photo", "photo + caption"] if f["regions"] else [])
        for how in ways:
            metrics[how] = ranking_metrics([_scores(b, i, how, b.matcher) for i in b.test], positives)
    baseline = frozen_baselines(b)
    scene = {}
    if b.scene_model is not None:
        typed = [i for i in b.test if b.rooms.types[i] in SCENES]
        if typed:
            guess = b.scene_model.predict(np.stack([f["room_pooled"][i] for i in typed]))
            scene["rooms_accuracy"] = round(float(np.mean([g == b.rooms.types[i] for g, i in zip(guess, typed)])), 4)
            scene["rooms_n"] = len(typed)
        table = f["scene_table"]
        if len(table) and table["held_out"].any():
            held = table["held_out"].to_numpy(bool)
            guess = b.scene_model.predict(f["scene_x"][held])
            scene["scenes_accuracy"] = round(float(np.mean(np.array(guess) == table["label"][held].to_numpy())), 4)
            scene["scenes_n"] = int(held.sum())
    metrics["scene"] = scene
    main = "photo + caption" if "photo + caption" in metrics else "caption"
    if main in metrics:  # the headline numbers, flat
        metrics |= {"input": main, **metrics[main]}
    return {"metrics": metrics, "baseline": baseline}


def evaluation_of(guide, data: str | Path | None = None) -> dict:
    """A built guide's matching metrics, recomputed from the data: on the recipe's held-out rooms, or on every
    photo room (every room when none has a photo) of the rooms table `data`."""
    from ecomtune.recipes.loader import recipe_of_run

    recipe = recipe_of_run(guide.run_dir, guide.manifest, need_data=True)
    catalogue, rooms_catalogue, rooms = read_all(recipe)
    test, train_rooms = split_rooms(rooms, recipe.data.test_fraction, recipe.data.seed)
    if data is not None:
        rooms = read_rooms(data, rooms_catalogue)
        test = rooms.with_photo or [i for i in range(len(rooms)) if rooms.products[i]]
    b = Build(recipe, catalogue, rooms_catalogue, rooms, None, test, train_rooms)
    encode(b, guide.encoders)
    b.matcher, b.scene_model = guide.matcher, guide.scene_model
    return evaluate(b)["metrics"]
