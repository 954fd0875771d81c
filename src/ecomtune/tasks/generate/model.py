"""The language model of a generation run: a causal LM (plus its peft adapter) that turns inputs into texts.

`LanguageModel.generate` decodes many prompts at once (left-padded, sorted by length, the KV cache on: the
2-core CPU is bound by reading the weights, so a batch of 8 streams costs little more than one); `stream`
yields the text of one prompt as it is decoded (server-sent events). Decoding settings come from the recipe's
`generation` section and can be overridden per call.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import torch

from ecomtune.errors import EcomtuneError
from ecomtune.tasks.generate.data import PromptFormat
from ecomtune.tasks.generate.recipe import GenerateModel, GenerationSettings


def load_causal_lm(path: str | Path, device: torch.device, adapter_dir: str | Path | None = None,
                   int8: bool = False):
    """(model, tokenizer) in float32 on `device`; with `adapter_dir`, the peft adapter saved there on top; `int8`:
    Linear layers quantized to int8 (dynamic, CPU; `ecomtune compress --method int8` runs)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir or path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
    if int8:  # the text classifiers' int8 runtime: per-output-channel scales, every Linear (lm_head too)
        from ecomtune.tasks.text.runtimes.int8 import quantize_backbone

        model = quantize_backbone(model.eval())
    return model.to(device).eval(), tokenizer


def load_run_lm(run_dir: Path, manifest: dict, device: torch.device) -> LanguageModel:
    """The LanguageModel a generate or qa run saved: its adapter on its base backbone, or its whole (merged, maybe
    int8) model, with the run's prompt format and decoding settings."""
    from ecomtune.backbones import resolve_backbone
    from ecomtune.methods.adapters import has_adapter

    model_dir = Path(run_dir) / manifest["model"]["dir"]
    if has_adapter(model_dir):
        model, tokenizer = load_causal_lm(resolve_backbone(manifest["backbone"]["name"]).path, device, model_dir)
    else:
        model, tokenizer = load_causal_lm(model_dir, device,
                                          int8=(manifest.get("runtime") or {}).get("name") == "torch-int8")
    cfg = GenerateModel.model_validate({k: v for k, v in manifest["model"].items() if k in GenerateModel.model_fields})
    return LanguageModel(model, tokenizer, cfg, GenerationSettings.model_validate(manifest["generation"]), device)


def stop_ids(model, tokenizer) -> list[int]:
    """Every token that ends an answer: the tokenizer's eos and the model's own (chat models have several)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def generation_config(settings: GenerationSettings, model, tokenizer):
    from transformers import GenerationConfig

    kw = {"max_new_tokens": settings.max_new_tokens, "repetition_penalty": settings.repetition_penalty,
          "pad_token_id": tokenizer.pad_token_id, "eos_token_id": stop_ids(model, tokenizer)}
    if settings.strategy == "sample":
        kw.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
    else:
        kw.update(do_sample=False, num_beams=settings.num_beams if settings.strategy == "beam" else 1)
    return GenerationConfig(**kw)


class LanguageModel:
    """A causal LM with its prompt format and default decoding settings."""

    def __init__(self, model, tokenizer, model_cfg: GenerateModel, settings: GenerationSettings, device):
        self.model, self.tokenizer, self.settings, self.device = model, tokenizer, settings, torch.device(device)
        self.format = PromptFormat(tokenizer, model_cfg)
        self.model_cfg = model_cfg
        self._lock = threading.Lock()  # one decode at a time per model (the service's worker threads share it)

    def with_settings(self, overrides: dict | None) -> GenerationSettings:
        """The recipe's settings with a request's overrides, validated (a bad value is a one-line error)."""
        if not overrides:
            return self.settings
        return GenerationSettings.model_validate({**self.settings.model_dump(), **overrides})

    def prompt_ids(self, sources: list[str]) -> list[list[int]]:
        return [self.format.ids(s) for s in sources]

    @torch.no_grad()
    def generate(self, sources: list[str], settings: GenerationSettings | None = None, batch_size: int = 8,
                 progress=None) -> list[str]:
        """One text per input, decoded in length-sorted batches of `batch_size`; `progress(n)` after each."""
        settings = settings or self.settings
        ids = self.prompt_ids(sources)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[str] = [""] * len(ids)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            for row, text in zip(rows, self._decode([ids[r] for r in rows], settings)):
                out[row] = text
            if progress is not None:
                progress(len(rows))
        return out

    def _decode(self, prompts: list[list[int]], settings: GenerationSettings) -> list[str]:
        batch = self._left_padded(prompts)
        with self._lock:
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            generated = self.model.generate(**batch, generation_config=generation_config(settings, self.model,
                                                                                          self.tokenizer))
        new = generated[:, batch["input_ids"].shape[1]:]
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]

    def _left_padded(self, prompts: list[list[int]]) -> dict:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def stream(self, source: str, settings: GenerationSettings | None = None) -> Iterator[str]:
        """The text of one input piece by piece as it is decoded (greedy or sampling; beam search has no order
        of pieces, so it yields the whole text once)."""
        settings = settings or self.settings
        if settings.strategy == "beam":
            yield from self.generate([source], settings)
            return
        streamer = _token_streamer(self.tokenizer)
        batch = self._left_padded(self.prompt_ids([source]))
        config = generation_config(settings, self.model, self.tokenizer)
        errors: list[BaseException] = []

        def run():
            try:
                with self._lock, torch.no_grad():
                    if settings.seed is not None:
                        torch.manual_seed(settings.seed)
                    self.model.generate(**batch, generation_config=config, streamer=streamer)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from (piece for piece in streamer if piece)
        worker.join()
        if errors:
            raise EcomtuneError(f"generation failed: {errors[0]}") from errors[0]


def _token_streamer(tokenizer):
    """A TextIteratorStreamer that sends every new token's text at once (transformers' waits for a space or a CJK
    character, which holds Latin words and digits back: seconds of silence on a CPU), except an incomplete UTF-8
    character, which waits for its next byte."""
    from transformers import TextIteratorStreamer

    class TokenStreamer(TextIteratorStreamer):
        def put(self, value):
            if value.dim() > 1:
                value = value[0]
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.token_cache.extend(value.tolist())
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            if text.endswith("\ufffd") or len(text) <= self.print_len:
                return
            self.on_finalized_text(text[self.print_len:])
            self.print_len = len(text)

    return TokenStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
