"""Training end to end on tiny models: learning happens, the run directory is complete and portable, resume works."""
from __future__ import annotations

import json
import re
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file

import ecomtune
from ecomtune.tasks.text.baseline import warn_single_class
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.recipes import load_recipe
from ecomtune.data.labels import LabelSpace
from ecomtune.registry import task
from ecomtune.training.callbacks import CostMeter
from tests.conftest import classify_recipe


def test_tiny_encoder_learns_and_writes_a_complete_run(reviews_csv, tiny_encoder, tmp_path):
    run = ecomtune.train(classify_recipe(reviews_csv, tiny_encoder, tmp_path))
    manifest = json.loads((run / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    assert test["accuracy"] >= 0.85, test  # separable by one keyword; chance is 0.5
    assert manifest["format_version"] == 2 and manifest["task"] == "classify"
    assert {"model/model.safetensors", "model/heads.safetensors", "model/tokenizer.json", "model/labels.json"} \
        <= set(manifest["files"])
    assert str(tmp_path) not in (run / "manifest.json").read_text()  # no absolute path: data paths are relative
    assert manifest["recipe"]["data"]["train"] == "../reviews.csv" and "output" not in manifest["recipe"]
    assert manifest["labels"] == ["negative", "positive"]
    assert manifest["baseline"]["metrics"]["test"]["accuracy"] > 0.5
    assert len(manifest["data"]["sha256"]) == 64
    for key in ("trainable_params", "total_params", "train_seconds", "train_samples_per_second", "peak_memory_mb",
                "model_size_mb", "inference_latency_ms_p50", "inference_latency_ms_p95",
                "inference_samples_per_second"):
        assert manifest["cost"][key] > 0, key
    assert manifest["cost"]["trainable_params"] == manifest["cost"]["total_params"]
    assert any("eval_accuracy" in h for h in manifest["history"])
    for name in ("model/config.json", "model/model.safetensors", "model/heads.safetensors", "model/tokenizer.json",
                 "report.html", "README.md", "recipe.yaml", "plots/learning_curves.png",
                 "plots/confusion_matrix.png"):
        assert (run / name).exists(), name
    assert not (run / "checkpoints").exists()
    assert set(load_file(str(run / "model/heads.safetensors"))) == {"heads.0.weight", "heads.0.bias"}
    assert str(tmp_path) not in (run / "model" / "config.json").read_text()

    # portable: copy elsewhere, delete the original, predictions are unchanged
    texts = ["the dress is great and comfortable", "awful cheap broken shirt", "衣服很差，退货"]
    before = ecomtune.predict(run, texts)
    moved = shutil.copytree(run, tmp_path / "elsewhere" / "copy")
    shutil.rmtree(run)
    after = ecomtune.predict(moved, texts)
    assert [p["label"] for p in after] == [p["label"] for p in before] == ["positive", "negative", "negative"]
    assert after[0]["score"] == pytest.approx(before[0]["score"], abs=1e-5)
    assert sum(after[0]["probs"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predictions_do_not_depend_on_batch_order(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=1, precision="fp32")
    raw["model"]["template"] = "review: {text} sentiment:"
    run = ecomtune.train(raw)
    model = ecomtune.load(run)
    assert model.template == raw["model"]["template"]
    assert json.loads((run / "manifest.json").read_text())["head"]["template"] == raw["model"]["template"]
    texts = ["short", "a much longer review text about a dress that fits well " * 3, "ok fine", "衣服很好"]
    one_by_one = [model.predict(t, batch_size=1)["score"] for t in texts]
    batched = [p["score"] for p in model.predict(texts, batch_size=4)]
    assert batched == pytest.approx(one_by_one, abs=1e-4)


def test_taxonomy_on_tiny_decoder_predicts_valid_paths(products_csv, tiny_decoder, tmp_path):
    recipe = {"name": "tax", "task": "taxonomy",
              "data": {"train": str(products_csv), "text_column": "title", "path_column": "path"},
              "model": {"backbone": tiny_decoder, "max_length": 24},
              "training": {"epochs": 4, "batch_size": 16, "learning_rate": 3e-3, "precision": "bf16",
                           "layer_lr_decay": 0.8, "freeze_embeddings": True, "scheduler": "cosine"},
              "output": {"dir": str(tmp_path / "tax")}}
    run = ecomtune.train(recipe)
    manifest = json.loads((run / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    assert test["valid_path_rate"] == 1.0
    assert set(test["levels"]) == {"L1", "L2", "L3"}
    assert test["levels"]["L1"]["accuracy"] >= 0.9
    assert manifest["backbone"]["pooling"] == "last"
    assert manifest["cost"]["trainable_params"] < manifest["cost"]["total_params"]  # embeddings frozen
    assert (run / "plots" / "per_level.png").exists()
    pred = ecomtune.predict(run, ["Nike Men Sneakers 7"])[0]
    assert pred["path"] == pred["label"].split(" > ") and len(pred["path"]) == 3


def test_early_stopping_and_gradual_unfreeze(reviews_csv, tiny_encoder, tmp_path):
    recipe = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=4, gradual_unfreeze=True,
                             early_stopping={"patience": 1}, evaluate_every="epoch")
    run = ecomtune.train(recipe)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["cost"]["epochs"] <= 4
    assert manifest["metrics"]["validation"]["accuracy"] > 0


def test_incompatible_options_fail_before_training(reviews_csv, tiny_encoder, tmp_path):
    with pytest.raises(RecipeError, match="`training.early_stopping` needs validation rows"):
        ecomtune.train(classify_recipe(reviews_csv, tiny_encoder, tmp_path, early_stopping={"patience": 1})
                       | {"data": {"train": str(reviews_csv), "text_column": "review", "label_column": "stars",
                                   "split": {"validation": 0.0}}})
    with pytest.raises(RecipeError, match="freeze_layers` is 9 but the backbone has 2 layers"):
        ecomtune.train(classify_recipe(reviews_csv, tiny_encoder, tmp_path / "b", freeze_layers=9))


def test_existing_run_dir_needs_overwrite_or_resume(reviews_csv, tiny_encoder, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "something").write_text("x")
    with pytest.raises(RunDirError, match="already exists — pass --overwrite"):
        ecomtune.train(classify_recipe(reviews_csv, tiny_encoder, tmp_path))


def test_interrupted_run_resumes_from_its_checkpoint(reviews_csv, tiny_encoder, tmp_path, power_cut, monkeypatch):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=1, max_steps=8, evaluate_every=2,
                          batch_size=8)
    monkeypatch.setattr(CostMeter, "on_step_end", lambda *a, **k: time.sleep(0.5))  # steps that take time
    power_cut(5)
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(raw)
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    power_cut(None)

    changed = dict(raw, training=dict(raw["training"], learning_rate=1e-3))
    with pytest.raises(RunDirError, match="recipe changed .*training.learning_rate"):
        ecomtune.train(changed, resume=True)

    run = ecomtune.train(raw, resume=True)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["cost"]["steps"] == 8
    eval_steps = [h["step"] for h in manifest["history"] if "eval_accuracy" in h]
    assert eval_steps == [2, 4, 6, 8]  # steps 2 and 4 come from the checkpoint's state
    cost = manifest["cost"]  # both parts: steps 1-4 before the cut (kept by checkpoint-4), then 5-8
    assert cost["train_seconds"] >= 8 * 0.5
    assert cost["train_samples_per_second"] * cost["train_seconds"] == pytest.approx(8 * 8, rel=0.01)


def test_resume_without_a_run_is_an_error(reviews_csv, tiny_encoder, tmp_path):
    with pytest.raises(RunDirError, match="nothing to resume"):
        ecomtune.train(load_recipe(classify_recipe(reviews_csv, tiny_encoder, tmp_path)), resume=True)


def test_evaluate_on_a_new_labelled_file(reviews_csv, tiny_encoder, tmp_path):
    run = ecomtune.train(classify_recipe(reviews_csv, tiny_encoder, tmp_path) | {"evaluation": {"baseline": False}})
    default = ecomtune.evaluate(run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert default["accuracy"] == pytest.approx(manifest["metrics"]["test"]["accuracy"])
    new = tmp_path / "new.csv"
    import pandas as pd

    pd.DataFrame({"review": ["great dress", "awful shirt", "so so"], "stars": [5, 1, 3]}).to_csv(new, index=False)
    metrics = ecomtune.evaluate(run, new)
    assert metrics["rows"] == 2 and metrics["rows_with_unknown_labels"] == 1  # 3 stars: a label it never saw


def test_a_model_that_answers_one_label_for_every_row_is_warned_about(tiny_encoder, tmp_path):
    # the tiny tokenizer reads every text as `the dress [UNK]`: neither model can tell the rows apart
    rows = [{"review": f"the dress {chr(0x3400 + i)}", "stars": 5 if i % 5 < 3 else 1} for i in range(80)]
    data = tmp_path / "same.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    run = ecomtune.train(classify_recipe(data, tiny_encoder, tmp_path, epochs=1))
    manifest = json.loads((run / "manifest.json").read_text())
    (warning,) = manifest["metrics"]["test"]["warnings"]
    label = re.match(r"the model predicts '(\w+)' for all 20 rows \(accuracy (\S+) is that label's share\) — train "
                     r"longer", warning)
    assert label and float(label[2]) == manifest["metrics"]["test"]["accuracy"] == {"positive": 0.6,
                                                                                     "negative": 0.4}[label[1]]
    (warning,) = manifest["baseline"]["metrics"]["test"]["warnings"]
    assert warning.startswith("the TF-IDF baseline predicts 'positive' for all 20 rows (accuracy 0.600 is that "
                              "label's share) — the text may not carry the label")


def test_single_class_warnings_name_the_level_and_need_several_true_labels():
    space = LabelSpace.from_rows(["L1", "L2"], [("A", "a1"), ("A", "a2"), ("B", "b1")])
    true = np.array([[0, 0], [0, 1], [1, 2]])
    metrics = task("taxonomy").module("metrics").compute(true, np.array([[0, 0]] * 3), space)
    warn_single_class(metrics)
    assert [w.split(" for all")[0] for w in metrics["warnings"]] == ["the model predicts 'A' in 'L1'",
                                                                     "the model predicts 'a1' in 'L2'"]
    one_label = task("classify").module("metrics").compute(np.zeros((4, 1), int), np.zeros((4, 1), int),
                                                      LabelSpace(["y"], [["neg", "pos"]]))
    warn_single_class(one_label)  # the rows hold one label: answering it every time is right, not degenerate
    assert "warnings" not in one_label
