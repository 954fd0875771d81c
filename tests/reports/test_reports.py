"""Reports: plots, HTML report and model card generated from fake manifests."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import yaml
from matplotlib import font_manager

from ecomtune.reports import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_per_class_f1,
    plot_per_level_f1,
    write_model_card,
    write_report,
)
from ecomtune.reports.fonts import cjk_font, font_rc
from ecomtune.reports.formatting import cost_value, human_count, human_duration, points

NASTY = "<b>&x"


def fake_metrics(labels: list[str], seed: int, skill: float) -> dict:
    """Classify METRICS with a consistent confusion matrix and per-class scores."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    support = rng.integers(5, 60, size=n) if n > 2 else np.array([120, 80])
    matrix = np.zeros((n, n), dtype=int)
    for i, count in enumerate(support):
        correct = int(round(count * skill))
        matrix[i, i] = correct
        wrong = rng.integers(0, n, size=count - correct)
        np.add.at(matrix[i], wrong, 1)
    tp = np.diag(matrix).astype(float)
    precision = np.divide(tp, matrix.sum(0), out=np.zeros(n), where=matrix.sum(0) > 0)
    recall = tp / matrix.sum(1)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=precision + recall > 0)
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, matrix.sum(1))
    }
    return {
        "accuracy": float(tp.sum() / matrix.sum()),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * matrix.sum(1)).sum() / matrix.sum()),
        "labels": labels,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def base_manifest(name: str, task: str, language: str) -> dict:
    return {
        "format_version": 1,
        "ecomtune_version": "0.1.0",
        "created": "2026-11-23T12:00:00Z",
        "name": name,
        "task": task,
        "language": language,
        "backbone": {"name": "minilm", "path_or_id": "/models/minilm", "kind": "encoder", "pooling": "mean",
                     "hf_id": "sentence-transformers/all-MiniLM-L6-v2"},
        "recipe": {"task": task, "training": {"epochs": 3, "learning_rate": 2e-5}, "note": NASTY},
        "data": {"files": {"train": "train.csv"}, "rows": {"train": 800, "validation": 100, "test": 100},
                 "sha256": "ab12cd34", "text_column": "review", "label_columns": ["label"]},
        "cost": {"trainable_params": 22713216, "total_params": 22713216, "train_seconds": 192.4,
                 "train_samples_per_second": 9.6, "peak_memory_mb": 1830.2, "model_size_mb": 87.1,
                 "inference_latency_ms_p50": 41.0, "inference_latency_ms_p95": 70.3, "inference_batch_size": 32,
                 "inference_samples_per_second": 780.0, "device": "cpu", "epochs": 3, "steps": 150,
                 "checkpoint_bytes": 91_226_112},
        "history": [
            {"step": 10, "epoch": 0.2, "loss": 0.69, "learning_rate": 2e-5},
            {"step": 30, "epoch": 0.6, "loss": 0.52, "learning_rate": 1.5e-5},
            {"step": 50, "epoch": 1.0, "eval_loss": 0.45, "eval_accuracy": 0.82, "eval_macro_f1": 0.80,
             "eval_runtime": 1.2},
            {"step": 80, "epoch": 1.6, "loss": 0.35, "learning_rate": 1e-5},
            {"step": 100, "epoch": 2.0, "eval_loss": 0.38, "eval_accuracy": 0.88, "eval_macro_f1": 0.87},
            {"step": 150, "epoch": 3.0, "eval_loss": 0.36, "eval_accuracy": 0.91, "eval_macro_f1": 0.90},
        ],
        "versions": {"python": "3.11.7", "torch": "2.13.0", "transformers": "5.23.0", "ecomtune": "0.1.0"},
    }


def classify_manifest() -> dict:
    labels = ["书籍", NASTY]
    manifest = base_manifest("sentiment-zh", "classify", "zh")
    manifest["labels"] = labels
    test = fake_metrics(labels, seed=1, skill=0.9)
    test.update(accuracy=0.91, macro_f1=0.90)
    baseline = fake_metrics(labels, seed=2, skill=0.8)
    baseline.update(accuracy=0.88, macro_f1=0.92)
    manifest["metrics"] = {"test": test, "validation": fake_metrics(labels, seed=3, skill=0.85)}
    manifest["baseline"] = {"name": "tfidf-logreg", "metrics": {"test": baseline}}
    return manifest


def taxonomy_manifest() -> dict:
    levels = ["masterCategory", "subCategory", "articleType"]
    labels = [
        ["Apparel", "Accessories", "平板"],
        [f"sub{i}" for i in range(12)],
        [f"type{i}" for i in range(70)] + [NASTY],
    ]
    manifest = base_manifest("fashion-taxonomy", "taxonomy", "en")
    manifest["taxonomy"] = {"levels": levels, "labels": labels, "n_paths": 140}
    manifest["data"]["label_columns"] = levels

    def taxonomy_metrics(seed: int, skill: float) -> dict:
        per_level = {lv: fake_metrics(lb, seed + i, skill) for i, (lv, lb) in enumerate(zip(levels, labels))}
        deepest = per_level[levels[-1]]
        return {"levels": per_level, "path_accuracy": skill - 0.1, "valid_path_rate": 1.0,
                "accuracy": deepest["accuracy"], "macro_f1": deepest["macro_f1"]}

    manifest["metrics"] = {"test": taxonomy_metrics(10, 0.9)}
    manifest["baseline"] = {"name": "tfidf-logreg", "metrics": {"test": taxonomy_metrics(20, 0.7)}}
    return manifest


def assert_valid_png(path: Path, min_kb: float = 5) -> None:
    assert path.is_file() and path.suffix == ".png"
    assert path.stat().st_size > min_kb * 1024
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0.01  # not a blank canvas


def referenced_paths(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def assert_portable_html(run_dir: Path) -> str:
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    refs = referenced_paths(html)
    assert refs, "report should embed plots"
    for ref in refs:
        assert not ref.startswith(("/", "http:", "https:", "file:")) and ":" not in ref
        assert_valid_png(run_dir / ref)
    assert "<script" not in html
    return html


def test_classify_report(tmp_path):
    manifest = classify_manifest()
    html_path = write_report(tmp_path, manifest)
    assert html_path == tmp_path / "report.html"
    html = assert_portable_html(tmp_path)
    assert "plots/learning_curves.png" in html and "plots/confusion_matrix.png" in html
    # User strings are escaped everywhere, including the recipe YAML.
    assert NASTY not in html and "&lt;b&gt;&amp;x" in html
    assert "书籍" in html
    # Lift in points: accuracy 0.91 vs 0.88, macro-F1 0.90 vs 0.92.
    assert '<td class="num pos">+3.0</td>' in html
    assert '<td class="num neg">-2.0</td>' in html
    # Cost fields in human units.
    for text in ("22.7M (100.0% of total)", "3m 12s", "1,830.2 MB", "87.0 MB", "41.0 ms", "780.0 samples/s"):
        assert text in html
    assert "learning_rate: 2.0e-05" in html or "learning_rate: 2e-05" in html
    assert "transformers" in html and "5.23.0" in html


def test_taxonomy_report(tmp_path):
    manifest = taxonomy_manifest()
    html = (write_report(tmp_path, manifest)).read_text(encoding="utf-8")
    assert_portable_html(tmp_path)
    for stem in ("per_level", "confusion_matrix_level1", "confusion_matrix_level3", "per_class_f1_level2"):
        assert f"plots/{stem}.png" in html
    for name in ("Path accuracy", "Valid-path rate", "articleType macro-F1"):
        assert name in html
    test, base = manifest["metrics"]["test"], manifest["baseline"]["metrics"]["test"]
    lift = points((test["path_accuracy"] - base["path_accuracy"]) * 100)
    assert lift == "+20.0" and f'<td class="num pos">{lift}</td>' in html
    assert "&lt;b&gt;&amp;x" in html and NASTY not in html


def test_report_without_optional_fields(tmp_path):
    manifest = classify_manifest()
    for key in ("baseline", "history", "cost", "recipe", "versions", "created"):
        del manifest[key]
    del manifest["metrics"]["validation"]
    html = write_report(tmp_path, manifest).read_text(encoding="utf-8")
    assert "Lift over baseline" not in html and "learning_curves" not in html
    assert "Accuracy" in html
    assert_portable_html(tmp_path)
    card = write_model_card(tmp_path, manifest).read_text(encoding="utf-8")
    assert "baseline" not in card.lower().split("## how to use")[0]


def test_report_with_bare_manifest(tmp_path):
    manifest = {"name": "bare", "task": "classify", "metrics": {}}
    html = write_report(tmp_path, manifest).read_text(encoding="utf-8")
    assert "No test metrics recorded" in html
    assert write_model_card(tmp_path, manifest).is_file()


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def model_index_metrics(meta: dict) -> dict[str, float]:
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    return {m["name"]: m["value"] for m in result["metrics"]}


def test_classify_model_card(tmp_path):
    manifest = classify_manifest()
    card = write_model_card(tmp_path, manifest).read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["library_name"] == "ecomtune"
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["language"] == ["zh"]
    assert meta["tags"] == ["ecomtune", "e-commerce", "classify"]
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    test = manifest["metrics"]["test"]
    assert model_index_metrics(meta) == {
        "Test Accuracy": test["accuracy"],
        "Test Macro-F1": test["macro_f1"],
        "Test Weighted-F1": test["weighted_f1"],
    }
    assert "`书籍`" in card and f"`{NASTY}`" in card  # labels shown literally in code spans
    assert "| Accuracy | 0.910 | 0.880 | +3.0 |" in card
    assert "ab12cd34" in card and "800" in card
    assert 'ecomtune predict RUN_DIR --input reviews.csv --output preds.csv' in card
    assert 'model = load("RUN_DIR")' in card


def test_taxonomy_model_card(tmp_path):
    manifest = taxonomy_manifest()
    card = write_model_card(tmp_path, manifest).read_text(encoding="utf-8")
    meta = front_matter(card)
    test = manifest["metrics"]["test"]
    metrics = model_index_metrics(meta)
    assert metrics["Test Path accuracy"] == test["path_accuracy"]
    assert metrics["Test Valid-path rate"] == test["valid_path_rate"]
    for level, m in test["levels"].items():
        assert metrics[f"Test {level} accuracy"] == m["accuracy"]
        assert metrics[f"Test {level} macro-F1"] == m["macro_f1"]
    assert "| articleType | 71 |" in card
    assert "taxonomy" in meta["tags"]


def test_plot_functions_return_paths(tmp_path):
    manifest = taxonomy_manifest()
    test = manifest["metrics"]["test"]
    deep = test["levels"]["articleType"]
    outputs = [
        plot_learning_curves(manifest["history"], tmp_path / "a" / "curves.png"),
        plot_confusion_matrix(deep["confusion_matrix"], deep["labels"], tmp_path / "cm.png", title="articleType"),
        plot_per_level_f1(test["levels"], tmp_path / "levels.png"),
        plot_per_class_f1(deep, tmp_path / "classes.png", baseline=deep),
        plot_learning_curves([], tmp_path / "empty.png"),
    ]
    for out in outputs[:-1]:
        assert_valid_png(out)
    assert outputs[-1].is_file()


def test_formatting():
    assert human_count(22713216) == "22.7M"
    assert human_count(950) == "950"
    assert human_duration(192.4) == "3m 12s"
    assert human_duration(3725) == "1h 2m 5s"
    assert human_duration(4.25) == "4.2s"
    assert points((0.91 - 0.88) * 100) == "+3.0"
    assert points(-0.04) == "0.0"
    assert cost_value("model_bytes", 2 * 1024**2, {}) == "2.0 MB"


def test_cjk_font_covers_chinese():
    family = cjk_font()
    if family is None:
        pytest.skip("no CJK font installed (e.g. apt-get install fonts-noto-cjk)")
    assert family in font_rc()["font.family"]
    font = font_manager.get_font(font_manager.findfont(family, fallback_to_default=False))
    assert font.get_char_index(ord("书")) != 0
