"""Service settings, validated once at start-up: a bad value is one error that names the option."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecomtune.errors import EcomtuneError

API_KEY_ENV = "ECOMTUNE_API_KEY"
FLAGS = {"batching": "--no-batching", "shutdown_timeout_s": "--shutdown-timeout"}  # the rest: --max-batch etc.
# 4 MiB: 64 texts of 4,000 characters fit even with every character a \u escape pair (12 bytes each)
MAX_BODY_BYTES = 4 * 2**20
MAX_IMAGE_BYTES = 10 * 2**20


class ServeError(EcomtuneError):
    """The service cannot start: a bad setting, run directory or model name."""


def read_key_file(path: str | Path) -> str:
    """The API key in `path` (its first line), so it stays out of the process list."""
    try:
        lines = Path(path).read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"--api-key-file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    if not lines:
        raise ServeError(f"--api-key-file {path}: the file is empty — write the key on its first line")
    return lines[0].strip()


class ServeSettings(BaseModel):
    """Everything `ecomtune serve` can be told; build it with `ServeSettings.build(**options)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 = any free port).")
    batching: bool = Field(True, description="Merge concurrent requests into micro-batches; off = one call each.")
    max_batch: int = Field(32, ge=1, le=4096, description="Most texts in one micro-batch.")
    max_wait_ms: float = Field(5.0, ge=0, le=10_000, description="Longest a text waits for others to join.")
    bucket_size: int = Field(32, ge=1, le=4096, description="Texts per forward pass: a micro-batch is sorted by "
                             "token length and run in buckets of this size, so each pads to similar lengths.")
    cache_size: int = Field(10_000, ge=0, description="Predictions kept in the LRU cache (0 = no cache).")
    max_text_chars: int = Field(4000, ge=1, description="Longest text accepted, in characters.")
    max_items: int = Field(64, ge=1, description="Most texts (or images, histories, queries) in one request.")
    max_image_bytes: int = Field(MAX_IMAGE_BYTES, ge=1, description="Largest image accepted, in bytes (413 naming "
                                 "it); a request's whole body is capped by max_body_bytes.")
    max_body_bytes: int = Field(MAX_BODY_BYTES, ge=1024, description="Largest request body, in bytes (413 above, "
                                "before it is parsed).")
    api_key: str | None = Field(None, min_length=1, description=f"Required key (X-API-Key or Bearer); "
                                f"default ${API_KEY_ENV}; none = open.")
    shutdown_timeout_s: float = Field(30.0, ge=0, description="From SIGTERM to exit at most (plus about a second): "
                                      "in-flight requests and the inference workers share it.")
    monitor_window: int = Field(1000, ge=1, description="Recent predictions the drift monitor compares.")
    device: str = Field("auto", description="auto, cpu, cuda or mps.")
    warmup: bool = Field(True, description="Run a few texts through each model before /readyz says ready.")

    @classmethod
    def build(cls, settings: ServeSettings | dict | None = None, **options) -> ServeSettings:
        """Validate options (or a dict / settings object plus overrides); the API key defaults to $ECOMTUNE_API_KEY.

        Raises `ServeError` naming the first bad option, its value and what is allowed.
        """
        raw = settings.model_dump() if isinstance(settings, ServeSettings) else dict(settings or {})
        raw.update(options)
        if raw.get("api_key") is None and os.environ.get(API_KEY_ENV):
            raw["api_key"] = os.environ[API_KEY_ENV]
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            option = ".".join(str(p) for p in first["loc"]) or "settings"
            flag = FLAGS.get(option, "--" + option.replace("_", "-"))
            value = "" if first["type"] == "missing" else f", got {first.get('input')!r}"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise ServeError(f"serve option `{option}` ({flag}): {first['msg']}{value}{more}") from None
