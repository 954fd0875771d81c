"""Shared fixtures: tiny random-initialised models built here (no download), toy data, the shared data folder."""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

os.environ["ECOMTUNE_QUIET"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

POS_EN = ["great", "love", "perfect", "beautiful", "comfortable", "excellent"]
NEG_EN = ["terrible", "awful", "cheap", "broken", "ugly", "returned"]
POS_ZH = ["很好", "喜欢", "满意", "舒服", "漂亮"]
NEG_ZH = ["很差", "失望", "退货", "难看", "破了"]
FILLER = ["the", "dress", "fits", "and", "color", "is", "shirt", "this", "was", "size"]


def toy_reviews(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Sentiment that a tiny model can learn: each review carries one clearly positive or negative word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        if i % 3 == 0:
            word = rng.choice(POS_ZH if positive else NEG_ZH)
            text = f"衣服{word}，{rng.choice(['物流快', '包装好', '价格'])}{i}"
        else:
            word = rng.choice(POS_EN if positive else NEG_EN)
            text = " ".join(rng.sample(FILLER, 4) + [word] + rng.sample(FILLER, 2)) + f" {i}"
        rows.append({"review": text, "stars": 5 if positive else 1, "sku": f"p{i % 40}"})
    return pd.DataFrame(rows)


TAXONOMY = [("Apparel", "Topwear", "Shirts"), ("Apparel", "Topwear", "Tshirts"), ("Apparel", "Bottomwear", "Jeans"),
            ("Footwear", "Shoes", "Sneakers"), ("Footwear", "Sandal", "Flip Flops")]


def toy_products(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        path = TAXONOMY[i % len(TAXONOMY)]
        title = f"{rng.choice(['Nike', 'Puma', 'Levis', 'Zara'])} {rng.choice(['Men', 'Women'])} {path[2]} {i}"
        rows.append({"title": title, "path": " > ".join(path), "l1": path[0], "l2": path[1], "l3": path[2]})
    return pd.DataFrame(rows)


def _tokenizer(corpus: list[str]):
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def _corpus() -> list[str]:
    return toy_reviews(400)["review"].tolist() + toy_products(200)["title"].tolist()


def _save_tiny(tmp_path_factory, name: str, build) -> str:
    """Seeded random weights from `build(tokenizer)`, saved with a toy-trained tokenizer in a temp folder."""
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp(name)
    tok = _tokenizer(_corpus())
    build(tok).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """A 2-layer, 32-dim BERT with a WordPiece vocabulary trained on the toy data."""
    from transformers import BertConfig, BertModel

    return _save_tiny(tmp_path_factory, "tiny-bert", lambda tok: BertModel(BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128)))


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> str:
    """A 2-layer Gemma-3-architecture causal LM (same family as the packaged gemma3-270m), random weights."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    return _save_tiny(tmp_path_factory, "tiny-gemma", lambda tok: Gemma3ForCausalLM(Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
        sliding_window=16)))


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    toy_reviews().to_csv(path, index=False)
    return path


@pytest.fixture
def products_csv(tmp_path) -> Path:
    path = tmp_path / "products.csv"
    toy_products().to_csv(path, index=False)
    return path


def classify_recipe(train: Path, backbone: str, tmp_path: Path, **training) -> dict:
    """A small, fast recipe dict for the toy reviews."""
    return {
        "name": "toy",
        "task": "classify",
        "data": {"train": str(train), "text_column": "review", "label_column": "stars",
                 "label_map": {"1": "negative", "5": "positive"}, "split": {"test": 0.25, "validation": 0.25}},
        "model": {"backbone": backbone, "max_length": 32},
        "training": {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3, "precision": "fp32", **training},
        "evaluation": {"baseline": True},
        "output": {"dir": str(tmp_path / "run")},
    }


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent: the real data sets live beside the repository in CI, not in a clone")
    return SHARED_DATA


@pytest.fixture
def power_cut(monkeypatch):
    """`power_cut(5)`: the next training run dies at optimizer step 5, after saving its checkpoints;
    `power_cut(None)` restores normal training (to resume)."""
    from ecomtune.training import callbacks

    original = callbacks.RichProgress.on_step_end

    def arm(step: int | None) -> None:
        if step is None:
            monkeypatch.setattr(callbacks.RichProgress, "on_step_end", original)
            return

        def crash(self, args, state, control, **kw):
            if state.global_step == step:
                raise RuntimeError("simulated power cut")
            return original(self, args, state, control, **kw)

        monkeypatch.setattr(callbacks.RichProgress, "on_step_end", crash)

    return arm


@pytest.fixture(scope="session")
def tiny_run(tiny_encoder, tmp_path_factory) -> Path:
    """A finished classify run on the toy reviews (tiny encoder, 1 epoch): copy it before changing it."""
    import ecomtune

    tmp = tmp_path_factory.mktemp("tiny-run")
    toy_reviews().to_csv(tmp / "reviews.csv", index=False)
    recipe = classify_recipe(tmp / "reviews.csv", tiny_encoder, tmp, epochs=1)
    recipe["evaluation"] = {"baseline": False}
    return ecomtune.train(recipe)


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="session")
def tiny_chat_lm(tmp_path_factory) -> str:
    """A 2-layer Qwen2-architecture chat LM, random weights: byte-level BPE trained on toy Chinese copy and English
    reviews, ChatML template, eos `<|im_end|>` (like the packaged Qwen2.5 and SmolLM2)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-chat-lm")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    from tests.tasks.generate.conftest import toy_pairs

    corpus = [r["content"] + " " + r["summary"] for r in toy_pairs(200)] + ["user assistant system hello world"]
    corpus += toy_reviews(100)["review"].tolist() + ["does the filter fit? yes it fits, inches wide, white door"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=256, pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id, tie_word_embeddings=True))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)


CHROMIUM = next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
NO_BROWSER = "no chromium + chromedriver on PATH (Debian: apt-get install chromium chromium-driver; " \
             "scripts/setup.sh does it as root)"


def headless_chromium(tmp_path_factory, browser_log: bool = False):
    """A headless Chromium driven by Selenium (the browser tests of /guide and the console): Debian's executable,
    its own profile folder, 1280x900; `browser_log` keeps the page's console messages for `get_log("browser")`."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    if browser_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver
