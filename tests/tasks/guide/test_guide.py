"""The guide end to end on the toy world: build, answer from a photo and/or a request, budgets, history, errors."""
from __future__ import annotations

import json

import pytest

import ecomtune
from ecomtune.errors import EcomtuneError
from ecomtune.rundir import read_manifest
from tests.tasks.guide.conftest import COLOURS, collage


def test_build_writes_a_guide_with_matching_metrics_and_baselines(guide_run):
    manifest = read_manifest(guide_run)
    test = manifest["metrics"]["test"]
    assert manifest["task"] == "guide" and test["test_rooms"] > 0
    assert {"caption", "photo", "photo + caption"} <= set(test) and 0 <= test["recall@50"] <= 1
    assert {"frozen caption vs product text", "frozen regions vs product photo"} <= set(
        manifest["baseline"]["metrics"]["test"])
    assert {"bedroom", "living_room", "bathroom"} <= set(manifest["pieces"])  # bathroom: the default pieces
    assert manifest["pieces"]["bedroom"]["pieces"]["bed"] > 0.5
    for name in ("model/matcher.safetensors", "model/scenes.npz", "catalogue/products.csv", "catalogue/photo.npy"):
        assert (guide_run / name).is_file(), name


def test_a_request_gets_a_bundle_within_budget_with_reasons(guide_run):
    guide = ecomtune.load(guide_run, device="cpu")
    answer = guide.ask(text="a white bedroom, budget 500")
    assert answer["scene"] == "bedroom" and answer["budget"] == 500
    assert answer["within_budget"] and answer["total"] <= 500 and answer["items"]
    pieces = [i["piece"] for i in answer["items"]]
    assert len(pieces) == len(set(pieces)) and len({i["id"] for i in answer["items"]}) == len(pieces)
    assert all(i["reasons"] for i in answer["items"])
    assert any("of your 500" in r for i in answer["items"] for r in i["reasons"])


def test_chinese_request_and_must_haves(guide_run):
    guide = ecomtune.load(guide_run, device="cpu")
    answer = guide.ask(text="客厅要一张沙发，预算两千")
    assert answer["scene"] == "living_room" and answer["budget"] == 2000
    assert "sofa" in [i["piece"] for i in answer["items"]]


def test_photo_alone_and_disagreeing_photo(guide_run):
    guide = ecomtune.load(guide_run, device="cpu")
    photo = collage([COLOURS["red"]] * 3 + [(120, 90, 60)], seed=5)
    alone = guide.ask(photo=photo)
    assert alone["scene"] in ("bedroom", "living_room") and alone["photo_scenes"] and alone["items"]
    other = "living_room" if alone["scene"] == "bedroom" else "bedroom"
    words = {"living_room": "living room", "bedroom": "bedroom"}[other]
    both = guide.ask(photo=photo, text=f"furnish my {words}")
    assert both["scene"] == other
    if both["scene_from"].startswith("request (photo"):
        assert any("the request says" in n for n in both["notes"])


def test_history_removes_owned_pieces(guide_run):
    guide = ecomtune.load(guide_run, device="cpu")
    beds = guide.products[guide.products["piece"] == "bed"]["id"].tolist()
    answer = guide.ask(text="bedroom", history=beds[:1])
    assert "bed" in answer["owned"] and "bed" not in [i["piece"] for i in answer["items"]]


def test_impossible_requests_are_one_line_errors(guide_run):
    guide = ecomtune.load(guide_run, device="cpu")
    with pytest.raises(EcomtuneError, match="nothing to go on"):
        guide.ask()
    with pytest.raises(EcomtuneError, match="raise the budget"):
        guide.ask(text="bedroom", budget=5, must_have=["bed"])
    with pytest.raises(EcomtuneError, match="unknown piece 'spaceship'"):
        guide.ask(text="bedroom", must_have=["spaceship"])


def test_evaluate_reproduces_the_build_metrics(guide_run):
    manifest = read_manifest(guide_run)
    again = ecomtune.evaluate(guide_run, device="cpu")
    assert again["recall@50"] == pytest.approx(manifest["metrics"]["test"]["recall@50"], abs=1e-4)
    assert json.dumps(again)
