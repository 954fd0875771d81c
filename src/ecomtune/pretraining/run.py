"""Continued pre-training, top to bottom: texts -> LM model -> perplexity before -> train -> perplexity after ->
save the backbone (not the LM head) where a recipe's `model.backbone` can point.

Encoders train with masked-LM, decoders with causal-LM; which one follows from the backbone's kind.

    out/
      model/          the backbone only, `AutoModel.from_pretrained`-loadable (config, safetensors, tokenizer)
      manifest.json   kind: pretrain, backbone, texts, steps, held-out perplexity before/after, cost
      README.md       what was done, and how to fine-tune from it
      pretrain.yaml   the validated config (`--resume` checks it is unchanged)
      checkpoints/    only while training (kept if the run fails, so it can resume)
"""
from __future__ import annotations

import logging
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from ecomtune.backbones import resolve_backbone
from ecomtune.console import say
from ecomtune.errors import BackboneError, RecipeError
from ecomtune.pretraining.config import PretrainConfig
from ecomtune.pretraining.data import load_texts
from ecomtune.recipes.loader import first_difference
from ecomtune.rundir import dir_size_mb, open_run_folder, versions, write_manifest
from ecomtune.training.callbacks import CostMeter, RichProgress, last_checkpoint
from ecomtune.training.device import autocast, resolve_device, resolve_precision

log = logging.getLogger(__name__)

KIND = "pretrain"
CHECKPOINTS = "checkpoints"
CONFIG_FILE = "pretrain.yaml"
MODEL_DIR = "model"
MLM_HEADS = ("cls", "lm_head")  # BERT-family / RoBERTa-family heads: hidden states -> vocabulary logits
HEAD_WARMUP_FRACTION, HEAD_WARMUP_MAX = 0.1, 200
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class LMTexts(Dataset):
    """Tokenized texts (unpadded); the collator pads, masks (MLM) or copies (CLM) them into labels."""

    def __init__(self, texts: list[str], tokenizer, max_length: int, objective: str):
        if objective == "mlm":
            enc = tokenizer(texts, truncation=True, max_length=max_length, return_special_tokens_mask=True)
            keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask") if k in enc]
            self.rows = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
        else:  # end every text with EOS so the model learns where reviews stop
            eos = tokenizer.eos_token_id
            enc = tokenizer(texts, truncation=True, max_length=max_length - 1, return_token_type_ids=False)
            self.rows = []
            for ids in enc["input_ids"]:
                ids = list(ids) + ([eos] if eos is not None and (not ids or ids[-1] != eos) else [])
                self.rows.append({"input_ids": ids, "attention_mask": [1] * len(ids)})

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


class LMTrainer(Trainer):
    """HF Trainer with two documented hooks overridden.

    `compute_loss`: the masked-LM loss projects only the masked positions onto the vocabulary. `BertForMaskedLM`
    computes logits for every token although only ~15% carry a label; on minilm the 30k-word projection costs as
    much as the encoder, so this halves the step time. Same loss value.
    `create_optimizer`: AdamW with the LM head's own parameters (not the tied embeddings) at `head_learning_rate`;
    a newly initialised head needs a larger step than the pretrained backbone.
    """

    def __init__(self, *args, head_learning_rate: float | None = None, **kwargs):
        self.head_learning_rate = head_learning_rate
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None):
        if self.optimizer is not None or not self.head_learning_rate:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        backbone = {id(p) for p in model.base_model.parameters()}
        decay = set(self.get_decay_parameter_names(model))
        groups: dict[tuple[bool, bool], list] = {}
        for name, p in model.named_parameters():
            if p.requires_grad:
                groups.setdefault((id(p) in backbone, name in decay), []).append(p)
        a = self.args
        self.optimizer = torch.optim.AdamW(
            [{"params": ps, "lr": a.learning_rate if in_backbone else self.head_learning_rate,
              "weight_decay": a.weight_decay if decayed else 0.0} for (in_backbone, decayed), ps in groups.items()],
            lr=a.learning_rate, betas=(a.adam_beta1, a.adam_beta2), eps=a.adam_epsilon)
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        head = _mlm_head(model)
        if return_outputs or head is None or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return masked_loss(model, head, inputs, reduction="mean")


class HeadWarmup(TrainerCallback):
    """The first `steps` optimizer steps train only the new LM head; then the backbone joins.

    A randomly initialised head sends noise into the pretrained backbone; fitting the head first (like linear
    probing before fine-tuning) avoids that. Also records the held-out perplexity at the switch, which is the
    fair "before" number when the head is new.
    """

    def __init__(self, backbone: torch.nn.Module, steps: int, evaluate):
        self.params = [p for p in backbone.parameters()]
        self.steps = steps
        self.evaluate = evaluate
        self.frozen: bool | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        frozen = state.global_step < self.steps
        if state.global_step == self.steps and self.evaluate is not None and not any(
                "head_warmup_perplexity" in h for h in state.log_history):
            state.log_history.append({"step": state.global_step,
                                      "head_warmup_perplexity": round(self.evaluate(), 4)})
        if frozen != self.frozen:
            for p in self.params:
                p.requires_grad_(not frozen)
            self.frozen = frozen


def _mlm_head(model):
    for name in MLM_HEADS:
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    return None


def masked_loss(model, head, inputs: dict, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over the masked positions only (labels != -100)."""
    labels = inputs["labels"]
    hidden = model.base_model(**{k: v for k, v in inputs.items() if k in MODEL_INPUTS}).last_hidden_state
    picked = labels != -100
    logits = head(hidden[picked])
    return F.cross_entropy(logits.float(), labels[picked], reduction=reduction)


@torch.no_grad()
def perplexity(model, batches: list[dict], objective: str, device: torch.device, precision: str) -> float:
    """exp(mean token cross-entropy) on fixed batches: masked tokens (MLM) or next tokens (CLM)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    head = _mlm_head(model) if objective == "mlm" else None
    with autocast(device, precision):
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            if objective == "mlm" and head is not None:
                total += float(masked_loss(model, head, batch, reduction="sum"))
                count += int((batch["labels"] != -100).sum())
                continue
            logits = model(**{k: v for k, v in batch.items() if k in MODEL_INPUTS}).logits
            labels = batch["labels"]
            if objective == "clm":
                logits, labels = logits[:, :-1], labels[:, 1:]
            picked = labels != -100
            total += float(F.cross_entropy(logits[picked].float(), labels[picked], reduction="sum"))
            count += int(picked.sum())
    model.train(was_training)
    return math.exp(total / count) if count else float("nan")


def load_lm(path: str, objective: str):
    """The LM model of a backbone dir and whether its LM head was newly initialised (missing from the files)."""
    auto = AutoModelForMaskedLM if objective == "mlm" else AutoModelForCausalLM
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report lists the new head's keys; we say it in one line instead
    try:
        model, info = auto.from_pretrained(path, dtype=torch.float32, output_loading_info=True)
    except ValueError as exc:  # an architecture without an MLM / CLM class
        raise BackboneError(f"{path}: no {'masked' if objective == 'mlm' else 'causal'}-LM version of this "
                            f"architecture ({str(exc).splitlines()[0]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    prefix = model.base_model_prefix + "."
    head_missing = [k for k in info.get("missing_keys", ()) if not k.startswith(prefix)]
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    return model, bool(head_missing)


def _tied(model) -> bool:
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    return out is not None and inp is not None and out.weight is inp.weight


def _head_warmup_steps(cfg: PretrainConfig, head_new: bool, total_steps: int) -> int:
    if cfg.head_warmup_steps is not None:
        if cfg.head_warmup_steps >= total_steps:
            raise RecipeError(f"--head-warmup-steps {cfg.head_warmup_steps} is not below the {total_steps} training "
                              "steps, so the backbone would never train — lower it or raise --max-steps/--epochs")
        return cfg.head_warmup_steps
    return min(HEAD_WARMUP_MAX, int(total_steps * HEAD_WARMUP_FRACTION)) if head_new else 0


def pretrain(cfg: PretrainConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Continue pre-training a backbone on unlabeled text; returns the output directory."""
    resolved = resolve_backbone(cfg.backbone)
    objective = "mlm" if resolved.kind == "encoder" else "clm"
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    if objective == "mlm" and tokenizer.mask_token is None:
        raise BackboneError(f"backbone '{cfg.backbone}' is an encoder but its tokenizer has no mask token, so it "
                            "cannot be trained with masked-LM — use a BERT-style backbone")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    say("reading texts")
    texts = load_texts(cfg)  # before the output dir exists: a data error leaves nothing to --overwrite
    folder = open_run_folder(cfg.out, cfg.model_dump(mode="json"), resume=resume, overwrite=overwrite,
                             config_name=CONFIG_FILE, diff=first_difference, what="options",
                             how="pass --overwrite to replace it, --resume to continue an interrupted run, or "
                                 "choose another --out")
    out = folder.path
    hf_logging.disable_progress_bar()
    set_seed(cfg.seed)
    s = texts.stats
    sampled = f", {s['sampled_out']} sampled out" if "sampled_out" in s else ""
    say(f"  {s['train']} training / {s['validation']} held-out texts ({s['rows_read']} rows read: {s['empty']} "
        f"empty, {s['repeated']} repeated, {s['excluded']} excluded{sampled})")
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    say(f"loading {cfg.backbone} for {'masked' if objective == 'mlm' else 'causal'}-LM ({device.type}, {precision})")
    model, head_new = load_lm(resolved.path, objective)
    if head_new:
        say(f"  {cfg.backbone} has no {objective.upper()} head: a new one is initialised"
            f"{', its output layer tied to the input embeddings' if _tied(model) else ''}")

    train_set = LMTexts(texts.train, tokenizer, cfg.max_length, objective)
    val_set = LMTexts(texts.validation, tokenizer, cfg.max_length, objective)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=objective == "mlm", mlm_probability=cfg.mlm_probability)
    # Held-out batches are masked once with a fixed seed, so "before" and "after" score the same tokens.
    fixed = DataCollatorForLanguageModeling(tokenizer, mlm=objective == "mlm", mlm_probability=cfg.mlm_probability,
                                            seed=abs(cfg.seed) + 1)
    order = sorted(range(len(val_set)), key=lambda i: len(val_set[i]["input_ids"]))
    eval_bs = max(1, min(cfg.batch_size, 8 if objective == "clm" else 64))
    val_batches = [fixed([val_set[i] for i in order[j:j + eval_bs]]) for j in range(0, len(order), eval_bs)]

    def held_out() -> float | None:
        return round(perplexity(model, val_batches, objective, device, precision), 4) if val_batches else None

    model.to(device)
    ppl_before = held_out()
    if ppl_before is not None:
        say(f"  held-out perplexity before: {ppl_before:.2f}" + (" (new head: random predictions)" if head_new else ""))

    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
    warmup_steps = _head_warmup_steps(cfg, head_new, total_steps)
    meter = CostMeter(device)
    callbacks = [meter, RichProgress()]
    if warmup_steps:
        say(f"  the first {warmup_steps} steps train only the new head (--head-warmup-steps)")
        callbacks.append(HeadWarmup(model.base_model, warmup_steps, held_out if val_batches else None))
    args = TrainingArguments(
        output_dir=str(out / CHECKPOINTS),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup,
        lr_scheduler_type="linear",
        bf16=precision == "bf16",
        eval_strategy="no",
        save_strategy="steps",
        save_steps=cfg.save_steps or max(1, math.ceil(total_steps / 5)),
        save_total_limit=1,
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 20),
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=device.type == "cpu",
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    head_lr = cfg.head_learning_rate or (max(cfg.learning_rate, min(cfg.learning_rate * 10, 1e-3)) if head_new else None)
    trainer = LMTrainer(model=model, args=args, train_dataset=train_set, data_collator=collator,
                        processing_class=tokenizer, callbacks=callbacks, head_learning_rate=head_lr)
    for noisy in (ProgressCallback, PrinterCallback):  # replaced by RichProgress
        trainer.remove_callback(noisy)
    say(f"training {total_steps} steps")
    trainer.train(resume_from_checkpoint=last_checkpoint(out / CHECKPOINTS) if resume else None)

    ppl_after = held_out()
    warm = next((h["head_warmup_perplexity"] for h in trainer.state.log_history if "head_warmup_perplexity" in h),
                None)
    if ppl_after is not None:
        say(f"  held-out perplexity after: {ppl_after:.2f}" + (f" (after the head warm-up: {warm:.2f})" if warm else ""))

    backbone = _save_backbone(model, resolved.path, tokenizer, out / MODEL_DIR)
    cost = meter.summary()
    cost.update({"trainable_params": int(sum(p.numel() for p in model.parameters())),
                 "backbone_params": int(sum(p.numel() for p in backbone.parameters())),
                 "model_size_mb": round(dir_size_mb(out / MODEL_DIR), 1), "device": device.type,
                 "precision": precision})
    manifest = {
        "ecomtune_version": versions()["ecomtune"],
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": KIND,
        "objective": objective,
        "backbone": {"name": resolved.name, "given": cfg.backbone,
                     "hf_id": resolved.spec.hf_id if resolved.spec else resolved.name,
                     "kind": resolved.kind, "pooling": resolved.pooling, "head_initialised": head_new},
        "model_dir": MODEL_DIR,
        "rows": {"train": s["train"], "validation": s["validation"]},
        "data": {"files": [Path(p).name for p in cfg.data], "exclude": [Path(p).name for p in cfg.exclude],
                 "text_column": cfg.text_column, **s},
        "epochs": round(float(trainer.state.epoch or 0), 3),
        "steps": int(trainer.state.global_step),
        "head_warmup_steps": warmup_steps,
        "head_learning_rate": head_lr,
        "perplexity": {"before": ppl_before, "after_head_warmup": warm, "after": ppl_after,
                       "validation_rows": s["validation"],
                       "tokens": "masked tokens (fixed seed)" if objective == "mlm" else "next tokens"},
        "config": cfg.model_dump(mode="json"),
        "cost": cost,
        "history": [h for h in trainer.state.log_history if "train_runtime" not in h],
        "versions": versions(),
    }
    write_manifest(out, manifest)
    _write_readme(out, manifest)
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return folder.finish()


def _save_backbone(model, original_path: str, tokenizer, target: Path):
    """Save the LM's base model in the original backbone's own class (e.g. BertModel with its pooler).

    Loading the original with `AutoModel` and copying the trained weights in keeps every part the LM model
    lacks (BERT's pooler) and guarantees `AutoModel.from_pretrained(target)` rebuilds the same architecture.
    """
    backbone = AutoModel.from_pretrained(original_path, dtype=torch.float32)
    trained = {k: v.detach().to("cpu", torch.float32) for k, v in model.base_model.state_dict().items()}
    missing, unexpected = backbone.load_state_dict(trained, strict=False)
    if unexpected:
        raise BackboneError(f"cannot map the trained weights back onto {type(backbone).__name__}: "
                            f"{len(unexpected)} unknown keys like {unexpected[0]}")
    if missing:
        log.info("kept %d original weights the LM model has no copy of (e.g. %s)", len(missing), missing[0])
    if hasattr(backbone.config, "use_cache"):
        backbone.config.use_cache = True
    backbone.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return backbone


def _write_readme(out: Path, m: dict) -> None:
    p = m["perplexity"]
    def fmt(x) -> str:
        return f"{x:.2f}" if isinstance(x, (int, float)) else "—"

    objective = "masked-LM" if m["objective"] == "mlm" else "causal-LM"
    lines = [
        f"# {m['backbone']['name']}, domain-adapted ({objective})",
        "",
        (f"Continued pre-training of `{m['backbone']['given']}` on {m['rows']['train']:,} unlabeled texts "
         f"({', '.join(m['data']['files'])}, column {m['data']['text_column']!r}) for {m['steps']} steps "
         f"({m['epochs']} epochs), made by `ecomtune pretrain` {m['ecomtune_version']} on {m['created']}."),
        "",
        f"| held-out perplexity ({m['rows']['validation']} texts, {p['tokens']}) | value |",
        "|---|---|",
        f"| before | {fmt(p['before'])} |",
    ]
    if p.get("after_head_warmup") is not None:
        lines.append(f"| after the new head's warm-up ({m['head_warmup_steps']} steps) | {fmt(p['after_head_warmup'])} |")
    lines += [
        f"| after | {fmt(p['after'])} |",
        "",
        f"Training took {m['cost']['train_seconds']:.0f} s on {m['cost']['device']} ({m['cost']['precision']}).",
        "" if not m["backbone"]["head_initialised"] else
        "The original backbone had no LM head; a new one was initialised and trained, then dropped.",
        "",
        "`model/` holds the backbone only (`transformers.AutoModel.from_pretrained('model')`). Fine-tune from it:",
        "",
        "```yaml",
        "model:",
        (f"  backbone: {m['config']['out']}      # this directory; keeps the {m['backbone']['pooling']} pooling of "
         f"{m['backbone']['name']}"),
        "```",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
