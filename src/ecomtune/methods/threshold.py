"""A decision threshold for one label, tuned on validation for a target precision or recall
(`evaluation.threshold`): "flag a review as fake only when p(fake) >= t", with t chosen to catch 90% of fakes.

The rule at predict time: the label when p(label) >= threshold, else the most probable other label.
The tuned threshold is stored in the manifest (`head.threshold`), so `ExpertModel` applies it everywhere.
"""
from __future__ import annotations

import numpy as np

from ecomtune.console import say
from ecomtune.errors import DataError, RecipeError
from ecomtune.recipes.schema import Recipe, ThresholdConfig
from ecomtune.data.labels import LabelSpace

MIN_VALIDATION_ROWS = 20  # of the label and of the others: with fewer, one row moves precision/recall by 5+ points


def label_index(config: ThresholdConfig, space: LabelSpace) -> int:
    """Index of the threshold's label; a RecipeError naming the labels when it does not exist."""
    labels = space.labels[0]
    if config.label not in labels:
        raise RecipeError(f"`evaluation.threshold.label` is {config.label!r}, which is not a label of the training "
                          f"data — labels: {', '.join(labels[:20])}{' …' if len(labels) > 20 else ''}")
    return labels.index(config.label)


def pick_threshold(p: np.ndarray, positive: np.ndarray, target: str, value: float) -> dict:
    """The threshold on `p` that reaches `target` >= `value` on these rows.

    target `precision`: the highest recall among thresholds with precision >= value;
    target `recall`: the highest precision among thresholds with recall >= value (ties: the higher threshold).
    -> {value (None when unreachable), reached, precision, recall} — precision/recall at the chosen threshold.
    """
    p, positive = np.asarray(p, dtype=np.float64), np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    if n_pos == 0 or len(p) == 0:
        return {"value": None, "reached": False, "precision": None, "recall": None}
    order = np.argsort(-p, kind="stable")
    ps, hits = p[order], positive[order]
    cut = np.r_[ps[1:] != ps[:-1], True]  # cut only between distinct scores: p >= t takes all ties
    tp = np.cumsum(hits)[cut]
    flagged = np.arange(1, len(p) + 1)[cut]
    thresholds = ps[cut]
    precision, recall = tp / flagged, tp / n_pos
    ok = (precision if target == "precision" else recall) >= value - 1e-12
    if not ok.any():
        return {"value": None, "reached": False, "precision": None, "recall": None}
    primary = recall if target == "precision" else precision
    secondary = precision if target == "precision" else thresholds
    candidates = np.flatnonzero(ok)
    best = candidates[np.lexsort((-thresholds[candidates], -secondary[candidates], -primary[candidates]))[0]]
    return {"value": float(thresholds[best]), "reached": True, "precision": float(precision[best]),
            "recall": float(recall[best])}


def apply_threshold(pred: np.ndarray, probs: list[np.ndarray], threshold: dict | None,
                    space: LabelSpace) -> np.ndarray:
    """Predicted ids [n, 1] with the stored threshold applied (a copy); unchanged when there is none."""
    if not threshold or threshold.get("value") is None:
        return pred
    k = space.labels[0].index(threshold["label"])
    p = probs[0]
    others = p.copy()
    others[:, k] = -np.inf
    out = pred.copy()
    out[:, 0] = np.where(p[:, k] >= threshold["value"], k, others.argmax(axis=1))
    return out


def _binary(pred: np.ndarray, positive: np.ndarray) -> dict:
    tp = int((pred & positive).sum())
    return {"precision": tp / max(1, int(pred.sum())), "recall": tp / max(1, int(positive.sum()))}


def check_threshold(recipe: Recipe, prepared) -> None:
    """Up-front check (after the data is read, before weights load): the threshold's label exists, and validation
    holds at least MIN_VALIDATION_ROWS rows of it and of the other labels (else the tuned threshold is noise)."""
    config = recipe.evaluation.threshold
    if config is None:
        return
    k = label_index(config, prepared.space)
    labels = prepared.validation.labels[:, 0]
    rows, others = int((labels == k).sum()), int((labels != k).sum())
    if min(rows, others) < MIN_VALIDATION_ROWS:
        source = f"`data.validation` ({recipe.data.validation})" if recipe.data.validation else \
            "a larger `data.split.validation`"
        cap = ", a larger `data.max_validation_rows`" if recipe.data.max_validation_rows else ""
        raise DataError(f"`evaluation.threshold`: validation holds {rows} row(s) of {config.label!r} and {others} "
                        f"of the other labels; tuning a threshold needs at least {MIN_VALIDATION_ROWS} of each — add "
                        f"validation rows ({source}{cap}), or remove `evaluation.threshold`")


def tune_threshold(expert, prepared, recipe: Recipe) -> dict | None:
    """Tune `evaluation.threshold` on the validation split and set it on `expert`; None when not configured.

    -> the manifest's `head.threshold`: {label, target, target_value, value (the threshold on p(label), None
    when the target is unreachable), reached, validation: {precision, recall, argmax_precision, argmax_recall,
    rows, positives}}. When unreachable, a note says so and predictions stay argmax.
    """
    config = recipe.evaluation.threshold
    if config is None:
        return None
    k = label_index(config, prepared.space)
    split = prepared.validation
    pred, probs = expert.predict_arrays(split.texts, recipe.training.eval_batch_size)
    positive = split.labels[:, 0] == k
    picked = pick_threshold(probs[0][:, k], positive, config.target, config.value)
    argmax = _binary(pred[:, 0] == k, positive)
    result = {"label": config.label, "target": config.target, "target_value": config.value,
              "value": picked["value"], "reached": picked["reached"],
              "validation": {"precision": picked["precision"], "recall": picked["recall"],
                             "argmax_precision": argmax["precision"], "argmax_recall": argmax["recall"],
                             "rows": len(split), "positives": int(positive.sum())}}
    if picked["reached"]:
        say(f"  threshold: predict {config.label!r} when p >= {picked['value']:.4f} (validation precision "
            f"{picked['precision']:.3f}, recall {picked['recall']:.3f})")
    else:
        note = (f"threshold: no threshold reaches {config.target} >= {config.value} for {config.label!r} on the "
                f"{len(split)} validation rows ({int(positive.sum())} of them {config.label!r}) — predictions "
                "stay argmax; lower `evaluation.threshold.value` or add validation rows")
        prepared.notes.append(note)
        say(f"  note: {note}")
    expert.threshold = result
    return result
