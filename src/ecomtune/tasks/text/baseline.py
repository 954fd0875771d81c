"""The yardstick: TF-IDF (character 1-3-grams for Chinese, word 1-2-grams + char 2-4 for others) + logistic regression.

For a taxonomy it predicts the whole path as one class, so its paths are valid too and the comparison is fair.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline

from ecomtune.console import say
from ecomtune.data.prepare import PreparedData, prepare_data
from ecomtune.registry import task as get_task

BASELINE = "the TF-IDF baseline"
FIXES = {"the model": "train longer or at another learning rate (`training.epochs`, `training.learning_rate`), or "
                      "weigh rare labels (`training.loss.class_weights: balanced`)",
         BASELINE: "the text may not carry the label (check `data.text_column`), or there are too few training rows"}


def make_baseline(language: str, seed: int = 42):
    if language == "zh":
        features = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    else:
        features = FeatureUnion([
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)),
        ])
    return make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000, random_state=seed))


def baseline(recipe) -> dict:
    """`ecomtune baseline RECIPE`: the baseline on the recipe's own split."""
    return run_baseline(prepare_data(recipe), recipe.task, recipe.language, recipe.training.seed)


def run_baseline(prepared: PreparedData, task: str, language: str, seed: int = 42) -> dict:
    """Fit on the train split, score the test split with the task's metrics; returns a manifest section.

    Multi-task: one TF-IDF model per head (the heads are independent, so there is no path to predict).
    """
    if getattr(get_task(task).module("data"), "INDEPENDENT", False):
        start = time.perf_counter()
        models = [make_baseline(language, seed).fit(prepared.train.texts, prepared.train.labels[:, i])
                  for i in range(prepared.space.depth)]
        train_seconds = time.perf_counter() - start
        pred = np.stack([m.predict(prepared.test.texts) for m in models], axis=1)
        metrics = get_task(task).module("metrics").compute(prepared.test.labels, pred, prepared.space)
        warn_single_class(metrics, BASELINE)
        return {"name": "tfidf-logreg", "features": "char 1-3" if language == "zh" else "word 1-2 + char 2-4",
                "per_head": True, "train_seconds": round(train_seconds, 2), "metrics": {"test": metrics}}
    path_ids = {p: i for i, p in enumerate(prepared.space.paths)}
    y = np.array([path_ids[tuple(r)] for r in prepared.train.labels.tolist()])
    start = time.perf_counter()
    model = make_baseline(language, seed).fit(prepared.train.texts, y)
    train_seconds = time.perf_counter() - start
    pred_paths = np.array(prepared.space.paths)[model.predict(prepared.test.texts)]
    metrics = get_task(task).module("metrics").compute(prepared.test.labels, pred_paths, prepared.space)
    warn_single_class(metrics, BASELINE)
    return {"name": "tfidf-logreg", "features": "char 1-3" if language == "zh" else "word 1-2 + char 2-4",
            "train_seconds": round(train_seconds, 2), "metrics": {"test": metrics}}


def warn_single_class(metrics: dict, who: str = "the model") -> None:
    """Say, and record in `metrics["warnings"]`, each label level on which `who` predicted one label for every row
    although the rows hold several: its accuracy is that label's share, and a lift against it means nothing."""
    warnings = []
    levels = metrics.get("levels") or {"": metrics}  # taxonomy / multitask: per level; classify: one
    for name, m in levels.items():
        matrix = np.asarray(m["confusion_matrix"])
        predicted, present = np.flatnonzero(matrix.sum(axis=0)), np.flatnonzero(matrix.sum(axis=1))
        if len(predicted) == 1 and len(present) > 1:
            where = f" in '{name}'" if name else ""
            warnings.append(f"{who} predicts {m['labels'][predicted[0]]!r}{where} for all {int(matrix.sum())} rows "
                            f"(accuracy {m['accuracy']:.3f} is that label's share) — {FIXES[who]}")
    for warning in warnings:
        say(f"  warning: {warning}")
    if warnings:
        metrics["warnings"] = warnings
