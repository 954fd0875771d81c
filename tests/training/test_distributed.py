"""`ecomtune train --nproc 2`: two CPU processes (torchrun, gloo) train to the same weights as one process with the
same global batch and seed — for a text classifier (the Hugging Face Trainer's DDP) and for the recommender (its own
loop's gradient all-reduce) — and only rank 0 writes the run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

import ecomtune
from tests.conftest import _save_tiny, classify_recipe, toy_reviews
from tests.tasks.recommend.conftest import rec_recipe, toy_items, toy_sequences

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="torchrun with gloo on Windows is not supported")


@pytest.fixture(scope="module")
def encoder_no_dropout(tmp_path_factory) -> str:
    """Dropout draws different masks in each process, so equal weights need a model without it."""
    from transformers import BertConfig, BertModel

    return _save_tiny(tmp_path_factory, "tiny-bert-nodrop", lambda tok: BertModel(BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)))


def _train(recipe: dict, path: Path, nproc: int, *extra: str) -> subprocess.CompletedProcess:
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    return subprocess.run([sys.executable, "-m", "ecomtune", "train", str(path), "--nproc", str(nproc),
                           "--master-port", str(29500 + os.getpid() % 1000), *extra],
                          check=False, env=env, capture_output=True, text=True, timeout=600)


def _max_difference(a: Path, b: Path) -> float:
    """The largest weight difference, leaving out attention's key bias: softmax ignores it, so its gradient is zero
    up to rounding, which Adam scales up to learning-rate-sized steps of random sign in either run."""
    x, y = load_file(str(a)), load_file(str(b))
    assert x.keys() == y.keys()
    for k in x:
        if k.endswith("in_proj_bias"):  # [query; key; value] biases
            third = len(x[k]) // 3
            x[k], y[k] = (t[list(range(third)) + list(range(2 * third, 3 * third))] for t in (x[k], y[k]))
    return max(float((x[k] - y[k]).abs().max()) for k in x)


def test_text_two_processes_match_one(tmp_path, encoder_no_dropout):
    # 256 rows -> 128 training rows: whole global batches of 16 (see docs/scale.md on a partial last batch)
    toy_reviews(256).to_csv(tmp_path / "reviews.csv", index=False)
    runs = {}
    for nproc in (1, 2):
        recipe = classify_recipe(tmp_path / "reviews.csv", encoder_no_dropout, tmp_path, epochs=2)
        recipe["model"]["dropout"] = 0.0
        recipe["evaluation"]["baseline"] = False
        recipe["output"]["dir"] = str(tmp_path / f"run{nproc}")
        if nproc == 1:
            done = _train(recipe, tmp_path / f"r{nproc}.yaml", nproc)
            assert done.returncode == 0, done.stderr[-3000:]
            runs[nproc] = tmp_path / f"run{nproc}"
        else:  # the Python API: ecomtune.train(recipe, nproc=2)
            runs[nproc] = ecomtune.train(recipe, nproc=nproc)
    for name in ("model.safetensors", "heads.safetensors"):
        assert _max_difference(runs[1] / "model" / name, runs[2] / "model" / name) < 1e-4
    cost = json.loads((runs[2] / "manifest.json").read_text())["cost"]
    assert cost["world_size"] == 2 and cost["train_samples_per_second_per_process"] > 0
    assert not (tmp_path / ".run2.partial").exists() and not (runs[2] / "checkpoints").exists()


def test_recommender_two_processes_match_one(tmp_path):
    seqs = toy_sequences(120)
    (tmp_path / "seqs.txt").write_text("".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(seqs)))
    toy_items().to_csv(tmp_path / "items.csv", index=False)
    toy = {"sequences": tmp_path / "seqs.txt", "items": tmp_path / "items.csv", "dir": tmp_path}
    runs = {}
    for nproc in (1, 2):
        recipe = rec_recipe(toy, {"type": "sasrec", "item_embedding": "id", "dropout": 0.0}, epochs=3,
                            evaluate_every=1)
        recipe["output"]["dir"] = str(tmp_path / f"rec{nproc}")
        done = _train(recipe, tmp_path / f"rec{nproc}.yaml", nproc)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[nproc] = tmp_path / f"rec{nproc}"
    weights = next((runs[1] / "model").glob("*.safetensors")).name
    assert _max_difference(runs[1] / "model" / weights, runs[2] / "model" / weights) < 1e-4
    one, two = (json.loads((runs[n] / "manifest.json").read_text()) for n in (1, 2))
    assert abs(one["metrics"]["test"]["ndcg@10"] - two["metrics"]["test"]["ndcg@10"]) < 1e-6
    assert two["cost"]["world_size"] == 2


def test_batch_must_split_evenly(tmp_path, encoder_no_dropout):
    toy_reviews(64).to_csv(tmp_path / "reviews.csv", index=False)
    recipe = classify_recipe(tmp_path / "reviews.csv", encoder_no_dropout, tmp_path, batch_size=15)
    done = _train(recipe, tmp_path / "odd.yaml", 2)
    assert done.returncode != 0
    assert "`training.batch_size` (15) must be a multiple of the number of processes (2)" in done.stderr
    assert not (tmp_path / "run").exists()  # rank 0 failed before the run folder; no rank waits forever


def test_launch_checks_refuse_what_several_processes_cannot_do():
    from types import SimpleNamespace

    from ecomtune.errors import RecipeError
    from ecomtune.training import distributed

    distributed.check_launch(SimpleNamespace(batch_size=16), 2)
    with pytest.raises(RecipeError, match="set it to 14 or use --nproc 1"):
        distributed.check_launch(SimpleNamespace(batch_size=15), 2)
    with pytest.raises(RecipeError, match="`training.few_shot` trains in one process"):
        distributed.check_launch(SimpleNamespace(batch_size=16, few_shot={"pairs_per_example": 20}), 2)
    if not __import__("torch").cuda.is_available():
        with pytest.raises(RecipeError, match="`training.fsdp` needs CUDA GPUs"):
            distributed.check_launch(SimpleNamespace(batch_size=16, fsdp=True), 2)
