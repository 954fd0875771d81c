"""`ecomtune compress` on an image run (tiny random ResNet): each method writes a run directory that `load` opens and
that predicts like the fp32 original, measured in images; what does not apply is refused before any work."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ecomtune
from ecomtune.deploy.compress import compress
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.rundir import read_manifest

pytest.importorskip("onnxruntime")


def _test_images(run) -> list[str]:
    from ecomtune.recipes.loader import recipe_of_run
    from ecomtune.tasks.image_classify.data import prepare_images

    return prepare_images(recipe_of_run(run, read_manifest(run), need_data=True)).test.paths


def _probs(run, images) -> tuple[list[str], np.ndarray]:
    model = ecomtune.load(run)
    _, probs = model.predict_arrays(images, 8)
    return [p["label"] for p in model.predict(images)], probs[0]


@pytest.fixture(scope="module")
def original(image_run):
    images = _test_images(image_run)
    return images, *_probs(image_run, images)


@pytest.mark.parametrize("method, runtime, files, tolerance", [
    ("onnx", "onnx", {"model.onnx"}, 1e-4),  # the same fp32 arithmetic: identical labels
    ("onnx-int8", "onnx", {"model.onnx"}, 0.1),  # static int8 on every convolution
    ("int8", "torch-int8", {"weights.safetensors"}, 0.05),  # int8 head only (quantized when loaded)
])
def test_each_method_writes_a_run_that_predicts_like_the_original(image_run, original, tmp_path, method, runtime,
                                                                  files, tolerance):
    images, labels, probs = original
    out = compress(image_run, method, tmp_path / method)
    manifest = read_manifest(out)
    assert manifest["task"] == "image-classify" and manifest["runtime"]["name"] == runtime
    assert manifest["compression"]["method"] == method and manifest["compression"]["source"] == image_run.name
    assert {p.name for p in (out / "model").iterdir()} == files | {"backbone.json", "preprocess.json", "labels.json"}
    got_labels, got_probs = _probs(out, images)
    assert np.abs(got_probs - probs).max() < tolerance
    if method == "onnx":
        assert got_labels == labels
    else:
        assert np.mean(np.array(got_labels) == np.array(labels)) >= 0.9
    result = json.loads((out / "compress.json").read_text())
    assert result["unit"] == "image" and result["rows"] == len(images)
    assert result["after"]["images_per_second"] > 0 and result["before"]["torch fp32"]["network_images_per_second"] > 0
    assert result["agreement_with_fp32"] == pytest.approx(np.mean(np.array(got_labels) == np.array(labels)))
    assert manifest["metrics"]["test"]["accuracy"] == result["after"]["metrics"]["accuracy"]
    assert manifest["cost"]["inference_samples_per_second"] == result["after"]["images_per_second"]
    report = (out / "compress.md").read_text()
    assert "images/s (batch)" in report and f"| {method} |" in report
    card = (out / "README.md").read_text()
    assert "pipeline_tag: image-classification" in card and f"{manifest['name']}" in card


def test_onnx_int8_is_a_static_qdq_graph(image_run, tmp_path):
    import onnx

    out = compress(image_run, "onnx-int8", tmp_path / "o8", rows=4)
    graph = onnx.load(str(out / "model" / "model.onnx")).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "ConvInteger" not in ops  # static, not dynamic
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)
    runtime = read_manifest(out)["runtime"]
    assert runtime["weights"] == "int8" and runtime["calibration_images"] > 0
    assert json.loads((out / "compress.json").read_text())["rows"] == 4


def test_int8_says_it_covers_only_the_head(image_run, tmp_path):
    out = compress(image_run, "int8", tmp_path / "i8", rows=2)
    result = json.loads((out / "compress.json").read_text())
    assert "classification head(s) only" in result["description"]
    assert 0 < result["runtime"]["linear_weight_share"] < 0.5
    layers = dict(ecomtune.load(out).model.named_modules())
    assert type(layers["heads.0"]) is torch.ao.nn.quantized.dynamic.Linear  # int8 head
    assert type(layers["backbone.model.embedder.embedder.convolution"]) is torch.nn.Conv2d  # fp32 convolutions


def test_refusals_come_before_any_work(image_run, tmp_path):
    with pytest.raises(RecipeError, match="`--method prune` does not apply to image runs"):
        compress(image_run, "prune", tmp_path / "p", heads=0.5)
    with pytest.raises(RecipeError, match="`--method fp16` does not apply to image runs"):
        compress(image_run, "fp16", tmp_path / "p")
    with pytest.raises(RecipeError, match="`--keep-fp32` does not apply to `int8` on an image run"):
        compress(image_run, "int8", tmp_path / "p", keep_fp32=["heads"])
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("mine")
    with pytest.raises(RunDirError, match="--overwrite"):
        compress(image_run, "onnx", tmp_path / "taken")
    assert not (tmp_path / "p").exists()
    onnx = compress(image_run, "onnx", tmp_path / "onnx", rows=2)
    with pytest.raises(RunDirError, match="already compressed"):
        compress(onnx, "onnx-int8", tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_cli_compress_then_predict(image_run, original, tmp_path):
    from typer.testing import CliRunner

    from ecomtune.cli.app import app
    from ecomtune.cli.main import _register

    _register()
    runner = CliRunner()
    out = tmp_path / "cli-onnx"
    result = runner.invoke(app, ["compress", str(image_run), "--method", "onnx", "--out", str(out), "--rows", "3"])
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output and "same predictions" in result.output and "3 images" in result.output
    images, labels, _ = original
    assert [p["label"] for p in ecomtune.predict(out, images)] == labels
