"""POST /v1/image (multipart upload and base64 JSON, the errors naming the image) and `ecomtune predict` on a
folder of images, with a tiny colour classifier."""
from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.errors import DataError
from tests.cli.test_cli import ecomtune as cli
from tests.serve.conftest import wait_ready
from tests.tasks.image_classify.conftest import (
    COLOURS,
    image_recipe,
    jpeg,
    save_tiny_resnet,
    toy_photos,
)

RED, BLUE = jpeg(COLOURS["red"], seed=7), jpeg(COLOURS["blue"], seed=8)
BIG = jpeg(COLOURS["green"], seed=9, side=200)
LIMITS = {"device": "cpu", "max_items": 3, "max_image_bytes": 20_000}


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-image")
    recipe = image_recipe(toy_photos(tmp / "photos", per_class=8), save_tiny_resnet(tmp / "resnet"), tmp / "run",
                          name="colours")
    recipe["evaluation"]["baseline"] = False
    return ecomtune.train(recipe)


@pytest.fixture(scope="module")
def client(image_run):
    with TestClient(ecomtune.create_app([image_run], LIMITS)) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def expected(image_run):
    """What the Python API predicts for RED and BLUE: the service must answer the same."""
    return ecomtune.load(image_run, device="cpu").predict([RED, BLUE])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check(answer: dict, expected: list[dict], cached: list[bool]) -> None:
    assert answer["task"] == "image-classify" and answer["model"] == "colours"
    got = answer["predictions"]
    assert [p["label"] for p in got] == [e["label"] for e in expected]
    for p, e in zip(got, expected):
        assert p["score"] == pytest.approx(e["score"], abs=1e-5) == max(p["probs"].values())
        assert sum(p["probs"].values()) == pytest.approx(1, abs=1e-5) and set(p["probs"]) == set(COLOURS)
    assert [p["cached"] for p in got] == cached


def test_multipart_and_base64_give_the_models_predictions(client, expected):
    files = [("files", ("red.jpg", RED, "image/jpeg")), ("files", ("blue.jpg", BLUE, "image/jpeg"))]
    response = client.post("/v1/image", files=files, data={"model": "colours"})
    assert response.status_code == 200, response.text
    check(response.json(), expected, [False, False])
    # the same bytes as base64 (one as a data URL): the cache keys images by their bytes
    response = client.post("/v1/image", json={"images": [f"data:image/jpeg;base64,{b64(RED)}", b64(BLUE)]})
    assert response.status_code == 200, response.text
    check(response.json(), expected, [True, True])
    body = client.get("/openapi.json").json()["paths"]["/v1/image"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "multipart/form-data"}


@pytest.mark.parametrize(("request_kw", "code", "detail"), [
    ({"files": [("files", ("red.jpg", RED, "image/jpeg")), ("files", ("notes.txt", b"hello", "text/plain"))]},
     422, r"files\[1\]: notes\.txt: not an image Pillow can read"),
    ({"files": [("files", ("cut.jpg", RED[:len(RED) // 2], "image/jpeg"))]}, 422,
     r"files\[0\]: cut\.jpg: unreadable or truncated image"),
    ({"files": [("files", ("red.jpg", RED, "image/jpeg")), ("files", ("zero.jpg", b"", "image/jpeg"))]}, 422,
     r"files\[1\]: zero\.jpg: empty file \(0 bytes\)"),
    ({"files": [("files", ("red.jpg", RED, "image/jpeg")), ("files", ("big.jpg", BIG, "image/jpeg"))]}, 413,
     r"files\[1\]: big\.jpg: [\d,]+ bytes, at most 20,000 per image"),
    ({"json": {"images": [b64(RED), "not base64!"]}}, 422, r"images\[1\]: not valid base64"),
    ({"json": {"images": ["é" + b64(RED)]}}, 422, r"images\[0\]: not valid base64 \(string argument should"),
    ({"json": {"images": [b64(RED)] * 4}}, 422, r"images: 4 images, at most 3 per request"),
    ({"json": {"images": []}}, 422, r"images: empty list"),
    ({"json": {"images": [b64(RED)], "k": 3}}, 422, r"^k: Extra inputs are not permitted"),
    ({"data": {"model": "colours"}, "files": [("photo", ("a.jpg", RED, "image/jpeg"))]}, 422,
     r"photo: unknown field"),
    ({"content": b"{\"images\": [", "headers": {"content-type": "application/json"}}, 422, r"JSON decode error"),
    ({"content": RED, "headers": {"content-type": "image/jpeg"}}, 415, r"image/jpeg — send multipart/form-data"),
    ({"json": {"images": [b64(RED)], "model": "nope"}}, 404, r"unknown model 'nope'"),
], ids=["not-an-image", "truncated", "empty-file", "too-large", "bad-base64", "not-ascii", "too-many", "empty", "unknown-key",
        "unknown-field", "bad-json", "content-type", "unknown-model"])
def test_errors_name_the_image(client, request_kw, code, detail):
    response = client.post("/v1/image", **request_kw)
    assert response.status_code == code, response.text
    assert re.search(detail, response.json()["detail"]), response.json()["detail"]


def test_a_taxonomy_run_answers_paths(tmp_path):
    photos = toy_photos(tmp_path / "photos", per_class=6)
    rows = [{"path": str(f.relative_to(tmp_path)), "tone": "warm" if f.parent.name == "red" else "cool",
             "colour": f.parent.name} for f in sorted(photos.rglob("*.jpg"))]
    pd.DataFrame(rows).to_csv(tmp_path / "photos.csv", index=False)
    recipe = image_recipe(tmp_path / "photos.csv", save_tiny_resnet(tmp_path / "resnet"), tmp_path / "run")
    recipe["data"]["label_columns"] = ["tone", "colour"]
    recipe["training"]["epochs"] = 1
    recipe["evaluation"]["baseline"] = False
    with TestClient(ecomtune.create_app([ecomtune.train(recipe)], {"device": "cpu"})) as client:
        wait_ready(client)
        response = client.post("/v1/image", files=[("files", ("red.jpg", RED, "image/jpeg"))])
    assert response.status_code == 200, response.text
    (got,) = response.json()["predictions"]
    assert got["path"] in (["warm", "red"], ["cool", "green"], ["cool", "blue"])  # only paths seen in training
    assert got["label"] == " > ".join(got["path"]) and set(got["level_scores"]) == {"tone", "colour"}


def test_predict_cli_labels_a_folder_and_leaves_unreadable_images_empty(image_run, tmp_path, expected):
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    (folder / "a-red.jpg").write_bytes(RED)
    (folder / "broken.jpg").write_bytes(b"not an image")
    (folder / "more" / "blue.jpg").write_bytes(BLUE)
    (folder / "notes.txt").write_text("not listed: not an image extension")
    out = tmp_path / "out.csv"
    cli("predict", image_run, "--input", folder, "--output", out)
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["path", "pred_label", "pred_score", "prob_blue", "prob_green", "prob_red"]
    assert preds["path"].tolist() == ["a-red.jpg", "broken.jpg", "more/blue.jpg"]
    assert preds["pred_label"].isna().tolist() == [False, True, False]
    assert preds["pred_label"][[0, 2]].tolist() == [e["label"] for e in expected]
    assert preds["pred_score"][[0, 2]].tolist() == pytest.approx([e["score"] for e in expected], abs=1e-5)

    table = tmp_path / "table.csv"
    pd.DataFrame({"sku": [1, 2, 3], "photo": ["photos/more/blue.jpg", "", "photos/a-red.jpg"]}).to_csv(table,
                                                                                                       index=False)
    missing = cli("predict", image_run, "--input", table, "--output", out, check=False)
    assert missing.returncode == 2 and "missing image column 'path'" in missing.stderr
    cli("predict", image_run, "--input", table, "--output", out, "--image-column", "photo")
    preds = pd.read_csv(out)
    assert preds["sku"].tolist() == [1, 2, 3] and preds["pred_label"].isna().tolist() == [False, True, False]
    assert preds["pred_label"][[0, 2]].tolist() == [e["label"] for e in reversed(expected)]


def test_predict_file_notes_unreadable_images_by_row(image_run, tmp_path, monkeypatch, capsys):
    (tmp_path / "red.jpg").write_bytes(RED)
    (tmp_path / "cut.jpg").write_bytes(RED[:len(RED) // 2])
    table = tmp_path / "table.csv"
    pd.DataFrame({"path": ["red.jpg", "cut.jpg", "gone.jpg"]}).to_csv(table, index=False)
    monkeypatch.delenv("ECOMTUNE_QUIET")
    out = ecomtune.predict_file(image_run, table, tmp_path / "out.csv", device="cpu")
    note = " ".join(capsys.readouterr().err.split())
    assert "2 of 3 images" in note and "row 2 (cut.jpg): unreadable or truncated" in note
    assert "row 3 (gone.jpg): file not found" in note
    assert out["pred_label"].isna().tolist() == [False, True, True]
    with pytest.raises(DataError, match=r"--text-column does not apply; use --image-column"):
        ecomtune.predict_file(image_run, table, tmp_path / "out.csv", text_column="title", device="cpu")
