"""Image + title product categorization on fashion_product_images_224: photo model, title model, late fusion.

    python bench/fusion.py                       # trains the image preset unless --image-run is given
    python bench/fusion.py --image-run bench/work/fashion-taxonomy-images --level articleType

1. The image run (preset `fashion-images` or a given run) fixes the split: train/validation/test grouped by md5.
2. A title model (MiniLM, `task: classify`) is trained on the same rows: `productDisplayName` -> label. About a
   third of test titles repeat a training title (same product name, another colour or size): `dedupe: true` keeps
   them out of the title run's own test split; the comparison below still scores every test row of the image run.
3. Both predict validation and test; the fusion weight is tuned on validation (macro-F1), then applied to test.
Writes bench/results/fusion.json with all three models' test accuracy and macro-F1.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

import ecomtune
from ecomtune.recipes import load_recipe
from ecomtune.recipes.loader import recipe_of_run
from ecomtune.rundir import read_manifest
from ecomtune.tasks.image_classify.data import prepare_images
from ecomtune.tasks.image_classify.fusion import FusedModel, fuse

HERE = Path(__file__).resolve().parent
LABELS = HERE.parent.parent / "shared" / "data" / "fashion_product_images_224" / "labels.csv"


def macro_f1(truth, pred) -> float:
    return f1_score(truth, pred, average="macro")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-run", type=Path, help="a trained fashion image run (default: train fashion-images)")
    parser.add_argument("--level", default="articleType", help="the label level fused (the image run's finest)")
    parser.add_argument("--text-epochs", type=float, default=3)
    args = parser.parse_args()
    work = HERE / "work" / "fusion"
    image_run = args.image_run
    if image_run is None:
        image_run = ecomtune.train(load_recipe("fashion-images", [f"output.dir={work / 'image'}",
                                                                  "output.overwrite=true"]))
    manifest = read_manifest(image_run)
    prepared = prepare_images(recipe_of_run(image_run, manifest, need_data=True))
    level = prepared.space.levels.index(args.level)
    names = prepared.space.labels[level]

    table = pd.read_csv(LABELS)
    table["image"] = [str((LABELS.parent / p).resolve()) for p in table["path"]]
    title = dict(zip(table["image"], table["productDisplayName"].fillna("").astype(str)))
    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for role in ("train", "validation", "test"):
        split = getattr(prepared, role)
        frame = pd.DataFrame({"title": [title[p] for p in split.paths],
                              "label": [names[i] for i in split.labels[:, level]]})
        files[role] = work / f"{role}.csv"
        frame.to_csv(files[role], index=False)

    start = time.perf_counter()
    text_run = ecomtune.train({
        "name": "fashion-titles", "task": "classify", "language": "en",
        "data": {"train": str(files["train"]), "validation": str(files["validation"]), "test": str(files["test"]),
                 "text_column": "title", "label_column": "label", "dedupe": True, "rare_labels": "drop"},
        "model": {"backbone": "minilm", "max_length": 32},
        "training": {"epochs": args.text_epochs, "batch_size": 32, "learning_rate": 1e-4, "precision": "fp32"},
        "output": {"dir": str(work / "text"), "overwrite": True}})
    text_seconds = time.perf_counter() - start
    fused = FusedModel(ecomtune.load(image_run), ecomtune.load(text_run), level=args.level)

    def pairs(role: str) -> tuple[list[str], list[str], np.ndarray]:
        split = getattr(prepared, role)
        return split.paths, [title[p] for p in split.paths], split.labels[:, level]

    v_images, v_titles, v_true = pairs("validation")
    curve = fused.tune(v_images, v_titles, [names[i] for i in v_true], macro_f1)
    weight = fused.weight
    t_images, t_titles, t_true = pairs("test")
    t_img, t_txt = fused.scores(t_images, t_titles)
    preds = {"image": t_img.argmax(1), "title": t_txt.argmax(1), "fused": fuse(t_img, t_txt, weight).argmax(1)}
    result = {"image_run": str(image_run), "text_run": str(text_run), "level": args.level,
              "rows": {r: len(getattr(prepared, r)) for r in ("train", "validation", "test")},
              "fusion_weight_image": weight, "validation_macro_f1_by_weight": curve,
              "text_train_seconds": round(text_seconds, 1),
              "test": {name: {"accuracy": round(float(accuracy_score(t_true, p)), 4),
                              "macro_f1": round(float(macro_f1(t_true, p)), 4)} for name, p in preds.items()}}
    out = HERE / "results" / "fusion.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"fusion weight (image) {weight}")
    for name, m in result["test"].items():
        print(f"{name:<8} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
