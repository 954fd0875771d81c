"""The backbone registry and `resolve_backbone`: name, hub id or local dir -> something `from_pretrained` loads."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecomtune.backbones.spec import BackboneSpec, cache_dir
from ecomtune.errors import BackboneError
from ecomtune.registry import Registry

BACKBONES: Registry[BackboneSpec] = Registry("backbone")

POOLING = {"encoder": "mean", "decoder": "last"}
# model_type values of decoder-only families, for local dirs / hub configs without a CausalLM architecture
DECODER_MODEL_TYPES = {
    "gpt2", "gpt_neo", "gpt_neox", "gptj", "opt", "bloom", "falcon", "llama", "mistral", "mixtral",
    "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi", "phi3", "gemma", "gemma2", "gemma3", "gemma3_text",
    "olmo", "olmo2", "smollm3", "stablelm", "starcoder2", "cohere", "granite", "deepseek_v3",
}


@dataclass(frozen=True)
class ResolvedBackbone:
    name: str  # registry name, or the hub id / path as given
    path: str  # what to pass to from_pretrained (local dir for packaged/local, hub id otherwise)
    kind: str  # "encoder" | "decoder"
    pooling: str  # default pooling
    spec: BackboneSpec | None
    pretrained: str | None = None  # the `ecomtune pretrain` dir this came from (name/kind/pooling are its original's)


def kind_from_config(config: dict[str, Any]) -> str:
    """"decoder" for causal-LM / generation architectures or known decoder families, else "encoder"."""
    archs = config.get("architectures") or []
    if any("CausalLM" in a or "ForConditionalGeneration" in a for a in archs):
        return "decoder"
    return "decoder" if config.get("model_type") in DECODER_MODEL_TYPES else "encoder"


def resolve_backbone(name_or_path: str, cache_dir: Path | None = None) -> ResolvedBackbone:
    """Resolve a registered name, a local HF model dir or a hub id. Raises a one-line `BackboneError`."""
    if name_or_path in BACKBONES:
        spec = BACKBONES.get(name_or_path)
        path = spec.local_path(cache_dir)
        return ResolvedBackbone(spec.name, str(path), spec.kind, spec.pooling, spec)

    local = Path(name_or_path).expanduser()
    if local.is_dir() and ((local / "manifest.json").is_file() or (local / "pretrain.yaml").is_file()):
        return _pretrained(local, name_or_path)
    if local.is_dir():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise BackboneError(
                f"backbone directory '{name_or_path}' has no config.json — point to a Hugging Face model "
                "directory (what save_pretrained writes)"
            )
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BackboneError(f"backbone directory '{name_or_path}': cannot read config.json ({e})") from None
        kind = kind_from_config(config)
        return ResolvedBackbone(name_or_path, str(local), kind, POOLING[kind], None)

    not_found = (
        f"backbone '{name_or_path}' is not a registered name ({', '.join(BACKBONES.names())}), "
        "not a local directory, and could not be fetched from the Hugging Face hub (offline?) "
        "— use a registered name or a local path"
    )
    if name_or_path.startswith(("/", "./", "../", "~")) or name_or_path.endswith("/"):
        raise BackboneError(not_found)  # clearly meant as a path: don't ask the hub
    config = _hub_config(name_or_path)
    if config is None:
        raise BackboneError(not_found)
    kind = kind_from_config(config)
    return ResolvedBackbone(name_or_path, name_or_path, kind, POOLING[kind], None)


def _pretrained(local: Path, given: str) -> ResolvedBackbone:
    """An `ecomtune pretrain` output dir: its model/ folder, with the original backbone's name, kind and pooling."""
    manifest_file = local / "manifest.json"
    if not manifest_file.is_file():
        raise BackboneError(f"backbone directory '{given}' is an unfinished `ecomtune pretrain` run (no manifest.json) "
                            "— finish it with `ecomtune pretrain ... --resume`")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BackboneError(f"backbone directory '{given}': cannot read manifest.json ({e})") from None
    if manifest.get("kind") != "pretrain":
        raise BackboneError(f"backbone directory '{given}' is an ecomtune run directory, not a backbone — point to "
                            "its model/ folder, or to an `ecomtune pretrain` output")
    from ecomtune.rundir import inside

    model_dir = inside(local, manifest.get("model_dir", "model"))
    if not (model_dir / "config.json").is_file():
        raise BackboneError(f"backbone directory '{given}': {model_dir} has no config.json — rerun `ecomtune pretrain`")
    original = manifest["backbone"]
    spec = BACKBONES.get(original["name"]) if original["name"] in BACKBONES else None
    return ResolvedBackbone(original["name"], str(model_dir), original["kind"], original["pooling"], spec, given)


def _hub_config(hub_id: str) -> dict[str, Any] | None:
    """The hub model's config as a dict (from the local HF cache first), or None when unreachable."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(hub_id, local_files_only=True).to_dict()
    except Exception:
        pass
    if not _hub_reachable():
        return None  # fail fast instead of waiting through huggingface_hub's retries
    try:
        return AutoConfig.from_pretrained(hub_id).to_dict()
    except Exception:
        return None


def _hub_reachable(timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def list_backbones() -> list[dict]:
    """One dict per registered backbone, for `ecomtune models`."""
    rows = []
    for name, spec in BACKBONES.items():
        installed = spec.is_installed()
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "languages": list(spec.languages),
                "kind": spec.kind,
                "instruct": spec.instruct,
                "pooling": spec.pooling,
                "params_m": spec.params_m,
                "size_mb": spec.size_mb() if installed else None,
                "installed": installed,
                "install": spec.install_command,
                "package": spec.package,
                "hf_id": spec.hf_id,
            }
        )
    return rows


__all__ = ["BACKBONES", "ResolvedBackbone", "cache_dir", "kind_from_config", "list_backbones", "resolve_backbone"]
