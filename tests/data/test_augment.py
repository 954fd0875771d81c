"""Text augmentation: every op edits deterministically, `fraction` sets the count, only training rows grow."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

import ecomtune
from ecomtune.data.augment import (
    OPS,
    AugmentContext,
    augment_split,
    augment_text,
    default_ops,
    embedding_synonyms,
    is_cjk,
)
from ecomtune.data.prepare import Split
from ecomtune.errors import RecipeError
from ecomtune.recipes import load_recipe
from ecomtune.recipes.schema import AugmentConfig
from tests.conftest import classify_recipe

EN = "The dress is great, the fabric feels soft and the color is lovely"
ZH = "衣服质量很好，物流也快，穿着很舒服，颜色好看"
TABLE = {"great": ["excellent", "superb"], "fabric": ["cloth"], "质量": ["品质"], "舒服": ["舒适"]}


def ctx(seed: int = 0, synonyms=TABLE) -> AugmentContext:
    return AugmentContext(random.Random(seed), 0.2, dict(synonyms))


@pytest.mark.parametrize("text", [EN, ZH])
@pytest.mark.parametrize("op", sorted(OPS.names()))
def test_every_op_changes_text_deterministically(op, text):
    edit = OPS.get(op)
    first, again, other = edit(text, ctx(0)), edit(text, ctx(0)), edit(text, ctx(1))
    assert first != text
    assert first == again
    assert other != first or op == "synonym"  # a two-entry table can draw the same edit under two seeds


def test_ops_work_per_word_in_english_and_per_character_in_chinese():
    assert not is_cjk(EN) and is_cjk(ZH) and is_cjk("衣服很好 nice")
    deleted = OPS.get("delete")(EN, ctx())
    assert len(deleted.split()) == len(EN.split()) - round(0.2 * len(EN.split()))
    assert set(deleted.split()) <= set(EN.split())
    swapped = OPS.get("swap")(ZH, ctx())
    assert sorted(swapped) == sorted(ZH)  # same characters, new order
    synonym = OPS.get("synonym")(EN, ctx())
    assert "excellent," in synonym or "superb," in synonym or "cloth" in synonym
    assert OPS.get("synonym")(ZH, ctx()) in {ZH.replace("质量", "品质"), ZH.replace("舒服", "舒适"),
                                             ZH.replace("质量", "品质").replace("舒服", "舒适")}
    assert OPS.get("synonym")(EN, ctx(synonyms={})) == EN  # nothing to look up: no edit


def test_char_noise_uses_similar_characters():
    noisy = [OPS.get("char_noise")("的的的的的的的的的的", ctx(seed)) for seed in range(20)]
    assert any(set(t) & set("地得") for t in noisy)
    assert all(set(t) <= set("的地得") for t in noisy)


def test_default_ops_per_language():
    assert default_ops("en") == ["delete", "swap", "insert", "synonym"]
    assert default_ops("zh") == ["delete", "swap", "char_noise", "synonym"]


def split_of(n: int) -> Split:
    texts = [f"review number {i} says the dress is great" for i in range(n)]
    raw = [("pos",) if i % 3 else ("neg",) for i in range(n)]
    return Split("train", texts, raw, list(range(1, n + 1)), ["f.csv"] * n,
                 labels=np.array([[1] if r == ("pos",) else [0] for r in raw]))


@pytest.mark.parametrize("fraction, added", [(0.5, 30), (1.0, 60), (2.5, 150)])
def test_fraction_sets_the_number_of_copies(fraction, added):
    split = split_of(60)
    out, stats = augment_split(split, AugmentConfig(fraction=fraction, seed=3), "en", TABLE)
    assert stats["rows_added"] == added == len(out) - len(split)
    assert out.texts[:60] == split.texts  # originals first, untouched
    for i in range(60, len(out)):  # each copy keeps its source row's label
        source = out.rows[i] - 1
        assert out.raw_labels[i] == split.raw_labels[source]
        assert out.labels[i, 0] == split.labels[source, 0]
        assert out.texts[i] != split.texts[source]
    again, _ = augment_split(split, AugmentConfig(fraction=fraction, seed=3), "en", TABLE)
    other, _ = augment_split(split, AugmentConfig(fraction=fraction, seed=4), "en", TABLE)
    assert again.texts == out.texts and other.texts != out.texts


def test_text_that_cannot_change_is_not_copied():
    assert augment_text("x", ["delete", "swap", "synonym"], ctx()) is None
    split = Split("train", ["x", "a b c d"], [("a",), ("b",)], [1, 2], ["f"] * 2, labels=np.array([[0], [1]]))
    out, stats = augment_split(split, AugmentConfig(fraction=1.0, ops=["delete"]), "en")
    assert stats == {"rows_added": 1, "unchanged": 1, "ops": ["delete"], "synonym_words": 0}
    assert out.raw_labels[-1] == ("b",)


def test_embedding_neighbours_are_whole_words_from_the_embedding_matrix(tiny_encoder):
    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    vocab = tok.get_vocab()
    torch.manual_seed(0)
    emb = torch.randn(len(tok), 16)
    emb[vocab["excellent"]] = emb[vocab["great"]] + 0.01 * torch.randn(16)  # the nearest neighbour by construction
    emb[vocab["perfect"]] = emb[vocab["great"]] * 2.0  # cosine 1: scale does not matter
    table = embedding_synonyms(["the dress is great"], tok, emb, top_k=3, min_similarity=-1.0)
    assert set(table) == {"dress", "great"}  # `the`, `is` are function words; only words in the texts are keys
    assert table["great"][:2] == ["perfect", "excellent"]
    assert all(not w.startswith("##") and w not in ("[PAD]", "[CLS]") for ws in table.values() for w in ws)
    assert embedding_synonyms(["the dress is great"], tok, emb, min_similarity=0.99) == {
        "great": ["perfect", "excellent"]}


def test_training_rows_are_augmented_and_held_out_rows_are_not(reviews_csv, tiny_encoder, tmp_path):
    raw = classify_recipe(reviews_csv, tiny_encoder, tmp_path, epochs=1)
    raw["data"]["augment"] = {"fraction": 1.0, "seed": 1}
    plain = classify_recipe(reviews_csv, tiny_encoder, tmp_path / "plain", epochs=1)
    manifest = json.loads((ecomtune.train(raw) / "manifest.json").read_text())
    base = json.loads((ecomtune.train(plain) / "manifest.json").read_text())
    notes = [n for n in manifest["data"]["notes"] if n.startswith("augmentation:")]
    n_train = manifest["data"]["rows"]["train"]
    assert notes and notes[0].startswith(f"augmentation: {n_train} edited copies")
    assert manifest["data"]["rows"] == base["data"]["rows"]  # validation/test untouched, train counted unaugmented
    assert manifest["data"]["sha256"] == base["data"]["sha256"]
    assert manifest["cost"]["steps"] == -(-2 * n_train // 16)  # twice the rows, batch 16, one epoch
    assert base["cost"]["steps"] == -(-n_train // 16)


def test_augment_and_distill_do_not_combine(tmp_path):
    raw = classify_recipe(tmp_path / "x.csv", "minilm", tmp_path)
    raw["data"]["augment"] = {"fraction": 1.0}
    raw["training"]["distill"] = {"teacher": str(tmp_path)}
    with pytest.raises(RecipeError, match="`data.augment` and `training.distill` do not combine"):
        load_recipe(raw)
