"""`ecomtune pretrain` on tiny models: MLM and CLM learn, the output is a recipe backbone, resume, bad input."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel

import ecomtune
from ecomtune.backbones import resolve_backbone
from ecomtune.errors import BackboneError, DataError, RecipeError, RunDirError
from ecomtune.pretraining import load_config
from ecomtune.pretraining.data import load_texts
from tests.cli.test_cli import ecomtune as ecomtune_cli
from tests.conftest import classify_recipe

FAST = {"batch_size": 16, "learning_rate": 2e-3, "max_length": 32, "validation_rows": 40, "precision": "fp32"}


def _pretrain(backbone, data, out, **options):
    return ecomtune.pretrain(backbone=backbone, data=[str(data)], text_column="review", out=str(out),
                             **{**FAST, **options})


def _manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_mlm_learns_and_a_recipe_fine_tunes_from_it(tiny_encoder, reviews_csv, tmp_path):
    out = _pretrain(tiny_encoder, reviews_csv, tmp_path / "pt", max_steps=24)
    m = _manifest(out)
    assert (m["kind"], m["objective"], m["steps"]) == ("pretrain", "mlm", 24)
    assert m["backbone"]["head_initialised"] is True  # the tiny BertModel, like minilm, ships no MLM head
    assert m["head_warmup_steps"] == 2  # 10% of 24
    assert m["head_learning_rate"] == 2e-3  # 10x the backbone's 2e-3 capped at 1e-3, never below the backbone's
    p = m["perplexity"]
    assert p["after"] < p["after_head_warmup"] and p["after"] < 0.8 * p["before"], p
    assert m["rows"] == {"train": 200, "validation": 40}
    assert m["cost"]["train_seconds"] > 0 and m["cost"]["peak_memory_mb"] > 0
    assert "perplexity" in (out / "README.md").read_text()

    # model/ is the backbone alone, in the original class: BERT keeps its (untrained) pooler, loses the MLM head
    backbone = AutoModel.from_pretrained(out / "model")
    original = AutoModel.from_pretrained(tiny_encoder)
    assert type(backbone).__name__ == "BertModel"
    saved = load_file(str(out / "model" / "model.safetensors"))
    assert not any(k.startswith("cls.") for k in saved)
    assert torch.equal(backbone.pooler.dense.weight, original.pooler.dense.weight)
    assert not torch.equal(backbone.encoder.layer[0].attention.self.query.weight,
                           original.encoder.layer[0].attention.self.query.weight)

    rb = resolve_backbone(str(out))
    assert (rb.name, rb.kind, rb.pooling, rb.path, rb.pretrained) == (
        tiny_encoder, "encoder", "mean", str(out / "model"), str(out))

    run = ecomtune.train(classify_recipe(reviews_csv, str(out), tmp_path, epochs=4)
                         | {"evaluation": {"baseline": False}})
    run_manifest = _manifest(run)
    assert run_manifest["backbone"]["name"] == tiny_encoder and run_manifest["backbone"]["pooling"] == "mean"
    assert run_manifest["recipe"]["model"]["backbone"] == str(out)
    assert run_manifest["metrics"]["test"]["accuracy"] >= 0.75


def test_clm_learns_on_a_decoder(tiny_decoder, reviews_csv, tmp_path):
    out = _pretrain(tiny_decoder, reviews_csv, tmp_path / "pt", max_steps=12, learning_rate=4e-3)
    m = _manifest(out)
    assert (m["objective"], m["head_warmup_steps"], m["backbone"]["head_initialised"]) == ("clm", 0, False)
    assert m["perplexity"]["after"] < 0.8 * m["perplexity"]["before"], m["perplexity"]
    assert type(AutoModel.from_pretrained(out / "model")).__name__ == "Gemma3TextModel"
    rb = resolve_backbone(str(out))
    assert (rb.kind, rb.pooling) == ("decoder", "last")


def test_masked_only_loss_equals_the_full_forward_loss(tiny_encoder, reviews_csv):
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    from ecomtune.pretraining.run import LMTexts, _mlm_head, load_lm, masked_loss

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    model, head_new = load_lm(tiny_encoder, "mlm")
    assert head_new and model.get_output_embeddings().weight is model.get_input_embeddings().weight
    texts = LMTexts(pd.read_csv(reviews_csv)["review"].tolist()[:16], tok, 32, "mlm")
    batch = DataCollatorForLanguageModeling(tok, seed=1)([texts[i] for i in range(16)])
    model.eval()
    with torch.no_grad():
        full = model(**batch).loss
        fast = masked_loss(model, _mlm_head(model), batch)
    assert fast.item() == pytest.approx(full.item(), rel=1e-5)


def test_a_new_head_trains_at_its_own_learning_rate(tiny_encoder, tmp_path):
    from transformers import TrainingArguments

    from ecomtune.pretraining.run import LMTrainer, load_lm

    model, _ = load_lm(tiny_encoder, "mlm")
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-4, weight_decay=0.01, use_cpu=True,
                             report_to="none")
    optimizer = LMTrainer(model=model, args=args, head_learning_rate=1e-3).create_optimizer()
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lr_of[id(model.cls.predictions.transform.dense.weight)] == 1e-3
    assert lr_of[id(model.cls.predictions.bias)] == 1e-3
    assert lr_of[id(model.bert.embeddings.word_embeddings.weight)] == 1e-4  # tied to the decoder: backbone rate
    assert len(lr_of) == len({id(p) for p in model.parameters()})


def test_interrupted_pretrain_resumes(tiny_encoder, reviews_csv, tmp_path, power_cut):
    options = {"max_steps": 8, "save_steps": 2, "head_warmup_steps": 3}
    power_cut(5)
    with pytest.raises(RuntimeError, match="power cut"):
        _pretrain(tiny_encoder, reviews_csv, tmp_path / "pt", **options)
    assert [p.name for p in (tmp_path / "pt" / "checkpoints").glob("checkpoint-*")] == ["checkpoint-4"]
    power_cut(None)

    with pytest.raises(BackboneError, match="unfinished `ecomtune pretrain`"):
        resolve_backbone(str(tmp_path / "pt"))
    with pytest.raises(RunDirError, match="already exists — pass --overwrite"):
        _pretrain(tiny_encoder, reviews_csv, tmp_path / "pt", **options)
    with pytest.raises(RunDirError, match="options changed .*learning_rate"):
        _pretrain(tiny_encoder, reviews_csv, tmp_path / "pt", resume=True, **options, learning_rate=1e-3)

    out = _pretrain(tiny_encoder, reviews_csv, tmp_path / "pt", resume=True, **options)
    m = _manifest(out)
    assert m["steps"] == 8
    assert m["perplexity"]["after_head_warmup"] is not None  # measured at step 3, before the crash, kept
    assert [h["step"] for h in m["history"] if "head_warmup_perplexity" in h] == [3]
    assert not (out / "checkpoints").exists()


def test_texts_are_deduplicated_cleaned_and_exclude_holds_out(tmp_path):
    pd.DataFrame({"title": ["Nice", "", "nice", "Bad", "x"],
                  "body": ["dress", "", "DRESS ", "fit", "test row"]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"title": ["Bad", "New"], "body": ["fit", "one"]}).to_json(tmp_path / "b.jsonl", orient="records",
                                                                             lines=True)
    pd.DataFrame({"title": ["x"], "body": ["test row"]}).to_csv(tmp_path / "test.csv", index=False)
    cfg = load_config(backbone="minilm", data=[str(tmp_path / "a.csv"), str(tmp_path / "b.jsonl")],
                      text_column=["title", "body"], out=str(tmp_path / "o"), exclude=[str(tmp_path / "test.csv")],
                      validation_rows=1)
    texts = load_texts(cfg)
    assert sorted(texts.train + texts.validation) == ["Bad fit", "New one", "Nice dress"]
    pii = texts.stats.pop("pii")
    assert texts.stats == {"rows_read": 7, "empty": 1, "repeated": 2, "excluded": 1, "texts": 3, "train": 2,
                           "validation": 1}
    assert (pii["policy"], pii["rows"], pii["scanned"]) == ("mask", 0, 7)


def test_bad_input_fails_up_front_with_the_fix(tiny_encoder, reviews_csv, tmp_path):
    with pytest.raises(DataError, match=r"reviews\.csv: missing text column 'body' — columns present: review, stars"):
        load_texts(load_config(backbone="minilm", data=[str(reviews_csv)], text_column="body", out="o"))
    with pytest.raises(DataError, match="missing text column 'body'"):
        ecomtune.pretrain(backbone=tiny_encoder, data=[str(reviews_csv)], text_column="body", out=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()  # nothing left behind that would need --overwrite
    with pytest.raises(DataError, match="--validation-rows 500 leaves no training text"):
        load_texts(load_config(backbone="minilm", data=[str(reviews_csv)], text_column="review", out="o",
                               validation_rows=500))
    with pytest.raises(RecipeError, match="unknown key `max_step` — did you mean `max_steps`"):
        load_config({"backbone": "minilm", "data": ["x.csv"], "text_column": "t", "out": "o", "max_step": 3})
    with pytest.raises(RecipeError, match=r"`mlm_probability` \(--mlm-probability\) must be less than 1"):
        load_config(backbone="minilm", data=["x.csv"], text_column="t", out="o", mlm_probability=1.5)
    with pytest.raises(RecipeError, match=r"`text_column` \(--text-column\) is required"):
        load_config(backbone="minilm", data=["x.csv"], out="o")
    with pytest.raises(RecipeError, match="--head-warmup-steps 5 is not below the 5 training steps"):
        _pretrain(tiny_encoder, reviews_csv, tmp_path / "pt", max_steps=5, head_warmup_steps=5)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({"kind": "classify", "format_version": 1}))
    with pytest.raises(BackboneError, match="run directory, not a backbone — point to its model/ folder"):
        resolve_backbone(str(tmp_path / "run"))


def test_cli_end_to_end_with_a_yaml_config(tiny_decoder, reviews_csv, tmp_path):
    cfg = tmp_path / "pt.yaml"
    cfg.write_text(f"backbone: {tiny_decoder}\ndata: [{reviews_csv.name}]\ntext_column: review\nout: pt\n"
                   "batch_size: 16\nmax_length: 32\nvalidation_rows: 20\nprecision: fp32\n")
    proc = ecomtune_cli("pretrain", cfg, "--max-steps", "3")  # options override the YAML; paths are relative to it
    assert "held-out perplexity" in proc.stderr and "model.backbone=" in proc.stderr
    assert _manifest(tmp_path / "pt")["steps"] == 3
    bad = ecomtune_cli("pretrain", "--backbone", tiny_decoder, "--data", reviews_csv, "-t", "body", "--out",
                       tmp_path / "x", check=False)
    assert bad.returncode == 2 and "missing text column 'body'" in bad.stderr and "review, stars" in bad.stderr
