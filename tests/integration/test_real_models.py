"""The packaged real models on small slices of real data (minutes, not hours)."""
from __future__ import annotations

import json

import pytest

import ecomtune
from ecomtune.backbones import BACKBONES

pytestmark = pytest.mark.integration


def needs(name: str):
    if not BACKBONES.get(name).is_installed():
        pytest.skip(f"{name} is not installed: {BACKBONES.get(name).install_command}")


def test_minilm_learns_english_sentiment_on_the_demo_sample(tmp_path):
    needs("minilm")
    run = ecomtune.train("demo", [f"output.dir={tmp_path / 'run'}", "data.max_train_rows=400",
                                  "data.max_test_rows=200", "training.epochs=3", "training.learning_rate=1e-4",
                                  "model.max_length=64"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["metrics"]["test"]["accuracy"] >= 0.8
    assert manifest["cost"]["total_params"] == pytest.approx(22.7e6, rel=0.01)
    assert ecomtune.predict(run, ["Absolutely love it, fits perfectly!"])[0]["label"] == "positive"


def test_gemma_learns_chinese_sentiment(shared_data, tmp_path):
    needs("gemma3-270m")
    run = ecomtune.train("sentiment-zh", [f"output.dir={tmp_path / 'run'}", "data.max_train_rows=240",
                                          "data.max_validation_rows=16", "data.max_test_rows=100",
                                          "training.epochs=1", "training.learning_rate=1e-4",
                                          "model.max_length=64",
                                          "evaluation.baseline=false"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["backbone"]["name"] == "gemma3-270m" and manifest["backbone"]["pooling"] == "last"
    assert manifest["metrics"]["test"]["accuracy"] >= 0.75
    preds = ecomtune.predict(run, ["质量很好，非常满意，下次还来买", "太差了，用了两天就坏了，退货"])
    assert [p["label"] for p in preds] == ["positive", "negative"]


def test_minilm_taxonomy_on_fashion_titles(shared_data, tmp_path):
    needs("minilm")
    run = ecomtune.train("taxonomy-en", [f"output.dir={tmp_path / 'run'}", "data.max_train_rows=800",
                                         "data.max_test_rows=300", "data.max_validation_rows=100",
                                         "training.epochs=2"])
    test = json.loads((run / "manifest.json").read_text())["metrics"]["test"]
    assert test["valid_path_rate"] == 1.0
    assert test["levels"]["masterCategory"]["accuracy"] >= 0.9


def test_minilm_lora_learns_with_under_2pct_trainable_and_merges(tmp_path):
    needs("minilm")
    run = ecomtune.train("demo", [f"output.dir={tmp_path / 'run'}", "data.max_train_rows=400",
                                  "data.max_test_rows=200", "training.epochs=3", "training.learning_rate=1e-3",
                                  "model.adapter.method=lora", "evaluation.baseline=false", "model.max_length=64"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["metrics"]["test"]["accuracy"] >= 0.8
    assert manifest["cost"]["trainable_params"] / manifest["cost"]["total_params"] < 0.02
    merged = ecomtune.export(run, tmp_path / "merged", merge=True)
    texts = ["Absolutely love it, fits perfectly!", "Cheap fabric, returned it."]
    assert [p["label"] for p in ecomtune.predict(merged, texts)] == [p["label"] for p in ecomtune.predict(run, texts)]
