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
        from rich.progress import track

        from ecomtune.console import console

        work = track(work, total=-(-len(texts) // batch_size), description="embedding item texts",
                     console=console, transient=True)
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
