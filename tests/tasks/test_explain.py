"""Explanations of text classifiers: per-word attributions (integrated gradients, occlusion), the nearest training
examples, the confident-mistakes report section, `predict --explain` and `"explain": true` on the service.

The tiny model is trained on the toy reviews, where one word decides the label ("great" vs "awful" among filler
words): a sensible attribution puts that word on top, which is what these tests check."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.errors import DataError, RunDirError
from ecomtune.tasks.text.explain import (
    Neighbours,
    explain_texts,
    pick_method,
    report_sections,
)
from tests.cli.test_cli import ecomtune as cli
from tests.conftest import FILLER, NEG_EN, POS_EN, classify_recipe, toy_reviews
from tests.serve.conftest import multitask_run, taxonomy_run, wait_ready  # noqa: F401  (fixtures)

pytest.importorskip("captum", reason="explanations use captum: pip install 'ecomtune[explain]'")

METHODS = ["integrated_gradients", "occlusion"]


@pytest.fixture(scope="module")
def run(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    toy_reviews().to_csv(tmp / "reviews.csv", index=False)
    recipe = classify_recipe(tmp / "reviews.csv", tiny_encoder, tmp, epochs=8)
    recipe["evaluation"] = {"baseline": False}
    recipe["name"] = "sentiment"
    return ecomtune.train(recipe)


@pytest.fixture(scope="module")
def model(run):
    return ecomtune.load(run, device="cpu")


def deciding_texts(n: int = 24) -> list[tuple[str, str]]:
    """(text, its sentiment word): filler words around one sentiment word, in orders the training set lacks."""
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        word = (POS_EN + NEG_EN)[i % 12]
        filler = list(rng.choice(FILLER, 5, replace=False))
        filler.insert(int(rng.integers(0, 6)), word)
        out.append((" ".join(filler), word))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_one_score_per_word_largest_is_one(model, method):
    texts = ["this shirt was great size 7", "衣服很差，物流快"]
    explained = explain_texts(model, texts, method=method)
    predicted = [p["label"] for p in model.predict(texts)]
    assert [e.target for e in explained] == predicted
    assert explained[0].tokens == texts[0].split()
    assert explained[1].tokens == ["衣", "服", "很", "差", "，", "物", "流", "快"]  # one per CJK character
    for e in explained:
        assert e.method == method and len(e.tokens) == len(e.scores)
        assert max(abs(s) for s in e.scores) == pytest.approx(1.0)
        assert set(e.to_dict()) == {"method", "target", "tokens", "scores"}


def test_word_pieces_merge_into_words(model):
    text = "the beautifully comfortable dress"
    pieces = model.tokenizer.tokenize(text)
    assert len(pieces) > 4, pieces  # the toy vocabulary splits at least one of these words
    e = explain_texts(model, [text])[0]
    assert e.tokens == text.split()


@pytest.mark.parametrize("method", METHODS)
def test_the_deciding_word_gets_the_top_score(model, method):
    cases = deciding_texts()
    predicted = model.predict([t for t, _ in cases])
    # the texts the model gets right with confidence: there, the sentiment word is what it must be reading
    right = [(t, w) for (t, w), p in zip(cases, predicted)
             if p["label"] == ("positive" if w in POS_EN else "negative") and p["score"] > 0.8]
    assert len(right) >= 12, "the toy model should get most of these right"
    explained = explain_texts(model, [t for t, _ in right], method=method)
    # among its two highest-scored words (6 words a text: chance would put it there 1 time in 3); the tiny
    # random-initialised encoder also leans on a filler word or two ("shirt"), differently per thread count
    top = [top_words(e, 2) for e in explained]
    hits = sum(w in t for t, (_, w) in zip(top, right))
    assert hits >= 0.8 * len(right), list(zip(top, [w for _, w in right]))


def top_words(e, n: int) -> list[str]:
    return [e.tokens[i] for i in np.argsort(e.scores)[::-1][:n]]


def test_explaining_the_other_label_turns_the_word_against_it(model):
    text = "the dress fits and terrible color is"
    negative = model.space.labels[0].index("negative")
    positive = model.space.labels[0].index("positive")
    towards, away = explain_texts(model, [text, text], targets=[negative, positive])
    i = towards.tokens.index("terrible")
    assert towards.target == "negative" and away.target == "positive"
    assert towards.scores[i] > 0.5 and away.scores[i] < 0


def test_integrated_gradients_need_gradients(model):
    class OnnxLike:
        name = "onnx"

    onnx = object.__new__(type(model))  # the same model, its runtime said to be ONNX Runtime
    onnx.__dict__.update(model.__dict__, runtime=OnnxLike())
    assert pick_method(onnx) == "occlusion"
    with pytest.raises(RunDirError, match="has no gradients to integrate"):
        pick_method(onnx, "integrated_gradients")
    with pytest.raises(RunDirError, match="nearest training examples need the original run"):
        Neighbours(onnx, ["a"], ["x"])


def test_int8_copy_is_explained_by_occlusion(run, tmp_path):
    copy = ecomtune.compress(run, "int8", tmp_path / "int8", rows=8)
    int8 = ecomtune.load(copy, device="cpu")
    e = explain_texts(int8, ["this shirt was great size 7"])[0]
    assert e.method == "occlusion" and "great" in top_words(e, 2)


def test_nearest_training_examples_share_the_label(model):
    near = Neighbours.of_run(model).find(["the dress fits and terrible color is", "this shirt was great size"], k=3)
    assert [n["label"] for n in near[0]] == ["negative"] * 3
    assert [n["label"] for n in near[1]] == ["positive"] * 3
    assert near[0][0]["similarity"] >= near[0][1]["similarity"] >= near[0][2]["similarity"]


def test_training_vectors_are_cached_per_run(model, tmp_path, monkeypatch):
    monkeypatch.setenv("ECOMTUNE_CACHE", str(tmp_path))
    first = Neighbours.of_run(model)
    assert len(list((tmp_path / "explain").glob("*.npy"))) == 1

    def no_encoding(texts, batch_size=64):
        raise AssertionError("the training rows were embedded again")

    monkeypatch.setattr(model, "encode", no_encoding)
    again = Neighbours.of_run(model)  # the same run: its vectors come from the cache
    assert np.allclose(again.vectors, first.vectors, atol=1e-2)


def test_report_shows_confident_mistakes(run, model):
    from ecomtune.data.prepare import prepare_data
    from ecomtune.recipes.loader import recipe_of_run

    prepared = prepare_data(recipe_of_run(run, model.manifest, need_data=True))
    flipped = dataclasses.replace(prepared.test, labels=1 - prepared.test.labels)  # every prediction now wrong
    html, md = report_sections(model, dataclasses.replace(prepared, test=flipped), n=4)
    assert html.count("<tr><td>") == 4 and "rgba(26,127,55" in html  # green words towards the (wrong) label
    assert "Nearest training examples" in html
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 4
    # training wrote the same section in both, or (a perfect toy model) in neither
    assert ("most confident mistakes" in (run / "README.md").read_text()) == \
        ("most confident mistakes" in (run / "report.html").read_text())


def test_no_mistakes_section_when_the_recipe_asks_for_none(run, model):
    from ecomtune.recipes.loader import recipe_of_run
    from ecomtune.tasks.text.explain import mistake_sections

    recipe = recipe_of_run(run, model.manifest, need_data=True)
    assert recipe.evaluation.mistakes == 10
    assert mistake_sections(model, None, 0) == ("", "")  # evaluation.mistakes: 0 touches no data


def test_cli_explains_typed_texts(run):
    out = cli("predict", run, "--explain", "--text", "the dress fits and terrible color is").stdout
    assert out.splitlines()[0].startswith("negative (")
    assert "terrible +" in out.split("top words:")[1].splitlines()[0]
    assert "nearest training examples:" in out and "[negative]" in out


def test_cli_writes_an_explanation_column(run, tmp_path):
    pd.DataFrame({"review": ["this shirt was great size 7", "awful fit"]}).to_csv(tmp_path / "in.csv", index=False)
    cli("predict", run, "--explain", "--input", tmp_path / "in.csv", "--output", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    first = json.loads(out["explanation"][0])
    assert first["target"] == out["pred_label"][0] == "positive"
    assert first["tokens"] == ["this", "shirt", "was", "great", "size", "7"]
    assert all(n["label"] for n in json.loads(out["nearest_training"][0]))


def test_cli_refuses_tasks_without_a_label(tmp_path):
    from ecomtune.cli.explaining import check_explainable

    for family in ("search", "recommend", "generate", "qa", "guide"):
        with pytest.raises(DataError, match="--explain applies to classifiers .* and image models"):
            check_explainable(tmp_path, family)
    proc = cli("predict", tmp_path / "nowhere", "--text", "x", check=False)
    assert proc.returncode != 0 and "--text goes with --explain" in proc.stderr


@pytest.fixture(scope="module")
def client(run):
    with TestClient(ecomtune.create_app([run], {"device": "cpu"})) as client:
        wait_ready(client)
        yield client


def test_service_explains_and_the_cache_never_drops_it(client):
    text = "the dress fits and terrible color is"
    plain = client.post("/v1/classify", json={"texts": [text]}).json()["predictions"][0]
    assert "explanation" not in plain and plain["cached"] is False
    explained = client.post("/v1/classify", json={"texts": [text], "explain": True}).json()["predictions"][0]
    assert explained["cached"] is True  # the label came from the cache; its explanation did not
    e = explained["explanation"]
    assert set(e) == {"method", "target", "tokens", "scores"}
    assert e["method"] == "integrated_gradients" and e["target"] == explained["label"] == "negative"
    assert e["tokens"] == text.split() and max(map(abs, e["scores"])) == 1.0
    assert e["scores"][e["tokens"].index("terrible")] > 0
    again = client.post("/v1/classify", json={"texts": [text]}).json()["predictions"][0]
    assert "explanation" not in again and again["cached"] is True


def test_service_limits_explained_requests(client):
    answer = client.post("/v1/classify", json={"texts": ["great"] * 17, "explain": True})
    assert answer.status_code == 422 and "at most 16 per request" in answer.text
    assert client.post("/v1/classify", json={"texts": ["great"], "explain": 1}).status_code == 422  # strict


def test_taxonomy_explains_the_finest_level(taxonomy_run):  # noqa: F811
    with TestClient(ecomtune.create_app([taxonomy_run], {"device": "cpu"})) as client:
        wait_ready(client)
        p = client.post("/v1/taxonomy", json={"texts": ["Nike Men Sneakers 3"], "explain": True}).json()
    p = p["predictions"][0]
    assert p["explanation"]["target"] == p["path"][-1]
    assert p["explanation"]["tokens"] == ["Nike", "Men", "Sneakers", "3"]


def test_multitask_explains_the_first_head(multitask_run):  # noqa: F811
    with TestClient(ecomtune.create_app([multitask_run], {"device": "cpu"})) as client:
        wait_ready(client)
        p = client.post("/v1/classify", json={"texts": ["this shirt was great size 7"], "explain": True}).json()
    p = p["predictions"][0]
    assert p["explanation"]["target"] == p["labels"]["stars"]
    assert p["explanation"]["tokens"] == ["this", "shirt", "was", "great", "size", "7"]


def test_gemma_architecture_backbone_explains(tiny_decoder, tmp_path):
    """Decoder backbones (the packaged gemma3-270m is a dequantised GGUF of this architecture) take `inputs_embeds`
    too: integrated gradients and occlusion both work on them, over the same words."""
    toy_reviews(80).to_csv(tmp_path / "reviews.csv", index=False)
    recipe = classify_recipe(tmp_path / "reviews.csv", tiny_decoder, tmp_path, epochs=1)
    recipe["evaluation"] = {"baseline": False}
    decoder = ecomtune.load(ecomtune.train(recipe), device="cpu")
    text = "this shirt was great size 7"
    for method in METHODS:
        e = explain_texts(decoder, [text], method=method)[0]
        assert e.tokens == text.split() and max(abs(s) for s in e.scores) == pytest.approx(1.0)
