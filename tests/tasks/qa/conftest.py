"""Q&A fixtures: a synthetic product Q&A table (yes/no answers a tiny model can learn from one word) and the real
Amazon Appliances Q&A file, when ../shared/data holds it."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

AMAZON_QA = Path("amazon_qa_appliances") / "qa_Appliances.jsonl.gz"
PARTS = ["filter", "valve", "hose", "knob", "gasket", "timer", "motor", "belt"]


def toy_qa(products: int = 20, seed: int = 0) -> pd.DataFrame:
    """`products` products with 6 rows each, in the Amazon columns: 4 yes/no questions ("does the <part> fit?",
    answered yes when the part is one the product takes, labelled Y/N) and 2 open ones."""
    rng = random.Random(seed)
    rows = []
    for p in range(products):
        takes = set(rng.sample(PARTS, 4))
        for j, part in enumerate(rng.sample(PARTS, 4)):
            yes = part in takes
            rows.append({"asin": f"P{p:03d}", "question": f"does the {part} fit model m{p}?",
                         "answer": f"yes the {part} fits" if yes else f"no the {part} does not fit",
                         "questionType": "yes/no", "answerType": "Y" if yes else "N", "unixTime": 1400000000 + j})
        rows.append({"asin": f"P{p:03d}", "question": "how wide is it?", "answer": f"{20 + p} inches wide",
                     "questionType": "open-ended", "answerType": "", "unixTime": 1400000100})
        rows.append({"asin": f"P{p:03d}", "question": "what color is the door?", "answer": "white with a steel door",
                     "questionType": "open-ended", "answerType": "", "unixTime": 1400000200})
    return pd.DataFrame(rows)


def write_jsonl(frame: pd.DataFrame, path: Path) -> Path:
    """JSON Lines as the Amazon file has them: no `answerType` key on open-ended rows."""
    with open(path, "w", encoding="utf-8") as fh:
        for record in frame.to_dict("records"):
            if not record.get("answerType"):
                record.pop("answerType", None)
            fh.write(json.dumps(record) + "\n")
    return path


@pytest.fixture
def qa_csv(tmp_path) -> Path:
    path = tmp_path / "qa.csv"
    toy_qa().to_csv(path, index=False)
    return path


@pytest.fixture
def qa_jsonl(tmp_path) -> Path:
    return write_jsonl(toy_qa(), tmp_path / "qa.jsonl")


@pytest.fixture
def amazon_qa(shared_data) -> Path:
    path = shared_data / AMAZON_QA
    if not path.is_file():
        pytest.skip(f"{path} is absent: the Amazon Q&A file lives in ../shared/data beside the repository, not in a "
                    "clone")
    return path


@pytest.fixture(scope="session")
def tiny_pair_encoder(tmp_path_factory) -> str:
    """A 2-layer, 32-dim random BERT whose WordPiece tokenizer (trained on the toy Q&A) encodes sentence pairs."""
    import torch
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    frame = toy_qa()
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(frame["question"].tolist() + frame["answer"].tolist(), trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-pair-bert")
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny models here run faster on one thread; on a busy 2-core machine two threads were 5x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
