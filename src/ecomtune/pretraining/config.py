"""`PretrainConfig`: what `ecomtune pretrain` reads — from command-line options or a small YAML file.

    backbone: minilm                       # a registered backbone, a local model dir, a hub id, or a pretrain dir
    data: [reviews.csv.gz, more.jsonl]     # any tables the data readers read
    text_column: [Title, Review Text]      # one column, or several joined with a space
    out: pretrained/minilm-reviews
    max_steps: 500
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecomtune.errors import RecipeError


class PretrainConfig(BaseModel):
    """Continued pre-training: masked-LM for encoders, causal-LM for decoders, on unlabeled text."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    backbone: str = Field(description="a registered backbone (`minilm`, `gemma3-270m`), a local model dir or hub id")
    data: list[str] = Field(min_length=1, description="tables of unlabeled text, e.g. `[reviews.csv]`")
    text_column: str | list[str] = Field(
        description="column holding the text, or a list of columns joined with a space, e.g. `[Title, Review Text]`"
    )
    out: str = Field(description="output directory, e.g. `pretrained/minilm-reviews`")
    pii: Literal["mask", "drop", "keep"] = Field(
        "mask", description="personal data in the texts (phones, e-mails, CN ID and bank-card numbers, addresses): "
        "`mask`, `drop` (leave out the texts) or `keep`; docs/privacy.md")
    exclude: list[str] = Field(
        default_factory=list,
        description="tables whose texts must never be trained on (e.g. your test set; same text column), or `[]`",
    )
    epochs: float = Field(1.0, gt=0, description="passes over the texts, e.g. `1`")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(32, ge=1, description="texts per step, e.g. `32`")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="peak learning rate, e.g. `5e-5`")
    head_learning_rate: float | None = Field(
        None, gt=0, lt=1, description="learning rate of the LM head's own weights (default for a new head: 10x "
                                      "`learning_rate` capped at 1e-3, never below `learning_rate`)",
    )
    warmup: float = Field(0.06, ge=0, lt=1, description="fraction of steps with a linear LR warm-up, e.g. `0.06`")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay, e.g. `0.01`")
    max_length: int = Field(128, ge=8, description="tokens per text (longer texts are truncated), e.g. `128`")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="fraction of tokens masked (encoders), e.g. `0.15`")
    head_warmup_steps: int | None = Field(
        None, ge=0,
        description="steps that train only a newly initialised MLM head before the backbone joins "
                    "(default: 10% of the steps, at most 200, when the head is new; 0 turns it off)",
    )
    max_rows: int | None = Field(None, ge=1, description="random sample of at most this many texts, e.g. `20000`")
    validation_rows: int | None = Field(
        None, ge=0,
        description="texts held out for perplexity (default: 10% up to 1,000; `0` skips the perplexity)",
    )
    save_steps: int | None = Field(None, ge=1, description="checkpoint every N steps (default: about 5 per run)")
    seed: int = Field(42, description="random seed of sampling, masking and training, e.g. `42`")
    device: str = Field("auto", pattern="^(auto|cpu|cuda|mps)$", description="`auto`, `cpu`, `cuda` or `mps`")
    precision: str = Field("auto", pattern="^(auto|bf16|fp32)$", description="`auto`, `bf16` or `fp32`")

    @field_validator("text_column")
    @classmethod
    def _columns_not_empty(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("`text_column` is an empty list — name at least one column, e.g. `text_column: review`")
        return value

    @property
    def text_columns(self) -> list[str]:
        return [self.text_column] if isinstance(self.text_column, str) else list(self.text_column)


def load_config(source: str | Path | dict | PretrainConfig | None = None, **options) -> PretrainConfig:
    """A config from a YAML file or dict, with `options` (those not None) taking precedence.

    Relative paths in a YAML file (`data`, `exclude`, `out`, and a `backbone` that is a path there) are resolved
    against the file's folder.
    """
    if isinstance(source, PretrainConfig):
        raw = source.model_dump()
    elif isinstance(source, dict):
        raw = dict(source)
    elif source is not None:
        path = Path(source)
        if not path.is_file():
            raise RecipeError(f"pretrain config {path} does not exist — check the path")
        from ecomtune.recipes.loader import parse_yaml

        raw = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
        if not isinstance(raw, dict):
            raise RecipeError(f"{path}: a pretrain config must be a YAML mapping (key: value)")
        raw = _resolve_relative(raw, path.parent)
    else:
        raw = {}
    raw.update({k: v for k, v in options.items() if v is not None and v != []})
    for key in ("data", "exclude"):
        if isinstance(raw.get(key), (str, Path)):
            raw[key] = [raw[key]]
    if isinstance(raw.get("text_column"), list) and len(raw["text_column"]) == 1:
        raw["text_column"] = raw["text_column"][0]
    raw = {k: [str(x) for x in v] if k in ("data", "exclude") and isinstance(v, list) else
           (str(v) if isinstance(v, Path) else v) for k, v in raw.items()}
    try:
        return PretrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"pretrain: {_explain(exc)}") from None


def _resolve_relative(raw: dict, base: Path) -> dict:
    def fix(p):
        return str((base / p).resolve()) if isinstance(p, str) and not Path(p).expanduser().is_absolute() else p

    out = dict(raw)
    for key in ("data", "exclude"):
        if isinstance(out.get(key), list):
            out[key] = [fix(p) for p in out[key]]
        elif isinstance(out.get(key), str):
            out[key] = [fix(out[key])]
    if isinstance(out.get("out"), str):
        out["out"] = fix(out["out"])
    if isinstance(out.get("backbone"), str) and (base / out["backbone"]).is_dir():
        out["backbone"] = fix(out["backbone"])
    return out


def _explain(exc: ValidationError) -> str:
    """One line per problem naming the option, the value and the fix."""
    lines = []
    fields = PretrainConfig.model_fields
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else "?"
        option = f"`{key}` (--{key.replace('_', '-')})"
        if err["type"] == "extra_forbidden":
            import difflib

            close = difflib.get_close_matches(key, list(fields), n=1)
            lines.append(f"unknown key `{key}` — " + (f"did you mean `{close[0]}`?" if close else
                                                      f"allowed: {', '.join(fields)}"))
        elif err["type"] == "missing":
            lines.append(f"{option} is required — {fields[key].description}")
        elif err["type"] == "value_error":
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        else:
            msg = str(err["msg"]).replace("Input should be", "must be").replace("String should match pattern",
                                                                               "must match")
            desc = fields[key].description if key in fields else ""
            lines.append(f"{option} {msg}, got {err.get('input')!r}" + (f" — {desc}" if desc else ""))
    return "; ".join(lines)
