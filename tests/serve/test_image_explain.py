"""Grad-CAM explanations of image runs: `explain_images`, `"explain": true` on /v1/image (JSON and multipart, with
the cache), `predict --explain` on an image, and the confident mistakes' Grad-CAM in the report."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import ecomtune
from tests.cli.test_cli import ecomtune as cli
from tests.serve.conftest import wait_ready
from tests.serve.test_image import BLUE, RED, b64, image_run  # noqa: F401  (a fixture)


@pytest.fixture(scope="module")
def model(image_run):  # noqa: F811
    return ecomtune.load(image_run, device="cpu")


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def test_heatmap_of_the_predicted_class(model):
    from ecomtune.tasks.image_classify.explain import explain_images

    explained = explain_images(model, [RED, BLUE])
    assert [e["target"] for e in explained] == [p["label"] for p in model.predict([RED, BLUE])]
    side = model.pre.size
    for e in explained:
        assert e["method"] == "grad_cam" and e["heatmap"].shape == (side, side)
        assert e["heatmap"].min() >= 0 and e["heatmap"].max() == pytest.approx(1.0)
        assert png_size(e["png"]) == (side, side)
    assert not np.allclose(explained[0]["heatmap"], explained[1]["heatmap"])


def test_onnx_copy_cannot_explain(model):
    from ecomtune.errors import RunDirError
    from ecomtune.tasks.image_classify.explain import explain_images

    onnx = object.__new__(type(model))  # the same model as an ONNX copy has it: no PyTorch network
    onnx.__dict__.update(model.__dict__, runtime=object(), manifest={"runtime": {"name": "onnx"}})
    with pytest.raises(RunDirError, match="this onnx copy has no gradients"):
        explain_images(onnx, [RED])


@pytest.fixture(scope="module")
def client(image_run):  # noqa: F811
    with TestClient(ecomtune.create_app([image_run], {"device": "cpu"})) as client:
        wait_ready(client)
        yield client


def test_service_explains_json_and_uploads(client, model):
    plain = client.post("/v1/image", json={"images": [b64(RED)]}).json()["predictions"][0]
    assert "explanation" not in plain and plain["cached"] is False
    answer = client.post("/v1/image", json={"images": [b64(RED)], "explain": True}).json()["predictions"][0]
    assert answer["cached"] is True  # the label came from the cache, the heatmap did not
    e = answer["explanation"]
    assert set(e) == {"method", "target", "heatmap_png"} and e["method"] == "grad_cam"
    assert e["target"] == answer["label"]
    assert png_size(base64.b64decode(e["heatmap_png"])) == (model.pre.size, model.pre.size)
    upload = client.post("/v1/image", files=[("files", ("b.jpg", BLUE, "image/jpeg"))], data={"explain": "true"})
    assert upload.json()["predictions"][0]["explanation"]["method"] == "grad_cam"
    bad = client.post("/v1/image", files=[("files", ("b.jpg", BLUE, "image/jpeg"))], data={"explain": "yes"})
    assert bad.status_code == 422 and "explain" in bad.text
    again = client.post("/v1/image", json={"images": [b64(RED)]}).json()["predictions"][0]
    assert "explanation" not in again


def test_cli_writes_heatmaps(image_run, tmp_path):  # noqa: F811
    photo = tmp_path / "red.jpg"
    photo.write_bytes(RED)
    out = cli("predict", image_run, "--explain", "--input", photo, cwd=tmp_path)
    assert "Grad-CAM heatmap in heatmaps/red.gradcam.png" in out.stdout + out.stderr
    assert (tmp_path / "heatmaps" / "red.gradcam.png").is_file()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "b.jpg").write_bytes(BLUE)
    cli("predict", image_run, "--explain", "--input", tmp_path / "photos", "--output", tmp_path / "out.csv")
    row = pd.read_csv(tmp_path / "out.csv").iloc[0]
    e = json.loads(row["explanation"])
    assert e["target"] == row["pred_label"] and e["method"] == "grad_cam"
    assert png_size(Path(e["heatmap"]).read_bytes())


def test_report_has_the_mistakes_gradcam(image_run, model, tmp_path):  # noqa: F811
    from ecomtune.recipes.loader import recipe_of_run
    from ecomtune.tasks.image_classify.data import prepare_images
    from ecomtune.tasks.image_classify.report import image_sections

    recipe = recipe_of_run(image_run, model.manifest, need_data=True)
    prepared = prepare_images(recipe)
    pred, probs = model.predict_arrays(prepared.test.paths)
    wrong = (pred + 1) % model.space.sizes[0]  # every prediction a mistake
    evaluation = recipe.evaluation.model_copy(update={"mistakes": 4, "gradcam": 4})  # the toy recipe turns both off
    html = "".join(image_sections(tmp_path, model, prepared, {"pred": wrong, "probs": probs}, evaluation))
    assert "Where the model looked on those mistakes" in html
    assert png_size((tmp_path / "plots" / "mistakes_gradcam.png").read_bytes())
