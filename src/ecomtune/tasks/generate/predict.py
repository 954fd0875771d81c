"""`Generator`: a generation run loaded for use — texts for inputs (batched), a stream for one input, and the
attribute checks of each text when the run was trained on attribute inputs."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ecomtune.errors import RunDirError
from ecomtune.rundir import loading, open_manifest
from ecomtune.tasks.generate.model import LanguageModel, load_run_lm
from ecomtune.tasks.generate.recipe import GenerationSettings


class Generator:
    def __init__(self, lm: LanguageModel, manifest: dict, vocabulary=None, run_dir: Path | None = None):
        self.lm, self.manifest, self.vocabulary, self.run_dir = lm, manifest, vocabulary, run_dir
        self.batch_size = int(manifest["recipe"].get("evaluation", {}).get("batch_size", 8))
        data = manifest["recipe"]["data"]
        self.separators = (data.get("pair_separator", "*"), data.get("key_separator", "#")) \
            if data.get("attributes") else None

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto") -> Generator:
        from ecomtune.training.device import resolve_device

        run_dir = Path(run_dir)
        manifest = open_manifest(run_dir)
        if manifest.get("task") != "generate":
            raise RunDirError(f"{run_dir} is a {manifest.get('task')} run, not a generate run")
        with loading(run_dir):
            lm = load_run_lm(run_dir, manifest, resolve_device(device))
        vocabulary = None
        if manifest.get("vocabulary"):
            from ecomtune.tasks.generate.attributes import AttributeVocabulary

            vocabulary = AttributeVocabulary.from_dict(
                json.loads((run_dir / manifest["vocabulary"]).read_text(encoding="utf-8")))
        return cls(lm, manifest, vocabulary, run_dir)

    @property
    def limits(self) -> dict:
        return {"max_prompt_tokens": self.lm.model_cfg.max_prompt_tokens}

    def generate(self, inputs: list[str], **overrides) -> list[str]:
        """One text per input; `overrides` are generation settings (strategy, temperature, max_new_tokens...)."""
        return self.lm.generate(list(inputs), self.lm.with_settings(overrides), batch_size=self.batch_size)

    def stream(self, source: str, **overrides) -> Iterator[str]:
        return self.lm.stream(source, self.lm.with_settings(overrides))

    def check(self, source: str, text: str) -> dict | None:
        """Attribute coverage and contradictions of `text` for an attribute input (None for plain inputs, and for
        an input that is not a `key#value*...` list although the run was trained on them)."""
        if self.vocabulary is None:
            return None
        from ecomtune.tasks.generate.attributes import (
            contradictions,
            coverage,
            parse_attributes,
        )

        try:
            pairs = parse_attributes(source, *self.separators)
        except ValueError:
            return None
        return {"coverage": coverage(text, pairs),
                "contradictions": [{"key": k, "stated": v} for k, v in contradictions(text, pairs, self.vocabulary)]}

    def predict(self, inputs: list[str], **overrides) -> list[dict]:
        """{"text", "attributes"} per input (the task contract's `predict`)."""
        texts = self.generate(inputs, **overrides)
        return [{"text": t, "attributes": self.check(s, t)} for s, t in zip(inputs, texts)]

    def serve_batch(self, items: list[str], bucket_size: int = 8) -> list[str]:
        """The service's micro-batch: JSON items {"input", "settings"}; inputs that share settings decode
        together."""
        requests = [json.loads(item) for item in items]
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(json.dumps(r["settings"], sort_keys=True), []).append(i)
        out: list[str] = [""] * len(items)
        for key, rows in groups.items():
            settings = GenerationSettings.model_validate(json.loads(key))
            for row, text in zip(rows, self.lm.generate([requests[i]["input"] for i in rows], settings,
                                                       batch_size=bucket_size)):
                out[row] = text
        return out

    def warmup(self, bucket_size: int = 8) -> None:
        self.lm.generate(["warm up"], self.lm.settings.model_copy(update={"max_new_tokens": 2}))

    def evaluate(self, data: str | Path | None = None) -> dict:
        from ecomtune.tasks.generate.evaluate import evaluation_of

        return evaluation_of(self, data)
