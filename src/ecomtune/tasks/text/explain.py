"""Why a text classifier chose its label: per-word attributions, and the nearest training examples.

Two methods, both from captum (a well-kept PyTorch library, so the maths is not ours to get wrong):

- `integrated_gradients` (Sundararajan et al. 2017): the gradient of the explained label's logit, integrated
  along a straight path from a baseline — every real token replaced by PAD, [CLS]/[SEP]/BOS kept — to the text's
  word embeddings. It runs hook-free: the word embeddings are looked up once and fed as `inputs_embeds`, so a
  service's inference thread can run the same network at the same time without seeing an explanation's
  interpolated inputs. Needs the PyTorch network with gradients: plain runs (every backbone, gemma's
  dequantised GGUF included, adapters too).
- `occlusion`: each word's tokens replaced by PAD, one word at a time; the score is how much the label's logit
  drops. Forward passes only, so it works on every runtime: int8 (`torch.ao` quantized layers have no
  gradients) and ONNX Runtime copies too. `auto` picks it there.

Scores are per word (word pieces merged: summed for integrated gradients, one value per word for occlusion),
normalised so that the largest |score| is 1: positive words pushed towards the label, negative ones away.
By default the predicted label is explained (taxonomy: the finest level; multitask: the first head).

Nearest training examples: the run's own fine-tuned encoder (the pooled states its heads read), cosine
similarity against up to `MAX_TRAIN_ROWS` training rows, embedded once per call.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import torch

from ecomtune.backbones.spec import cache_dir
from ecomtune.data.template import apply_template
from ecomtune.errors import EcomtuneError, RunDirError

METHODS = ("integrated_gradients", "occlusion")
IG_STEPS = 32  # Gauss-Legendre points: within 0.006 of 256 points' scores on 8 MiniLM reviews (docs/explain.md)
MAX_TRAIN_ROWS = 5000  # nearest-example search: a fixed sample of the training split beyond this
MISTAKES = 10  # confident mistakes per report
# One word: a CJK character (as BERT's Chinese tokenizers split them), a run of letters/digits, or one symbol.
WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\w\s]")
_ONE_AT_A_TIME = threading.Lock()  # one explanation at a time per process: each already uses every core


@dataclass
class Explanation:
    """Per-word attributions of one text for one label."""

    method: str
    target: str
    tokens: list[str]
    scores: list[float]

    def to_dict(self) -> dict:
        """The service's and the console's contract: method, target, tokens, scores."""
        return {"method": self.method, "target": self.target, "tokens": self.tokens, "scores": self.scores}

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The `k` words that pushed most towards the label, strongest first."""
        order = sorted(range(len(self.scores)), key=lambda i: -self.scores[i])
        return [(self.tokens[i], self.scores[i]) for i in order[:k] if self.scores[i] > 0]


def explained_level(model) -> int:
    """The label level an explanation is for: a taxonomy's finest level, else the first (multitask: first head)."""
    return model.space.depth - 1 if model.task == "taxonomy" else 0


def pick_method(model, method: str = "auto") -> str:
    """`auto`: integrated gradients on a plain PyTorch run, occlusion on int8 and ONNX copies."""
    runtime = getattr(model.runtime, "name", "torch")
    if method == "auto":
        return "integrated_gradients" if runtime == "torch" and model.model is not None else "occlusion"
    if method not in METHODS:
        raise EcomtuneError(f"explanation method {method!r}: use one of auto, {', '.join(METHODS)}")
    if method == "integrated_gradients" and runtime != "torch":
        raise RunDirError(f"{model.run_dir}: this {runtime} copy has no gradients to integrate — explain it with "
                          "occlusion, or explain the original (uncompressed) run")
    return method


def explain_texts(model, texts: list[str], method: str = "auto", targets: list[int] | None = None,
                  steps: int = IG_STEPS) -> list[Explanation]:
    """Attributions of each text for its predicted label (or `targets`: label ids at the explained level)."""
    method = pick_method(model, method)
    captum_attr()
    level = explained_level(model)
    if targets is None:
        pred, _ = model.predict_arrays(list(texts), 32)
        targets = [int(p[level]) for p in pred]
    out = []
    with _ONE_AT_A_TIME:
        for text, target in zip(texts, targets):
            words, spans, ids = _words(model, text)
            if method == "integrated_gradients":
                token_scores = _integrated_gradients(model, ids, target, level, steps)
            else:
                token_scores = _occlusion(model, ids, spans, target, level)
            out.append(Explanation(method, model.space.labels[level][target], words,
                                   _per_word(token_scores, spans, len(words), method)))
    return out


def _words(model, text: str) -> tuple[list[str], list[int], torch.Tensor]:
    """(words of the text as the model reads it, the word index of each token or -1, input ids [1, n])."""
    shown = apply_template([text], model.template)[0]
    tok = model.tokenizer
    enc = tok(shown, truncation=True, max_length=model.max_length, return_offsets_mapping=tok.is_fast,
              return_tensors="pt")
    ids = enc["input_ids"]
    special = set(tok.all_special_ids)
    if not tok.is_fast:  # no offsets: one "word" per token
        pieces = tok.convert_ids_to_tokens(ids[0].tolist())
        keep = [i for i, t in enumerate(ids[0].tolist()) if t not in special]
        spans = [-1] * ids.shape[1]
        for w, i in enumerate(keep):
            spans[i] = w
        return [pieces[i] for i in keep], spans, ids
    matches = list(WORD.finditer(shown))
    owner = np.full(len(shown) + 1, -1)
    for w, m in enumerate(matches):
        owner[m.start():m.end()] = w
    spans = []
    for t, (start, end) in zip(ids[0].tolist(), enc["offset_mapping"][0].tolist()):
        chars = [p for p in range(start, end) if owner[p] >= 0]  # a piece's leading space belongs to no word
        spans.append(int(owner[chars[0]]) if chars and t not in special else -1)
    used = sorted(set(spans) - {-1})  # words cut off by max_length have no token
    renumber = {w: i for i, w in enumerate(used)}
    return [matches[w].group() for w in used], [renumber.get(s, -1) for s in spans], ids


def captum_attr():
    """captum's attribution module, or a one-line error saying how to install it."""
    try:
        from captum import attr
    except ImportError:
        raise EcomtuneError("explanations use captum, which is not installed — `pip install 'ecomtune[explain]'`"
                            ) from None
    return attr


def _integrated_gradients(model, ids: torch.Tensor, target: int, level: int, steps: int) -> torch.Tensor:
    IntegratedGradients = captum_attr().IntegratedGradients

    network = model.model
    device = model.device
    ids = ids.to(device)
    mask = torch.ones_like(ids)
    embed = network.backbone.get_input_embeddings()
    special = torch.tensor([t in set(model.tokenizer.all_special_ids) for t in ids[0].tolist()], device=device)
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    base_ids = torch.where(special, ids, torch.full_like(ids, pad))

    def forward(embeds: torch.Tensor) -> torch.Tensor:
        m = mask.expand(embeds.shape[0], -1)
        hidden = network.backbone(inputs_embeds=embeds, attention_mask=m).last_hidden_state
        hidden = hidden[:, hidden.shape[1] - m.shape[1]:]  # prompt tuning puts its virtual tokens first
        from ecomtune.backbones.encode import pool

        return network.heads[level](pool(hidden, m, network.pooling)).float()

    with torch.no_grad():
        inputs, baseline = embed(ids).float(), embed(base_ids).float()
    with torch.enable_grad(), torch.autocast(device.type, enabled=False):
        attr = IntegratedGradients(forward).attribute(inputs, baselines=baseline, target=target, n_steps=steps,
                                                      internal_batch_size=steps)
    return attr.sum(dim=-1)[0].detach().float().cpu()


def _occlusion(model, ids: torch.Tensor, spans: list[int], target: int, level: int) -> torch.Tensor:
    FeatureAblation = captum_attr().FeatureAblation
    pad = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    groups = max(spans) + 1
    # specials share one extra group, never ablated (their score is dropped), so each word is one feature
    feature_mask = torch.tensor([s if s >= 0 else groups for s in spans])[None]
    mask = torch.ones_like(ids)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model.logits(batch, mask.expand(batch.shape[0], -1))[level].float().cpu()

    baseline = torch.where(feature_mask == groups, ids, torch.full_like(ids, pad))
    attr = FeatureAblation(forward).attribute(ids, baselines=baseline, target=target, feature_mask=feature_mask,
                                              perturbations_per_eval=16)
    return attr[0].float()


def _per_word(token_scores: torch.Tensor, spans: list[int], n_words: int, method: str) -> list[float]:
    scores = np.zeros(n_words)
    for score, w in zip(token_scores.tolist(), spans):
        if w < 0:
            continue
        if method == "integrated_gradients":
            scores[w] += score  # IG is additive over a word's pieces
        else:
            scores[w] = score  # occlusion scores the whole word once, on each of its pieces
    top = np.abs(scores).max() if n_words else 0.0
    return [round(float(s / top), 4) if top > 0 else 0.0 for s in scores]


# --- nearest training examples ---------------------------------------------------------------------------------
def label_name(raw: tuple[str, ...], task: str) -> str:
    return " > ".join(raw) if task == "taxonomy" else ", ".join(raw)


class Neighbours:
    """The training rows as the run's encoder sees them: `find(texts)` -> the `k` most similar rows each."""

    def __init__(self, model, texts: list[str], labels: list[str], limit: int = MAX_TRAIN_ROWS, seed: int = 0,
                 cache: Path | None = None):
        if model.model is None:
            raise RunDirError(f"{model.run_dir}: this {model.runtime.name} copy has no encoder output to compare "
                              "texts with — nearest training examples need the original run")
        if len(texts) > limit:
            keep = np.sort(np.random.default_rng(seed).choice(len(texts), limit, replace=False))
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        self.model, self.texts, self.labels = model, list(texts), list(labels)
        self.vectors = _cached(cache, len(self.texts))
        if self.vectors is None:
            self.vectors = model.encode(self.texts) if texts else np.zeros((0, 1), dtype=np.float32)
            _store(cache, self.vectors)

    @classmethod
    def of_run(cls, model, limit: int = MAX_TRAIN_ROWS) -> Neighbours:
        """From the run's own training split (its recipe's data must be where the run directory says). Its vectors
        are cached under `$ECOMTUNE_CACHE/explain/` (about a minute for 3,000 MiniLM rows on 2 cores, once)."""
        from ecomtune.console import say
        from ecomtune.data.prepare import prepare_data
        from ecomtune.recipes.loader import recipe_of_run

        recipe = recipe_of_run(model.run_dir, model.manifest, need_data=True)
        train = prepare_data(recipe).train
        key = json.dumps([model.manifest.get("files"), model.manifest.get("data"), limit], sort_keys=True, default=str)
        cache = cache_dir() / "explain" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
        if not cache.is_file():
            say(f"embedding {min(limit, len(train))} training rows for the nearest examples (once per run: cached)")
        return cls(model, train.texts, [label_name(r, model.task) for r in train.raw_labels], limit, cache=cache)

    def find(self, texts: list[str], k: int = 3, vectors: np.ndarray | None = None) -> list[list[dict]]:
        """Per text: [{"text", "label", "similarity"}] of its `k` nearest training rows, nearest first."""
        if not self.texts:
            return [[] for _ in texts]
        query = self.model.encode(list(texts)) if vectors is None else vectors
        sims = query @ self.vectors.T
        out = []
        for row in sims:
            best = np.argsort(-row)[:k]
            out.append([{"text": self.texts[j], "label": self.labels[j], "similarity": round(float(row[j]), 4)}
                        for j in best])
        return out


def _cached(path: Path | None, rows: int) -> np.ndarray | None:
    try:
        vectors = np.load(path) if path is not None and path.is_file() else None
    except (OSError, ValueError):  # a damaged cache file is recomputed
        return None
    return vectors.astype(np.float32) if vectors is not None and len(vectors) == rows else None


def _store(path: Path | None, vectors: np.ndarray) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors.astype(np.float16))  # half the size, ample precision to rank neighbours
    except OSError:  # a read-only cache: recompute next time
        pass


# --- display ---------------------------------------------------------------------------------------------------
def terminal_line(explanation: Explanation):
    """A rich Text: words in green (towards the label) or red (away), brighter for larger |score|."""
    from rich.text import Text

    line = Text()
    for word, score in zip(explanation.tokens, explanation.scores):
        if abs(score) < 0.1:
            style = "dim"
        else:
            style = ("bold " if abs(score) >= 0.5 else "") + ("green" if score > 0 else "red")
        line.append(word, style=style)
        line.append(" ")
    return line


def html_tokens(explanation: Explanation) -> str:
    """The text with each word's background green (towards the label) or red (away), alpha = |score|."""
    parts = []
    for word, score in zip(explanation.tokens, explanation.scores):
        rgb = "26,127,55" if score > 0 else "207,34,46"
        parts.append(f'<span title="{score:+.2f}" style="background: rgba({rgb},{abs(score) * 0.6:.2f}); '
                     f'padding: 0 2px; border-radius: 2px">{escape(word)}</span>')
    return " ".join(parts)


def _clip(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def confident_mistakes(model, split, n: int = MISTAKES) -> list[dict]:
    """The `n` test rows the model got wrong (at the explained level) with the highest confidence, surest first,
    each with its explanation."""
    level = explained_level(model)
    if not len(split):
        return []
    pred, probs = model.predict_arrays(split.texts, 64)
    truth = split.labels[:, level]
    wrong = np.flatnonzero(pred[:, level] != truth)
    confidence = probs[level][np.arange(len(pred)), pred[:, level]]
    rows = wrong[np.argsort(-confidence[wrong], kind="stable")][:n].tolist()
    explained = explain_texts(model, [split.texts[i] for i in rows], targets=[int(pred[i, level]) for i in rows])
    names = model.space.labels[level]
    return [{"row": i, "text": split.texts[i], "true": names[truth[i]], "pred": names[pred[i, level]],
             "confidence": float(confidence[i]), "explanation": e} for i, e in zip(rows, explained)]


def report_sections(model, prepared, n: int = MISTAKES) -> tuple[str, str]:
    """(HTML section, Markdown section) of the report and model card: the most confident test mistakes with their
    attributions and nearest training examples; empty strings when the test split has no mistake."""
    mistakes = confident_mistakes(model, prepared.test, n)
    if not mistakes:
        return "", ""
    train = prepared.train
    try:
        found = Neighbours(model, train.texts, [label_name(r, model.task) for r in train.raw_labels]).find(
            [m["text"] for m in mistakes], k=2)
    except RunDirError:
        found = [[] for _ in mistakes]
    method = mistakes[0]["explanation"].method.replace("_", " ")
    note = (f"The {len(mistakes)} test texts the model got wrong with the highest confidence (often a wrong or "
            f"ambiguous label in the data). Words are coloured by {method} for the predicted label: green pushed "
            "towards it, red away. Right: the nearest training examples by the model's own encoder (cosine).")
    rows = []
    for m, near in zip(mistakes, found):
        neighbours = "<br>".join(f"{escape(_clip(x['text'], 80))} <b>[{escape(x['label'])}]</b> "
                                 f"({x['similarity']:.2f})" for x in near)
        rows.append(f"<tr><td>{html_tokens(m['explanation'])}</td><td>{escape(m['true'])}</td>"
                    f"<td>{escape(m['pred'])} ({m['confidence']:.0%})</td><td>{neighbours}</td></tr>")
    html = (f"<section><h2>The most confident mistakes</h2><p class=\"note\">{escape(note)}</p><table><thead><tr>"
            "<th>Text</th><th>True</th><th>Predicted</th><th>Nearest training examples</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    md_note = (f"The {len(mistakes)} test texts the model got wrong with the highest confidence (often a wrong or "
               f"ambiguous label in the data), the words that pushed most towards the predicted label ({method}, "
               "1 = the strongest) and the nearest training example by the model's own encoder (cosine).")
    md = ["## The most confident mistakes", "", md_note, "",
          "| Text | True | Predicted | Top words | Nearest training example |", "|---|---|---|---|---|"]
    for m, near in zip(mistakes, found):
        top = ", ".join(f"{w} ({s:+.2f})" for w, s in m["explanation"].top(3)) or "—"
        first = f"{_clip(near[0]['text'], 60)} [{near[0]['label']}]" if near else "—"
        md.append(f"| {cell(_clip(m['text'], 90))} | {cell(m['true'])} | {cell(m['pred'])} ({m['confidence']:.0%}) "
                  f"| {cell(top)} | {cell(first)} |")
    return html, "\n".join(md)


def mistake_sections(model, prepared, n: int = MISTAKES) -> tuple[str, str]:
    """`report_sections` for training's report (`evaluation.mistakes: 0` skips it): a failure here (captum
    missing, an exotic network) skips the section with a note instead of failing a finished training run."""
    from ecomtune.console import say

    if n == 0:
        return "", ""
    say(f"explaining the {n} most confident test mistakes (evaluation.mistakes)")
    try:
        return report_sections(model, prepared, n)
    except Exception as exc:  # noqa: BLE001 - the report is written without this section
        say(f"[yellow]note:[/] the report has no confident-mistakes section: {exc}")
        return "", ""
