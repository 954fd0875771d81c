"""Headline metrics and baseline lift, shared by the HTML report and the model card."""

from __future__ import annotations

from typing import NamedTuple

from .formatting import is_number


COUNTS = {"queries", "queries_skipped", "cases", "rows", "rows_with_unknown_labels"}  # sizes, not metrics


class Metric(NamedTuple):
    name: str  # human label, e.g. "Macro-F1" or "subCategory accuracy"
    type: str  # Hugging Face model-index metric type
    value: float
    args: dict | None = None


class Lift(NamedTuple):
    name: str
    tuned: float
    baseline: float
    points: float  # (tuned - baseline) * 100


def headline_metrics(metrics: dict) -> list[Metric]:
    """The metrics worth a headline: per level for taxonomy, overall for classify."""
    levels = metrics.get("levels")
    if levels:
        rows = []
        for level, m in levels.items():
            rows.append(Metric(f"{level} accuracy", "accuracy", m.get("accuracy")))
            rows.append(Metric(f"{level} macro-F1", "f1", m.get("macro_f1"), {"average": "macro"}))
        rows.append(Metric("Path accuracy", "path_accuracy", metrics.get("path_accuracy")))
        rows.append(Metric("Valid-path rate", "valid_path_rate", metrics.get("valid_path_rate")))
        if "all_heads_accuracy" in metrics:  # multitask: the heads are independent, so no path
            rows.append(Metric("Mean accuracy over heads", "accuracy", metrics.get("accuracy")))
            rows.append(Metric("Mean macro-F1 over heads", "f1", metrics.get("macro_f1"), {"average": "macro"}))
            rows.append(Metric("All heads correct", "exact_match", metrics.get("all_heads_accuracy")))
    elif "accuracy" in metrics or "macro_f1" in metrics:
        rows = [
            Metric("Accuracy", "accuracy", metrics.get("accuracy")),
            Metric("Macro-F1", "f1", metrics.get("macro_f1"), {"average": "macro"}),
            Metric("Weighted-F1", "f1", metrics.get("weighted_f1"), {"average": "weighted"}),
        ]
    else:  # ranking (recommend, search): HR@K, NDCG@K, MRR, Recall@K as they come; counts are not metrics
        rows = [Metric(name, name.split("@")[0], value, {"k": int(name.split("@")[1])} if "@" in name and
                       name.split("@")[1].isdigit() else None)
                for name, value in metrics.items() if isinstance(value, float) and name not in COUNTS]
    return [row for row in rows if is_number(row.value)]


def lifts(tuned: dict, baseline: dict) -> list[Lift]:
    """Headline metrics present in both runs, with the lift in percentage points."""
    base = {m.name: m.value for m in headline_metrics(baseline)}
    return [
        Lift(m.name, m.value, base[m.name], (m.value - base[m.name]) * 100)
        for m in headline_metrics(tuned)
        if m.name in base
    ]


def split_metrics(manifest: dict, split: str = "test") -> dict:
    """The fine-tuned model's metrics on one split ({} when absent)."""
    return (manifest.get("metrics") or {}).get(split) or {}


def baseline_metrics(manifest: dict) -> dict:
    """The baseline's test metrics ({} when there is no baseline)."""
    return ((manifest.get("baseline") or {}).get("metrics") or {}).get("test") or {}


def backbone_id(manifest: dict) -> str:
    """The Hugging Face id when known, else the backbone's name."""
    backbone = manifest.get("backbone") or {}
    return backbone.get("hf_id") or backbone.get("name") or backbone.get("path_or_id") or "unknown"
