"""The generation recipe: (input -> output) text pairs -> a causal LM fine-tuned to write the output.

    name: adgen-zh
    task: generate
    language: zh
    data: {path: ../shared/data/advertisegen_dev/dev.json, input_column: content, output_column: summary,
           attributes: true, test: 200}
    model: {backbone: qwen2.5-0.5b, prompt: chat, template: "根据商品属性写一段广告文案：{input}",
            adapter: {method: lora, r: 16}}
    training: {epochs: 2, batch_size: 8, learning_rate: 2.0e-4}
    generation: {strategy: greedy, max_new_tokens: 128, repetition_penalty: 1.1}
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ecomtune.recipes.schema import AdapterConfig, OutputConfig, SliceThresholds, _Section, run_name


class GenerateData(_Section):
    """Where the pairs come from and how they split."""

    PATH_FIELDS: ClassVar[tuple[str, ...]] = ("path", "test_path")

    path: str = Field(description="the (input, output) table: JSONL, JSON, CSV, TSV or Parquet, e.g. `pairs.jsonl`")
    test_path: str | None = Field(None, description="a separate test table with the same columns (else `data.test` "
                                                    "of `path` is held out)")
    input_column: str = Field("input", description="the input text column, e.g. `content`")
    output_column: str = Field("output", description="the target text column, e.g. `summary`")
    attributes: bool = Field(False, description="inputs are `key#value*key#value` attribute lists (AdvertiseGen): "
                                                "adds attribute coverage and contradiction rate: `true` or `false`")
    pair_separator: str = Field("*", min_length=1, description="attributes: between pairs, e.g. `*`")
    key_separator: str = Field("#", min_length=1, description="attributes: between key and value, e.g. `#`")
    test: float = Field(200, gt=0, description="held-out test rows: a count (`200`) or a fraction (`0.2`)")
    max_rows: int | None = Field(None, ge=2, description="use at most this many training rows, e.g. `500`")
    pii: Literal["mask", "drop", "keep"] = Field("mask", description="personal data in inputs and outputs (phones, "
                                                 "e-mails, CN ID and bank-card numbers, addresses): `mask`, `drop` "
                                                 "(leave out the rows) or `keep`; docs/privacy.md")
    bad_rows: Literal["error", "drop"] = Field("error", description="rows with an empty input or output: `error` "
                                                                    "(name them) or `drop`")
    seed: int = Field(42, description="seed of the split, e.g. `42`")


class GenerateModel(_Section):
    """The causal LM, how an input becomes its prompt, and the adapter (none = full fine-tuning)."""

    backbone: str = Field(description="a registered LM (`qwen2.5-0.5b`, `smollm2-135m`, `gemma3-270m`), a hub name "
                                      "or a local dir")
    prompt: Literal["chat", "template"] = Field(
        "chat", description="`chat`: the template below is the user message, wrapped in the model's chat template "
                            "(instruct models); `template`: the template below is the whole prompt (base models)")
    template: str = Field("{input}", description="the prompt with `{input}` where the input goes, e.g. "
                                                 "`根据商品属性写一段广告文案：{input}`")
    system: str | None = Field(None, description="chat: a system message, e.g. `You are a shop assistant.`")
    max_prompt_tokens: int = Field(256, ge=8, le=8192, description="prompt tokens kept (left-truncated), e.g. `256`")
    max_target_tokens: int = Field(256, ge=4, le=8192, description="target tokens trained on, e.g. `256`")
    adapter: AdapterConfig | None = Field(None, description="a peft adapter, e.g. `{method: lora, r: 16}`; "
                                                            "`null` trains the whole model")

    @field_validator("template")
    @classmethod
    def _has_input(cls, value: str) -> str:
        if "{input}" not in value:
            raise ValueError("the template must contain `{input}` where the input goes — e.g. `写一段文案：{input}`")
        return value


class GenerateTraining(_Section):
    """Supervised fine-tuning: the loss is on the target tokens only; batches group inputs of similar length."""

    epochs: float = Field(2, gt=0, description="passes over the training pairs, e.g. `2`")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(8, ge=1, description="pairs per optimizer step, e.g. `8`")
    micro_batch_size: int = Field(4, ge=1, description="pairs per forward pass (gradients accumulate up to "
                                                       "`batch_size`), e.g. `4`")
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="peak learning rate, e.g. `2e-4` (LoRA), `2e-5` (full)")
    weight_decay: float = Field(0.0, ge=0, lt=1, description="AdamW weight decay, e.g. `0.0`")
    warmup: float = Field(0.05, ge=0, lt=1, description="warmup as a fraction of the steps, e.g. `0.05`")
    checkpoint_minutes: float = Field(10, gt=0, description="minutes between checkpoints, which `--resume` "
                                                            "continues from, e.g. `10`")
    seed: int = Field(42, description="random seed, e.g. `42`")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="`auto`, `cpu`, `cuda` or `mps`")

    @model_validator(mode="after")
    def _micro_divides(self):
        if self.batch_size % min(self.micro_batch_size, self.batch_size):
            raise ValueError(f"`training.batch_size` ({self.batch_size}) must be a multiple of "
                             f"`training.micro_batch_size` ({self.micro_batch_size}) — e.g. 8 and 4")
        return self


class GenerationSettings(_Section):
    """How text is decoded; every field can be overridden per request."""

    strategy: Literal["greedy", "beam", "sample"] = Field("greedy", description="`greedy`, `beam` or `sample`")
    num_beams: int = Field(4, ge=1, le=16, description="beam: beams kept, e.g. `4`")
    temperature: float = Field(0.7, ge=0.01, le=5, description="sample: softmax temperature, e.g. `0.7`")
    top_p: float = Field(0.9, gt=0, le=1, description="sample: nucleus mass, e.g. `0.9`")
    repetition_penalty: float = Field(1.1, ge=1, le=3, description="penalty on repeated tokens (1 = none), e.g. `1.1`")
    max_new_tokens: int = Field(128, ge=1, le=4096, description="new tokens at most, e.g. `128`")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="sample: a seed for reproducible samples, e.g. `7`")


class GenerateEvaluation(SliceThresholds):  # + slice_gap, min_slice_size (generate/slices.py)
    metric: Literal["rouge-l", "bleu-4", "rouge-1", "rouge-2", "coverage"] = Field(
        "rouge-l", description="the test metric `ecomtune compare` ranks methods by, e.g. `rouge-l`")
    rows: int | None = Field(None, ge=1, description="score at most this many test rows, e.g. `200`")
    batch_size: int = Field(8, ge=1, le=256, description="prompts decoded together, e.g. `8`")
    baselines: list[Literal["retrieval", "untuned"]] = Field(
        ["retrieval", "untuned"], description="`retrieval` (the output of the most similar training input) and "
                                              "`untuned` (the instruct model, zero-shot)")
    untuned_backbone: str | None = Field(None, description="the zero-shot model (default: `model.backbone` if it is "
                                                           "an instruct model, else `qwen2.5-0.5b`)")
    untuned_rows: int | None = Field(None, ge=1, description="score the zero-shot model on at most this many test "
                                                             "rows (it is slow on a CPU), e.g. `50`")


class GenerateRecipe(_Section):
    """A complete generation recipe."""

    name: str = run_name()
    task: Literal["generate"] = Field(description="`generate`")
    language: Literal["en", "zh"] = Field("en", description="`en` (word BLEU/ROUGE) or `zh` (character BLEU, jieba "
                                                            "ROUGE)")
    description: str = Field("", description="free text shown in the model card")
    data: GenerateData
    model: GenerateModel
    training: GenerateTraining = Field(default_factory=GenerateTraining)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    evaluation: GenerateEvaluation = Field(default_factory=GenerateEvaluation)
    output: OutputConfig = Field(default_factory=OutputConfig)
