"""Item text -> embeddings with a pretrained text encoder (the same backbones as classification).

Used to initialise or tie item embeddings (sasrec), as the frozen item tower (two_tower), and to embed items
added after training. Texts are sorted by token length before batching (less padding); vectors are L2-normalised.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from ecomtune.backbones.encode import length_sorted_batches, pool


def load_encoder(name_or_path: str):
    """(tokenizer, model, pooling) of a registered backbone, hub name or local HF dir."""
    from ecomtune.backbones import resolve_backbone

    resolved = resolve_backbone(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = AutoModel.from_pretrained(resolved.path, dtype=torch.float32).eval()
    return tokenizer, model, resolved.pooling


def embed(model, ids: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    return torch.nn.functional.normalize(pool(hidden, mask, pooling).float(), dim=-1)


@torch.no_grad()  # not inference_mode: the result becomes a buffer that training reads with autograd on
def encode_texts(tokenizer, model, pooling: str, texts: list[str], max_length: int = 32, batch_size: int = 128,
                 device: torch.device | str = "cpu", progress: bool = False) -> torch.Tensor:
    """[len(texts), dim] normalised text embeddings, in input order."""
    device = torch.device(device)
    model = model.to(device)
    dim = model.config.get_text_config().hidden_size
    out = torch.zeros((len(texts), dim))
    work = length_sorted_batches(tokenizer, texts, max_length, batch_size)
    if progress:
        from ecomtune.console import track

        work = track(work, -(-len(texts) // batch_size), "embedding item texts")
    for idx, ids, mask in work:
        out[torch.as_tensor(idx)] = embed(model, ids.to(device), mask.to(device), pooling).cpu()
    return out


def encode_profiles(tokenizer, model, pooling: str, texts: list[str | None], max_length: int = 32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Like `encode_texts`, but empty / missing texts give zero rows (a user without a profile)."""
    present = [i for i, t in enumerate(texts) if t and str(t).strip()]
    out = torch.zeros((len(texts), model.config.get_text_config().hidden_size))
    if present:
        out[present] = encode_texts(tokenizer, model, pooling, [str(texts[i]) for i in present], max_length,
                                    device=device)
    return out


def save_encoder(tokenizer, model, pooling: str, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    (target / "pooling.txt").write_text(pooling, encoding="utf-8")


def load_saved_encoder(target: Path):
    tokenizer = AutoTokenizer.from_pretrained(target)
    model = AutoModel.from_pretrained(target, dtype=torch.float32).eval()
    return tokenizer, model, (target / "pooling.txt").read_text(encoding="utf-8").strip()


def precomputed(path: str, item_ids: list[str], encoder) -> torch.Tensor:
    """[len(item_ids), dim] item vectors read from a vectors file (`ecomtune embed`), in the recipe's item order;
    row 0 (padding) is the encoder's vector of the empty text, as `encode_texts` gives it."""
    from ecomtune.data.vectors import read_vectors
    from ecomtune.errors import DataError

    ids, vectors = read_vectors(path, None)
    row = {str(i): n for n, i in enumerate(ids)}
    missing = [i for i in item_ids[1:] if i not in row]
    if missing:
        raise DataError(f"{path}: no vector for item {missing[0]!r} ({len(missing)} of {len(item_ids) - 1} items) — "
                        "embed the whole `data.items` table with `ecomtune embed`")
    dim = encoder[1].config.get_text_config().hidden_size
    if vectors.shape[1] != dim:
        raise DataError(f"{path}: vectors have {vectors.shape[1]} dimensions, `model.text_encoder` gives {dim} — "
                        "embed with the recipe's text encoder")
    pad = encode_texts(*encoder, [""])
    return torch.cat([pad, torch.as_tensor(vectors[[row[i] for i in item_ids[1:]]])])

