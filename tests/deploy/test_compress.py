"""`ecomtune compress` on tiny random models: every method writes a run directory that loads, predicts like the
original (or says how it differs), and refuses what it cannot do before touching anything."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ecomtune import api
from ecomtune.deploy.compress import compress
from ecomtune.errors import EcomtuneError, RecipeError, RunDirError
from ecomtune.tasks.text.predict import load
from ecomtune.rundir import read_manifest
from tests.conftest import classify_recipe, toy_reviews

TEXTS = ["great dress, love the fabric", "terrible, it ripped after one wash", "ok", "fits well " * 8]


def _train_toy(tmp_path_factory, backbone: str, epochs: int):
    tmp = tmp_path_factory.mktemp("compress")
    toy_reviews().to_csv(tmp / "reviews.csv", index=False)
    return api.train(classify_recipe(tmp / "reviews.csv", backbone, tmp, epochs=epochs))


@pytest.fixture(scope="module")
def run(tiny_encoder, tmp_path_factory):
    return _train_toy(tmp_path_factory, tiny_encoder, epochs=2)


@pytest.fixture(scope="module")
def decoder_run(tiny_decoder, tmp_path_factory):
    return _train_toy(tmp_path_factory, tiny_decoder, epochs=1)


def _logits(run_dir, texts=TEXTS):
    expert = load(run_dir, device="cpu", precision="fp32")
    _, input_ids, mask = next(expert._batches(texts, len(texts)))
    with torch.inference_mode():
        return expert.logits(input_ids, mask)[0].float().numpy()


def test_onnx_gives_the_pytorch_logits_and_is_measured(run, tmp_path):
    out = compress(run, "onnx", tmp_path / "onnx")
    manifest = read_manifest(out)
    assert manifest["runtime"]["name"] == "onnx" and (out / "model" / "model.onnx").exists()
    np.testing.assert_allclose(_logits(out), _logits(run), atol=5e-4)  # fused kernels round differently
    result = json.loads((out / "compress.json").read_text())
    assert result["agreement_with_fp32"] == 1.0 and result["quality_change_points"] == 0.0
    assert result["after"]["texts_per_second"] > 0 and result["before"]["torch fp32"]["size_mb"] > 0
    assert manifest["compression"]["source"] == run.name and "| onnx |" in (out / "compress.md").read_text()


@pytest.mark.parametrize("method, runtime", [("int8", "torch-int8"), ("onnx-int8", "onnx")])
def test_int8_copies_are_smaller_and_agree(run, tmp_path, method, runtime):
    out = compress(run, method, tmp_path / method)
    manifest = read_manifest(out)
    assert manifest["runtime"]["name"] == runtime
    result = json.loads((out / "compress.json").read_text())
    if method == "int8":
        assert result["size_ratio"] < 1.0, result["size_ratio"]  # tiny model: the tokenizer files are much of it
    else:  # a tiny graph's ONNX overhead outweighs its weights: check the weights are int8 instead
        import onnx

        graph = onnx.load(str(out / "model" / "model.onnx")).graph
        assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)
    assert result["agreement_with_fp32"] >= 0.9
    assert np.abs(_logits(out) - _logits(run)).max() < 0.5  # int8 error, not a different model
    assert [p["label"] for p in api.predict(out, TEXTS)] == [p["label"] for p in api.predict(run, TEXTS)]


@pytest.mark.parametrize("method", ["int8", "onnx-int8"])
def test_keep_fp32_leaves_the_named_layers_unquantized(run, tmp_path, method):
    out = compress(run, method, tmp_path / method, keep_fp32=["intermediate"])
    assert read_manifest(out)["runtime"]["keep_fp32"] == ["intermediate"]
    if method == "int8":
        layers = dict(load(out).model.backbone.named_modules())
        assert type(layers["encoder.layer.0.intermediate.dense"]) is torch.nn.Linear
        assert type(layers["encoder.layer.0.output.dense"]) is not torch.nn.Linear  # quantized
    else:
        import onnx

        nodes = {n.name: n.op_type for n in onnx.load(str(out / "model" / "model.onnx")).graph.node}
        assert not any("intermediate" in name and "Integer" in op for name, op in nodes.items())
    with pytest.raises(RecipeError, match="matches no Linear layer"):
        compress(run, method, tmp_path / "bad", keep_fp32=["down_prj"])


def test_prune_heads_then_quantize_the_pruned_copy(run, tmp_path):
    pruned = compress(run, "prune", tmp_path / "pruned", heads=0.5)
    manifest = read_manifest(pruned)
    kept = manifest["backbone"]["pruned_heads"]
    assert sum(len(h) for h in kept.values()) + 2 * (2 - len(kept)) == 2  # 4 heads, half removed, ≥ 1 per layer
    expert = load(pruned, device="cpu")
    layer = next(iter(kept))
    assert expert.model.backbone.encoder.layer[int(layer)].attention.self.query.out_features == 16  # 1 head of 16
    assert len(api.predict(pruned, TEXTS)) == len(TEXTS)
    # a pruned run is a plain PyTorch run: it can be quantized or exported in turn
    onnx = compress(pruned, "onnx", tmp_path / "pruned-onnx")
    np.testing.assert_allclose(_logits(onnx), _logits(pruned), atol=5e-4)  # fused kernels round differently
    int8 = compress(pruned, "int8", tmp_path / "pruned-int8")
    assert read_manifest(int8)["backbone"]["pruned_heads"] == kept
    assert np.abs(_logits(int8) - _logits(pruned)).max() < 0.5


def test_prune_layers_with_retraining(run, tmp_path):
    out = compress(run, "prune", tmp_path / "layers", layers=1, retrain_steps=3)
    manifest = read_manifest(out)
    pruning = manifest["compression"]["pruning"]
    assert len(pruning["layers"]["importance"]) == 2 and len(pruning["layers"]["kept"]) == 1
    assert pruning["retrain"]["steps"] == 3
    assert load(out).model.backbone.config.num_hidden_layers == 1


def test_decoder_layers_prune_and_export(decoder_run, tmp_path):
    """Gemma 3 layers carry per-layer attention types: the kept ones must keep theirs."""
    pruned = compress(decoder_run, "prune", tmp_path / "pruned", layers=1)
    config = load(pruned).model.backbone.config
    kept = read_manifest(pruned)["compression"]["pruning"]["layers"]["kept"]
    original = load(decoder_run).model.backbone.config.layer_types
    assert config.num_hidden_layers == 1 and config.layer_types == [original[i] for i in kept]
    onnx = compress(pruned, "onnx", tmp_path / "onnx")
    np.testing.assert_allclose(_logits(onnx), _logits(pruned), atol=5e-4)  # fused kernels round differently


def test_refusals_come_before_any_work(run, decoder_run, tmp_path):
    onnx = compress(run, "onnx", tmp_path / "onnx")
    with pytest.raises(RunDirError, match="already compressed"):
        compress(onnx, "int8", tmp_path / "again")
    with pytest.raises(RecipeError, match="--heads FRACTION"):
        compress(run, "prune", tmp_path / "p")
    with pytest.raises(RecipeError, match="fraction"):
        compress(run, "prune", tmp_path / "p", heads=1.5)
    with pytest.raises(RecipeError, match="`--keep-fp32` does not apply to `onnx`"):
        compress(run, "onnx", tmp_path / "p", keep_fp32=["query"])
    with pytest.raises(EcomtuneError, match="unknown compression method 'fp16'"):
        compress(run, "fp16", tmp_path / "p")
    with pytest.raises(RunDirError, match="--overwrite"):
        compress(run, "onnx", tmp_path / "onnx")
    with pytest.raises(RecipeError, match="grouped-query"):
        compress(decoder_run, "prune", tmp_path / "p", heads=0.5)
    assert not (tmp_path / "p").exists()


def test_a_crash_leaves_no_half_written_copy(run, tmp_path, monkeypatch):
    from ecomtune.deploy.compress import quantize

    def boom(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(quantize, "run", boom)
    with pytest.raises(RuntimeError):
        compress(run, "int8", tmp_path / "int8")
    assert not (tmp_path / "int8").exists()


def test_cli_compress_then_predict(run, tmp_path):
    from typer.testing import CliRunner

    from ecomtune.cli.app import app
    from ecomtune.cli.main import _register

    _register()
    runner = CliRunner()
    out = tmp_path / "cli-int8"
    result = runner.invoke(app, ["compress", str(run), "--method", "int8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "int8" in result.output and "same predictions" in result.output
    inputs = tmp_path / "in.csv"
    inputs.write_text("review\n" + "\n".join(TEXTS) + "\n")
    result = runner.invoke(app, ["predict", str(out), "--input", str(inputs), "--output", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compress", str(run), "--method", "int8", "--heads", "0.5", "--out", str(tmp_path)])
    assert "`--heads` does not apply to `int8` (it takes: --keep-fp32)" in str(result.exception or result.output)


def test_serve_opens_compressed_copies_beside_the_original(run, tmp_path):
    from fastapi.testclient import TestClient

    from ecomtune.deploy.serve import create_app
    from tests.serve.conftest import wait_ready

    onnx, int8 = compress(run, "onnx-int8", tmp_path / "o8"), compress(run, "int8", tmp_path / "i8")
    with TestClient(create_app([run, onnx, int8])) as client:
        wait_ready(client)
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["toy-onnx-int8"]["runtime"]["name"] == "onnx"
        assert models["toy-int8"]["runtime"]["name"] == "torch-int8"
        labels = {name: [p["label"] for p in client.post("/v1/classify", json={"model": name, "texts": TEXTS})
                         .json()["predictions"]] for name in models}
    assert labels["toy-onnx-int8"] == labels["toy"] == labels["toy-int8"]
