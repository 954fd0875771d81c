"""`ecomtune pretrain` on the packaged real models, a few steps on the bundled review sample."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

import ecomtune
from ecomtune.backbones import BACKBONES, resolve_backbone

pytestmark = pytest.mark.integration
SAMPLE = "ecomtune:data/demo/womens_clothing_reviews_sample.csv.gz"


def needs(name: str):
    if not BACKBONES.get(name).is_installed():
        pytest.skip(f"{name} is not installed: {BACKBONES.get(name).install_command}")


def test_minilm_masked_lm_gets_a_new_tied_head_and_saves_a_plain_bert(tmp_path):
    needs("minilm")
    out = ecomtune.pretrain(backbone="minilm", data=[SAMPLE], text_column=["Title", "Review Text"],
                            out=str(tmp_path / "pt"), max_rows=300, validation_rows=50, max_steps=8, batch_size=16,
                            max_length=64, learning_rate=1e-4)
    m = json.loads((out / "manifest.json").read_text())
    assert m["objective"] == "mlm" and m["backbone"]["head_initialised"] is True
    assert m["perplexity"]["after"] < m["perplexity"]["before"]
    original = AutoModel.from_pretrained(resolve_backbone("minilm").path)
    adapted = AutoModel.from_pretrained(out / "model")
    assert torch.equal(adapted.pooler.dense.weight, original.pooler.dense.weight)  # kept, not re-initialised
    assert not torch.equal(adapted.encoder.layer[-1].output.dense.weight, original.encoder.layer[-1].output.dense.weight)
    assert (resolve_backbone(str(out)).name, resolve_backbone(str(out)).pooling) == ("minilm", "mean")


def test_gemma_causal_lm_two_steps(tmp_path):
    needs("gemma3-270m")
    out = ecomtune.pretrain(backbone="gemma3-270m", data=[SAMPLE], text_column="Review Text",
                            out=str(tmp_path / "pt"), max_rows=40, validation_rows=8, max_steps=2, batch_size=4,
                            max_length=32, save_steps=100)
    m = json.loads((out / "manifest.json").read_text())
    assert m["objective"] == "clm" and m["backbone"]["head_initialised"] is False
    assert 1 < m["perplexity"]["before"] < 1e4 and m["perplexity"]["after"] > 1
    assert type(AutoModel.from_pretrained(out / "model")).__name__ == "Gemma3TextModel"
    assert (resolve_backbone(str(out)).kind, resolve_backbone(str(out)).pooling) == ("decoder", "last")
