"""Recommenders on tiny data: they learn, save portable run directories, reload, add items, resume."""
import itertools
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ecomtune
from ecomtune.errors import DataError, EcomtuneError, RecipeError
from ecomtune.recipes import load_recipe
from ecomtune.tasks.recommend.predict import Recommender
from ecomtune.tasks.recommend.sasrec import SASRec

from .conftest import rec_recipe

RANDOM_HR10 = 10 / 30


def test_sasrec_id_learns_the_next_item_and_round_trips(toy_rec, tmp_path):
    run = ecomtune.train(rec_recipe(toy_rec, {"type": "sasrec", "item_embedding": "id"}))
    manifest = json.loads((run / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    assert test["cases"] == 240 and test["hr@1"] > 0.6, test  # the pattern is deterministic: +1 each step
    assert manifest["cost"]["trainable_params"] > 0 and manifest["history"]
    assert (run / "README.md").exists() and (run / "plots" / "learning_curve.png").exists()
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    shutil.rmtree(run)
    rec = ecomtune.load(moved)
    assert isinstance(rec, Recommender)
    top = rec.recommend(["i3", "i4", "i5"], k=3)
    assert top[0]["item"] == "i6" and "i5" not in [t["item"] for t in top]
    assert ecomtune.evaluate(moved)["hr@1"] == pytest.approx(test["hr@1"])
    with pytest.raises(EcomtuneError, match="ID-only"):
        rec.add_items(["new"], ["Nike Men Shirts new"])
    with pytest.raises(EcomtuneError, match="unknown item 'nope'"):
        rec.recommend(["nope"])


def test_text_models_recommend_cold_and_new_items(toy_rec, tiny_encoder):
    recipe = rec_recipe(toy_rec, {"type": "sasrec", "item_embedding": "text+id", "text_encoder": tiny_encoder})
    recipe["data"]["cold_items"] = 0.1
    run = ecomtune.train(recipe)
    metrics = json.loads((run / "manifest.json").read_text())["metrics"]
    assert metrics["test_cold"]["cases"] + metrics["test_warm"]["cases"] == 240
    rec = Recommender.load(run)
    assert (run / "model" / "encoder" / "config.json").exists()
    n = rec.n_items
    rec.add_items(["new-1", "new-2"], ["Nike Men Shirts new", "Puma Women Jeans new"])
    assert rec.n_items == n + 2 and len(rec.index) == n + 2
    rows = rec.model.item_matrix()
    assert torch.isfinite(rows).all() and rows.shape[0] == n + 3
    ranked = rec.recommend(["i1", "i2"], k=rec.n_items - 2)
    assert {"new-1", "new-2"} <= {r["item"] for r in ranked}  # new items are rankable without retraining
    with pytest.raises(EcomtuneError, match="already in the catalogue"):
        rec.add_items(["i1"], ["dup"])


@pytest.mark.parametrize("mode", ["text", "text-init"])
def test_tied_and_text_initialised_embeddings(mode):
    text = torch.nn.functional.normalize(torch.randn(11, 8), dim=-1)
    model = SASRec(10, hidden=4, layers=1, heads=1, item_embedding=mode, text=text)
    if mode == "text":
        assert not hasattr(model, "table")  # tied: no per-item parameters
        assert torch.allclose(model.item_matrix(), model.proj(text))
    else:  # the table starts at the PCA of the text, with the N(0, 0.02) scale
        assert torch.allclose(model.table.weight[1:], model.text_init_rows(text[1:]), atol=1e-6)
        assert 0.005 < model.table.weight[1:].std() < 0.05
    before = model.item_matrix().shape[0]
    model.add_items(torch.randn(2, 8))
    assert model.item_matrix().shape[0] == before + 2


def test_two_tower_frozen_learns(toy_rec, tiny_encoder):
    run = ecomtune.train(rec_recipe(toy_rec, {"type": "two_tower", "text_encoder": tiny_encoder, "hidden": 32},
                                    negatives=16, epochs=6, evaluate_every=3))
    test = json.loads((run / "manifest.json").read_text())["metrics"]["test"]
    assert test["hr@10"] > RANDOM_HR10 + 0.2, test
    rec = ecomtune.load(run)
    w = rec.model.W.detach()
    assert w.shape == (32, 32) and not torch.allclose(w, torch.eye(32))  # the bilinear W was learned
    h = torch.randn(3, 32)
    assert torch.allclose(rec.model.user_vectors(torch.tensor([[0, 1, 2]])) @ rec.model.item_matrix().T,
                          rec.model.user_state(torch.tensor([[0, 1, 2]])) @ w @ rec.model.item_matrix().T,
                          atol=1e-5)
    del h


def test_two_tower_lora_trains_the_encoder_and_saves_it_merged(toy_rec, tiny_encoder):
    recipe = rec_recipe(toy_rec, {"type": "two_tower", "text_encoder": tiny_encoder, "finetune": "lora"},
                        negatives=8, epochs=1, evaluate_every=1, refresh_every=3)
    run = ecomtune.train(recipe)
    enc = run / "model" / "encoder"
    assert (enc / "model.safetensors").exists() and not (enc / "adapter_config.json").exists()
    from safetensors.torch import load_file

    saved = load_file(str(enc / "model.safetensors"))
    base = load_file(str(__import__("pathlib").Path(tiny_encoder) / "model.safetensors"))
    changed = [k for k in base if k in saved and not torch.equal(base[k], saved[k])]
    assert changed, "LoRA was merged into some encoder weights"
    rec = ecomtune.load(run)
    cost = json.loads((run / "manifest.json").read_text())["cost"]
    assert cost["trainable_params"] > sum(p.numel() for p in rec.model.parameters())  # + the LoRA matrices
    rec.add_items(["n1"], ["Zara Women Jeans fresh"])
    assert rec.n_items == 31


def test_interrupted_run_resumes(toy_rec, monkeypatch):
    from ecomtune.tasks.recommend import train as train_module
    from ecomtune.training import meter as meter_module

    clock = itertools.count()  # every reading of the clock is one second later: each training interval is 1 s
    monkeypatch.setattr(meter_module, "time", SimpleNamespace(perf_counter=lambda: float(next(clock))))
    recipe = rec_recipe(toy_rec, {"type": "sasrec"}, epochs=4, evaluate_every=1)
    calls = {"n": 0}
    original = train_module.save_checkpoint

    def crash_after_two(*args):
        original(*args)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated power cut")

    monkeypatch.setattr(train_module, "save_checkpoint", crash_after_two)
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(recipe)
    run_dir = __import__("pathlib").Path(recipe["output"]["dir"])
    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert state["meter"]["train_seconds"] == 2.0 and state["meter"]["train_samples"] == 2 * 240
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "model-2.safetensors", "state.json", "trainer-2.pt"]  # the first checkpoint's files are gone
    monkeypatch.setattr(train_module, "save_checkpoint", original)
    run = ecomtune.train(recipe, resume=True)
    manifest = json.loads((run / "manifest.json").read_text())
    assert [h["epoch"] for h in manifest["history"]] == [1, 2, 3, 4]
    assert not (run / "checkpoints").exists()
    # the cost covers both parts: 4 epochs of 240 users (8 steps of 32 each) in 4 one-second intervals
    cost = manifest["cost"]
    assert (cost["steps"], cost["train_seconds"], cost["train_samples_per_second"]) == (32, 4.0, 240.0)
    assert cost["peak_memory_mb"] > 0


def test_manifest_cost_and_most_popular_baseline(toy_rec):
    from ecomtune.rundir import COST_FIELDS
    from ecomtune.tasks.recommend.data import load_data
    from ecomtune.tasks.recommend.train import baseline

    recipe = load_recipe(rec_recipe(toy_rec, {"type": "sasrec"}, epochs=1, evaluate_every=1))
    run = ecomtune.train(recipe)
    manifest = json.loads((run / "manifest.json").read_text())
    cost = manifest["cost"]
    assert set(COST_FIELDS) <= set(cost) and cost["steps"] == 8 and cost["device"] == "cpu"
    assert cost["inference_samples_per_second"] > 0 and cost["train_samples_per_second"] > 0
    popular = manifest["baseline"]
    assert popular["name"] == "most-popular" and popular == {**baseline(recipe), "train_seconds":
                                                             popular["train_seconds"]}
    # by hand: rank the items by training count, drop each user's history, find the target
    data = load_data(recipe.data, need_text=False)
    counts = np.bincount(np.concatenate(data.train), minlength=data.n_items + 1).astype(float)
    hits = []
    for history, target in zip(data.test.histories, data.test.targets):
        scores = counts.copy()
        scores[0] = -np.inf
        scores[[h for h in history if h != target]] = -np.inf
        hits.append((scores >= scores[target]).sum() - 1 < 10)
    assert popular["metrics"]["test"]["hr@10"] == pytest.approx(np.mean(hits))
    card = (run / "README.md").read_text()
    assert "most-popular baseline" in card and f"{popular['metrics']['test']['hr@10']:.4f}" in card


def test_recipe_errors_name_the_key(toy_rec):
    base = rec_recipe(toy_rec, {"type": "sasrec", "item_embedding": "text"})
    base["data"].pop("items")
    with pytest.raises(RecipeError, match="set `data.items`"):
        load_recipe(base)
    with pytest.raises(RecipeError, match="did you mean `model.hidden`"):
        load_recipe(rec_recipe(toy_rec, {"type": "sasrec", "hiden": 8}))
    with pytest.raises(RecipeError, match="`model.heads` \\(3\\) must divide"):
        load_recipe(rec_recipe(toy_rec, {"type": "sasrec", "heads": 3}))
    bad = rec_recipe(toy_rec, {"type": "sasrec"})
    bad["evaluation"]["metric"] = "ndcg@7"
    with pytest.raises(RecipeError, match="evaluation.metric"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="`task` must be one of"):
        load_recipe({**bad, "task": "recomend"})


def test_serve_batch_matches_user_vectors(toy_rec):
    run = ecomtune.train(rec_recipe(toy_rec, {"type": "sasrec"}, epochs=1, evaluate_every=1))
    rec = ecomtune.load(run)
    vectors = np.stack(rec.serve_batch([rec.history_key(["i1", "i2"]), rec.history_key(["i9"])]))  # one per key
    expected = rec.user_vectors([rec.positions(["i1", "i2"]), rec.positions(["i9"])])
    assert np.allclose(vectors, expected, atol=1e-5)


def test_item_vectors_from_a_batch_job_train_the_same_model(toy_rec, tiny_encoder, tmp_path):
    # `ecomtune embed` (here in-process; on Ray for a big catalogue) writes the vectors a recipe then reads
    ecomtune.embed(tiny_encoder, toy_rec["items"], tmp_path / "items.parquet", text_column="title",
                   id_column="item_id", max_length=12)
    model = {"type": "sasrec", "item_embedding": "text", "text_encoder": tiny_encoder}
    runs = []
    for name, data in (("embedded", {}), ("read", {"item_vectors": str(tmp_path / "items.parquet")})):
        recipe = rec_recipe(toy_rec, model, epochs=2)
        recipe["data"].update(data)
        recipe["output"]["dir"] = str(tmp_path / name)
        runs.append(ecomtune.train(recipe))
    a, b = (load_file(str(run / "model" / "weights.safetensors")) for run in runs)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4

    bad = rec_recipe(toy_rec, model)
    bad["data"]["item_vectors"] = str(tmp_path / "nothing.parquet")
    with pytest.raises(DataError, match="no such vectors file"):
        ecomtune.train(bad)
