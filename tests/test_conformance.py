"""The task contract, checked for every registered task (scikit-learn's `check_estimator` is the model).

Each task trains on a tiny random model and toy data, then: check the data, run its baseline, train, copy the run
directory (with its data) elsewhere and delete the original, load it, predict, evaluate without naming a file (the
recipe's data is found relative to the run), and answer one request of its endpoint through the service. A new
task that registers itself without a case here, or with a piece missing, fails.
"""
from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.errors import EcomtuneError
from ecomtune.registry import tasks
from ecomtune.rundir import COST_FIELDS, read_manifest
from tests.conftest import toy_products, toy_reviews
from tests.serve.conftest import wait_ready
from tests.tasks.generate.conftest import generate_recipe
from tests.tasks.guide.conftest import guide_recipe, toy_world
from tests.tasks.image_classify.conftest import (
    COLOURS,
    image_recipe,
    jpeg,
    save_tiny_resnet,
    toy_photos,
)
from tests.tasks.recommend.conftest import toy_items, toy_sequences


@dataclass
class Case:
    write: Callable[[Path, str], dict]  # (folder for data and runs, tiny backbone) -> recipe dict
    inputs: list  # what `predict` takes
    request: dict  # one request body for the task's endpoint
    metric: str  # a test metric `evaluate` must reproduce
    backbone: str = "tiny_encoder"  # the fixture whose tiny model `write` gets


def _text(task: str, data: dict, model: dict | None = None) -> Callable[[Path, str], dict]:
    def write(folder: Path, backbone: str) -> dict:
        (folder / "data").mkdir(parents=True)
        frame = toy_products(120) if task != "classify" else toy_reviews(120)
        if task == "multitask":
            frame["gender"] = frame["title"].str.split().str[1]
        frame.to_csv(folder / "data" / "train.csv", index=False)
        return {"name": f"c-{task}", "task": task,
                "data": {"train": str(folder / "data" / "train.csv"), "split": {"test": 0.25, "validation": 0.2},
                         **data},
                "model": {"backbone": backbone, "max_length": 24, **(model or {})},
                "training": {"epochs": 1, "batch_size": 16, "learning_rate": 3e-3, "precision": "fp32"},
                "output": {"dir": str(folder / "runs" / task)}}
    return write


def _recommend(folder: Path, backbone: str) -> dict:
    (folder / "data").mkdir(parents=True)
    lines = "".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(toy_sequences(120)))
    (folder / "data" / "seqs.txt").write_text(lines, encoding="utf-8")
    toy_items().to_csv(folder / "data" / "items.csv", index=False)
    return {"name": "c-recommend", "task": "recommend",
            "data": {"interactions": str(folder / "data" / "seqs.txt"), "items": str(folder / "data" / "items.csv"),
                     "max_history": 8},
            "model": {"type": "sasrec", "item_embedding": "id", "hidden": 16, "heads": 2, "layers": 1},
            "training": {"epochs": 2, "batch_size": 32, "learning_rate": 1e-2, "evaluate_every": 1, "device": "cpu"},
            "evaluation": {"ks": [1, 5], "metric": "ndcg@5"},
            "output": {"dir": str(folder / "runs" / "recommend")}}


TITLES = [f"{c} {t} {i}" for i, (c, t) in enumerate(
    (c, t) for c in ["red", "blue", "black", "white", "green"] for t in ["shirt", "dress", "shoes", "jeans"])]


def _search(folder: Path, backbone: str) -> dict:
    (folder / "data").mkdir(parents=True)
    rows = [{"query": f"{t.rsplit(' ', 1)[0]} {i}", "product": t, "label": "E"} for i, t in enumerate(TITLES)]
    pd.DataFrame(rows).to_csv(folder / "data" / "judged.csv", index=False)
    return {"name": "c-search", "task": "search",
            "data": {"format": "judgments", "judgments": str(folder / "data" / "judged.csv"),
                     "product_column": "product", "label_column": "label", "test": 0.25},
            "model": {"backbone": backbone, "max_length": 16, "query_max_length": 16, "reranker": False},
            "training": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "mine_top": 4, "device": "cpu"},
            "evaluation": {"ndcg_k": [5], "recall_k": [5]},
            "output": {"dir": str(folder / "runs" / "search")}}


def _image(folder: Path, backbone: str) -> dict:  # pixels: a tiny random ResNet, not the text encoder given
    photos = toy_photos(folder / "data" / "photos")
    return image_recipe(photos, save_tiny_resnet(folder.parent / "tiny-resnet"), folder / "runs" / "image-classify",
                        name="c-image-classify")


def _guide(folder: Path, backbone: str) -> dict:  # photos: the tiny ResNet; texts: the tiny encoder given
    world = toy_world(folder / "data", rooms_per_scene=8)
    return guide_recipe(world, save_tiny_resnet(folder.parent / "tiny-resnet"), backbone, folder / "runs" / "guide",
                        name="c-guide")


def _generate(folder: Path, backbone: str) -> dict:
    recipe = generate_recipe(folder, backbone, "c-generate", training={"max_steps": 3})
    recipe["output"]["dir"] = str(folder / "runs" / "generate")
    return recipe


def _qa(folder: Path, backbone: str) -> dict:
    from tests.tasks.qa.conftest import toy_qa, write_jsonl

    (folder / "data").mkdir(parents=True)
    data = write_jsonl(toy_qa(12), folder / "data" / "qa.jsonl")
    return {"name": "c-qa", "task": "qa", "data": {"path": str(data), "test": 0.25},
            "context": {"threshold": 0.5},
            "model": {"backbone": backbone, "template": "{input}", "max_prompt_tokens": 96, "max_target_tokens": 16,
                      "adapter": {"method": "lora", "r": 4}},
            "training": {"max_steps": 2, "max_pairs": 16, "device": "cpu"},
            "generation": {"max_new_tokens": 8}, "evaluation": {"rows": 6, "baselines": ["retrieved"]},
            "output": {"dir": str(folder / "runs" / "qa")}}


TEXTS = ["great dress, love it", "Nike Men Sneakers 3"]
ASK = {"product": "P001", "question": "does the filter fit model m1?"}
PHOTO = jpeg(COLOURS["red"], seed=1)
CASES = {
    "classify": Case(_text("classify", {"text_column": "review", "label_column": "stars"}), TEXTS,
                     {"texts": TEXTS}, "accuracy"),
    "taxonomy": Case(_text("taxonomy", {"text_column": "title", "path_column": "path"}), TEXTS,
                     {"texts": TEXTS}, "path_accuracy"),
    "multitask": Case(_text("multitask", {"text_column": "title", "label_columns": ["l1", "gender"]}), TEXTS,
                      {"texts": TEXTS}, "all_heads_accuracy"),
    "recommend": Case(_recommend, [["i1", "i2", "i3"]], {"histories": [["i1", "i2", "i3"]], "k": 3}, "ndcg@5"),
    "search": Case(_search, ["red shirt"], {"queries": ["red shirt"], "k": 3}, "ndcg@5"),
    "guide": Case(_guide, ["a white bedroom, budget 500"], {"text": "a white bedroom, budget 500"}, "recall@50"),
    "generate": Case(_generate, ["类型#上衣*颜色#白色*材质#棉"], {"inputs": ["类型#上衣*颜色#白色*材质#棉"],
                                                                   "max_new_tokens": 4}, "rouge-l", "tiny_chat_lm"),
    "qa": Case(_qa, [ASK], {"questions": [ASK]}, "rouge-l", "tiny_chat_lm"),
    "image-classify": Case(_image, [PHOTO], {"images": [base64.b64encode(PHOTO).decode()]}, "accuracy"),
}


def test_every_registered_task_has_a_conformance_case():
    assert sorted(tasks().names()) == sorted(CASES), "add a Case for each new task (and delete removed ones)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_task_contract(name, tmp_path, request):
    from ecomtune.deploy.serve import create_app

    spec, case = tasks().get(name), CASES[name]
    tiny_encoder = request.getfixturevalue(case.backbone)
    for piece in ("recipe", "check", "train", "baseline", "load", "evaluate", "router"):
        assert spec.part(piece) is not None, piece
    work = tmp_path / "work"
    recipe = case.write(work, tiny_encoder)
    assert ecomtune.check_data(recipe)["task"] == name
    assert ecomtune.baseline(recipe)["metrics"]["test"]
    run = ecomtune.train(recipe)
    manifest = read_manifest(run)
    assert manifest["task"] == name and not (set(COST_FIELDS) - set(manifest["cost"]))
    assert manifest["baseline"], "every run reports its task's baseline"
    assert all(isinstance(manifest["cost"][k], (int, float, str)) for k in COST_FIELDS)

    alone = tmp_path / "alone"  # the run without its data: evaluate names the file it looked for
    shutil.copytree(run, alone)
    with pytest.raises(EcomtuneError, match=r"alone: the recipe's `data\.\w+` is \.\./.*which does not exist"):
        ecomtune.evaluate(alone, device="cpu")
    moved = tmp_path / "moved"  # the run and its data moved together: everything still works
    shutil.copytree(work, moved)
    shutil.rmtree(work)
    run = moved / run.relative_to(work)

    model = ecomtune.load(run, device="cpu")
    out = model.predict(case.inputs)
    assert len(out) == len(case.inputs)
    if hasattr(model, "encode"):
        assert len(model.encode(case.inputs)) == len(case.inputs)
    assert model.evaluate()[case.metric] == pytest.approx(manifest["metrics"]["test"][case.metric], abs=1e-3)
    assert ecomtune.evaluate(run, device="cpu")[case.metric] == pytest.approx(
        manifest["metrics"]["test"][case.metric], abs=1e-3)

    with TestClient(create_app([run], {"device": "cpu"})) as client:
        wait_ready(client)
        response = client.post(spec.endpoint, json=case.request)
        assert response.status_code == 200, response.text
        assert response.json()["task"] == name
        listed = client.get("/v1/models").json()["models"]
        assert [m["endpoint"] for m in listed] == [spec.endpoint]
    assert json.loads((run / "manifest.json").read_text(encoding="utf-8"))["task"] == name
