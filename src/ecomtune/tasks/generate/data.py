"""Pairs in, token ids out: read and check the (input, output) table, split it, turn each input into its prompt
(a plain template or the model's chat template), and tokenize pairs so that only the output's tokens carry a loss.

The loss mask is the known trap of supervised fine-tuning (peers have shipped it wrong: labels = input ids trains
the model to reproduce prompts): `labels` is -100 on every prompt and padding token and equals the input ids on the
output tokens and the closing end-of-sequence token, which the model must learn to emit to stop.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecomtune.data.pii import PiiReport, scrub_columns
from ecomtune.data.readers import read_table, resolve_path
from ecomtune.errors import DataError
from ecomtune.tasks.generate.recipe import GenerateData, GenerateModel

IGNORE = -100  # the label torch's cross-entropy skips


@dataclass
class Pairs:
    inputs: list[str]
    outputs: list[str]

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, rows) -> Pairs:
        return Pairs([self.inputs[i] for i in rows], [self.outputs[i] for i in rows])


@dataclass
class GenerateSplits:
    train: Pairs
    test: Pairs
    info: dict = field(default_factory=dict)


def read_pairs(path: str, data: GenerateData, pii: PiiReport | None = None) -> Pairs:
    """The table's (input, output) columns as strings; empty cells are an error naming the row, or dropped;
    personal data masked or its rows dropped (`data.pii`, counted in `pii`) before any prompt is built."""
    frame = read_table(resolve_path(path))
    for column, key in ((data.input_column, "data.input_column"), (data.output_column, "data.output_column")):
        if column not in frame.columns:
            raise DataError(f"{path}: no column `{column}` (`{key}`) — the columns are "
                            f"{', '.join(map(str, frame.columns))}; set `{key}` to one of them")
    inputs = frame[data.input_column].fillna("").astype(str).str.strip()
    outputs = frame[data.output_column].fillna("").astype(str).str.strip()
    empty = (inputs == "") | (outputs == "")
    if empty.any():
        first = int(np.flatnonzero(empty.to_numpy())[0])
        column = data.input_column if inputs.iloc[first] == "" else data.output_column
        if data.bad_rows == "error":
            raise DataError(f"{path}: row {first + 1}, column `{column}` is empty ({int(empty.sum())} such rows) — "
                            "fill them or set `data.bad_rows: drop`")
        inputs, outputs = inputs[~empty], outputs[~empty]
    both, found = scrub_columns(pd.DataFrame({"input": inputs, "output": outputs}), ["input", "output"], data.pii)
    inputs, outputs = both["input"], both["output"]
    if pii is not None:
        pii.add(found)
    if data.attributes:
        from ecomtune.tasks.generate.attributes import parse_attributes

        for row, text in enumerate(inputs):
            try:
                parse_attributes(text, data.pair_separator, data.key_separator)
            except ValueError as e:
                raise DataError(f"{path}: row {row + 1}, column `{data.input_column}`: {e} — write attributes as "
                                f"key{data.key_separator}value{data.pair_separator}key{data.key_separator}value, "
                                "or set `data.attributes: false`") from None
    return Pairs(inputs.tolist(), outputs.tolist())


def load_splits(data: GenerateData) -> GenerateSplits:
    """Train and test pairs: `test_path`, else `data.test` rows (count or fraction) held out at random."""
    pii = PiiReport(data.pii)
    pairs = read_pairs(data.path, data, pii)
    if data.test_path:
        train, test = pairs, read_pairs(data.test_path, data, pii)
    else:
        n_test = int(data.test) if data.test >= 1 else round(data.test * len(pairs))
        if not 1 <= n_test < len(pairs):
            raise DataError(f"{data.path}: {len(pairs)} rows cannot hold out {n_test} test rows — lower `data.test`")
        order = np.random.default_rng(data.seed).permutation(len(pairs))
        train, test = pairs.take(sorted(order[n_test:])), pairs.take(sorted(order[:n_test]))
    if data.max_rows and len(train) > data.max_rows:
        train = train.take(range(data.max_rows))
    info = {"path": data.path, "rows": {"train": len(train), "test": len(test)}, "pii": pii.as_dict()}
    return GenerateSplits(train, test, info)


class PromptFormat:
    """Input text -> prompt token ids, the same way in training, evaluation and serving."""

    def __init__(self, tokenizer, model: GenerateModel):
        self.tokenizer, self.model = tokenizer, model
        if model.prompt == "chat" and not getattr(tokenizer, "chat_template", None):
            raise DataError(f"backbone '{model.backbone}' has no chat template (a base model) — set "
                            "`model.prompt: template` and a `model.template` such as `商品：{input}\\n文案：`")

    def text(self, source: str) -> str:
        return self.model.template.replace("{input}", source)

    def ids(self, source: str) -> list[int]:
        """Prompt token ids, left-truncated to `max_prompt_tokens` (the end, where the answer starts, is kept)."""
        return self.full_ids(source)[-self.model.max_prompt_tokens:]

    def full_ids(self, source: str) -> list[int]:
        tok = self.tokenizer
        if self.model.prompt == "chat":
            messages = ([{"role": "system", "content": self.model.system}] if self.model.system else [])
            messages.append({"role": "user", "content": self.text(source)})
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
            ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)
        else:
            ids = tok(self.text(source), add_special_tokens=True)["input_ids"]
        return ids

    def target_ids(self, target: str) -> list[int]:
        """Output token ids, cut at `max_target_tokens`, then end-of-sequence."""
        ids = self.tokenizer(target, add_special_tokens=False)["input_ids"][: self.model.max_target_tokens]
        return ids + [self.tokenizer.eos_token_id]


def encode_pairs(fmt: PromptFormat, pairs: Pairs) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per pair: labels are IGNORE on the prompt, the target ids after it."""
    out = []
    for source, target in zip(pairs.inputs, pairs.outputs):
        prompt, answer = fmt.ids(source), fmt.target_ids(target)
        out.append((prompt + answer, [IGNORE] * len(prompt) + answer))
    return out


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded tensors: input_ids, attention_mask, labels (IGNORE on padding)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (x, y) in enumerate(examples):
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def length_batches(lengths: list[int], size: int, seed: int, pool: int = 50) -> list[list[int]]:
    """Micro-batches of similar length (less padding): shuffle, sort within pools of `pool` batches by length,
    cut into batches of `size`, shuffle the batches. Deterministic for a seed (an epoch's seed), so a resumed run
    sees the same order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), size * pool):
        chunk = sorted(order[start:start + size * pool], key=lambda i: lengths[i])
        batches += [[int(i) for i in chunk[j:j + size]] for j in range(0, len(chunk), size)]
    return [batches[i] for i in rng.permutation(len(batches))]
