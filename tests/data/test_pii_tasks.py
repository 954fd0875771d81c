"""`data.pii` on the read path of every other task that trains on text: generation pairs, Q&A, search queries and
product texts, recommendation item and user texts, continued pre-training texts."""
from __future__ import annotations

import json

import pandas as pd

PHONE, EMAIL = "13912345678", "li.na@163.com"


def test_generate_masks_inputs_and_outputs_or_drops_the_pairs(tmp_path):
    from ecomtune.tasks.generate.data import load_splits
    from ecomtune.tasks.generate.recipe import GenerateData

    path = tmp_path / "pairs.jsonl"
    rows = [{"input": f"颜色#红色*编号#{i}", "output": f"好看的红裙子{i}" + (f"，咨询{PHONE}" if i % 4 == 0 else "")}
            for i in range(40)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    masked = load_splits(GenerateData(path=str(path), test=8))
    outputs = masked.train.outputs + masked.test.outputs
    assert not any(PHONE in t for t in outputs) and sum("[PHONE]" in t for t in outputs) == 10
    assert masked.info["pii"]["counts"]["phone"] == 10
    dropped = load_splits(GenerateData(path=str(path), test=8, pii="drop"))
    assert len(dropped.train) + len(dropped.test) == 30
    kept = load_splits(GenerateData(path=str(path), test=8, pii="keep"))
    assert sum(PHONE in t for t in kept.train.outputs + kept.test.outputs) == 10


def test_qa_masks_questions_and_answers(tmp_path):
    from ecomtune.tasks.qa.data import read_qa

    path = tmp_path / "qa.csv"
    pd.DataFrame({"asin": [f"p{i % 5}" for i in range(20)],
                  "question": [f"does it fit {i}?" + (f" mail me {EMAIL}" if i == 3 else "") for i in range(20)],
                  "answer": [f"yes {i}" + (f", call {PHONE}" if i == 7 else "") for i in range(20)],
                  "questionType": "open", "answerType": ""}).to_csv(path, index=False)
    frame, info = read_qa(path)
    assert frame.loc[3, "question"] == "does it fit 3? mail me [EMAIL]" and frame.loc[7, "answer"] == "yes 7, call [PHONE]"
    assert info["pii"]["rows"] == 2 and info["dropped"] == 0
    frame, info = read_qa(path, pii="drop")
    assert len(frame) == 18 and info["dropped"] == 2


def test_search_masks_queries_and_products_and_drops_only_queries(tmp_path):
    from ecomtune.tasks.search.data import load_search_data
    from ecomtune.tasks.search.recipe import SearchData

    judgments = tmp_path / "judgments.csv"
    queries = [f"red shoe {i}" for i in range(9)] + [f"shoe for {PHONE}"]
    pd.DataFrame({"query": queries, "product_id": "p1", "esci_label": "E"}).to_csv(judgments, index=False)
    products = tmp_path / "products.csv"
    pd.DataFrame({"product_id": ["p1", "p2"], "product_title": ["red shoe", f"seller {EMAIL}"]}).to_csv(products,
                                                                                                       index=False)
    cfg = {"format": "judgments", "judgments": str(judgments), "products": str(products), "test": 0.3}
    data = load_search_data(SearchData(**cfg))
    every_query = data.train.texts + data.test.texts
    assert data.texts == ["red shoe", "seller [EMAIL]"] and "shoe for [PHONE]" in every_query
    assert data.info["pii"]["counts"]["phone"] == 1 and data.info["pii"]["counts"]["email"] == 1
    dropped = load_search_data(SearchData(**cfg, pii="drop"))
    assert len(dropped.train) + len(dropped.test) == 9 and dropped.texts[1] == "seller [EMAIL]"


def test_recommend_masks_item_texts_and_leaves_out_profiles(tmp_path):
    from ecomtune.tasks.recommend.data import load_data
    from ecomtune.tasks.recommend.recipe import RecommendData

    seqs = tmp_path / "seqs.txt"
    seqs.write_text("\n".join(f"u{u} " + " ".join(f"i{(u + k) % 12}" for k in range(6)) for u in range(10)))
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [f"i{i}" for i in range(12)],
                  "title": [f"item {i}" + (f" call {PHONE}" if i == 2 else "") for i in range(12)]}).to_csv(
        items, index=False)
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": [f"u{u}" for u in range(10)],
                  "profile": [f"likes games {u}" + (f" {EMAIL}" if u == 4 else "") for u in range(10)]}).to_csv(
        users, index=False)
    cfg = {"interactions": str(seqs), "items": str(items), "item_text_column": "title", "users": str(users),
           "user_text_column": "profile"}
    data = load_data(RecommendData(**cfg), need_text=True)
    assert data.item_texts[data.item_ids.index("i2")] == "item 2 call [PHONE]"
    assert data.user_texts[data.user_ids.index("u4")] == "likes games 4 [EMAIL]"
    assert data.pii["rows"] == 2
    dropped = load_data(RecommendData(**cfg, pii="drop"), need_text=True)
    assert dropped.item_texts[dropped.item_ids.index("i2")] == "item 2 call [PHONE]"  # items stay: histories name them
    assert dropped.user_texts[dropped.user_ids.index("u4")] == ""


def test_pretrain_texts_are_masked_after_exclude_is_compared(tmp_path):
    from ecomtune.pretraining.config import PretrainConfig
    from ecomtune.pretraining.data import load_texts

    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["nice dress", f"call {PHONE}", f"mail {EMAIL}", "fits well"]}).to_csv(data, index=False)
    test = tmp_path / "test.csv"
    pd.DataFrame({"text": [f"mail {EMAIL}"]}).to_csv(test, index=False)
    cfg = PretrainConfig(backbone="minilm", data=[str(data)], text_column="text", out=str(tmp_path / "o"),
                         exclude=[str(test)], validation_rows=0)
    texts = load_texts(cfg)
    assert sorted(texts.train) == ["call [PHONE]", "fits well", "nice dress"]
    assert texts.stats["excluded"] == 1 and texts.stats["pii"]["counts"]["phone"] == 1
    dropped = load_texts(cfg.model_copy(update={"pii": "drop"}))
    assert sorted(dropped.train) == ["fits well", "nice dress"] and dropped.stats["pii_dropped"] == 1
