"""The yardstick of every image run: the pretrained backbone, frozen, as a feature extractor + logistic regression
(the image counterpart of TF-IDF + logistic regression). For a taxonomy it predicts the whole path as one class,
so its paths are valid too."""
from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ecomtune.tasks.image_classify.backbones import build_backbone, preprocess_for
from ecomtune.tasks.image_classify.data import (
    ImageSplit,
    PreparedImages,
    prepare_images,
)
from ecomtune.tasks.image_classify.images import Preprocess, eval_tensor


def baseline(recipe) -> dict:
    """`ecomtune baseline RECIPE`: the baseline on the recipe's own split."""
    return run_baseline(prepare_images(recipe), recipe)


@torch.inference_mode()
def features(backbone: torch.nn.Module, split: ImageSplit, pre: Preprocess, batch_size: int = 32) -> np.ndarray:
    out = [backbone(torch.stack([eval_tensor(p, pre) for p in split.paths[i:i + batch_size]])).numpy()
           for i in range(0, len(split), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, backbone.num_features), dtype=np.float32)


def run_baseline(prepared: PreparedImages, recipe) -> dict:
    from ecomtune.tasks.image_classify.predict import metrics_module

    start = time.perf_counter()
    backbone, _ = build_backbone(recipe.model.backbone)
    backbone.eval()
    pre = preprocess_for(recipe.model.backbone, recipe.model.image_size)
    train_x = features(backbone, prepared.train, pre, recipe.training.eval_batch_size)
    paths = [tuple(r) for r in prepared.train.labels.tolist()]
    classes = sorted(set(paths))
    y = np.array([classes.index(p) for p in paths])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, random_state=recipe.training.seed))
    if len(classes) > 1:
        clf.fit(train_x, y)
    seconds = time.perf_counter() - start
    test_x = features(backbone, prepared.test, pre, recipe.training.eval_batch_size)
    guess = clf.predict(test_x) if len(classes) > 1 else np.zeros(len(test_x), dtype=int)
    pred = np.array([classes[i] for i in guess], dtype=np.int64).reshape(len(test_x), prepared.space.depth)
    metrics = metrics_module(prepared.space).compute(prepared.test.labels, pred, prepared.space)
    return {"name": f"frozen {recipe.model.backbone} features + logistic regression",
            "features": f"{backbone.num_features}-d pooled features, standardised",
            "train_seconds": round(seconds, 2), "metrics": {"test": metrics}}
