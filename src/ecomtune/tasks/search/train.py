"""The search training recipe, top to bottom: setup (data, base encoder, its catalogue index, the baselines) ->
train (mine hard negatives, fine-tune the bi-encoder, then the re-ranker on negatives mined with the fine-tuned
bi-encoder, and tune its weight in the fused score on validation queries) -> evaluate -> save the run directory.

    run/
      manifest.json               task "search", recipe, data summary, metrics {"test": ...}, baselines, cost
      recipe.yaml
      model/biencoder/            Hugging Face encoder + tokenizer (safetensors)
      model/crossencoder/         the re-ranker (encoder + head.safetensors), when `model.reranker: true`
      catalogue.jsonl             {"id", "text"} per product, in index order
      embeddings.safetensors      the catalogue's unit vectors [n, dim] (float32)
      README.md                   a short model card
      checkpoints/                only while training: biencoder/ and reranker/ (training.loop), which an
                                  interrupted run continues from with `--resume`
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecomtune.console import say
from ecomtune.errors import DataError
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.retrieval.index import build_index
from ecomtune.reports.slices import SLICES_FILE, write_slices
from ecomtune.rundir import (
    Manifest,
    RunFolder,
    dir_size_mb,
    open_recipe_run,
    read_manifest,
    write_manifest,
)
from ecomtune.tasks.search.biencoder import (
    BiEncoder,
    mine_hard_negatives,
    train_biencoder,
)
from ecomtune.tasks.search.crossencoder import CrossEncoder, fuse, train_crossencoder
from ecomtune.tasks.search.data import (
    QuerySet,
    SearchData,
    load_search_data,
    read_any,
    to_gains,
)
from ecomtune.tasks.search.metrics import Judgments, class_metrics, rank_metrics
from ecomtune.tasks.search.predict import (
    BIENCODER,
    CROSSENCODER,
    SearchEngine,
    write_catalogue,
)
from ecomtune.tasks.search.recipe import SearchRecipe
from ecomtune.tasks.search.slices import search_slices
from ecomtune.training.loop import CHECKPOINTS
from ecomtune.training.meter import Meter


def _recipe(recipe) -> SearchRecipe:
    if isinstance(recipe, SearchRecipe):
        return recipe
    from ecomtune.recipes.loader import load_recipe

    return load_recipe(recipe)


def _depth(recipe: SearchRecipe) -> int:
    e = recipe.evaluation
    return max(max(e.ndcg_k), max(e.recall_k), 3)


def score_rankings(rows: np.ndarray, queries: QuerySet, recipe: SearchRecipe, kind: str) -> dict[str, float]:
    """Rank metrics of rankings [q, depth]; query-class runs add accuracy and top-3 accuracy."""
    e = recipe.evaluation
    out = rank_metrics(rows, queries.judgments(), e.ndcg_k, e.recall_k)
    if kind == "query-classes":
        out.update(class_metrics(rows, [int(p[0]) for p in queries.positives]))
    return out


def rerank_scores(reranker: CrossEncoder, queries: list[str], rows: np.ndarray, texts: list[str],
                  top: int) -> np.ndarray:
    """The cross-encoder's logits [q, top] of each query's first `top` rows."""
    pairs = [(q, texts[int(r)]) for q, ranked in zip(queries, rows) for r in ranked[:top]]
    scores = reranker.score([q for q, _ in pairs], [t for _, t in pairs], batch_size=128)
    return scores.reshape(len(queries), top)


def fused_rankings(rows: np.ndarray, bi_scores: np.ndarray, ce_scores: np.ndarray, weight: float) -> np.ndarray:
    """Each ranking's first `ce_scores.shape[1]` rows re-sorted by `fuse(bi, ce, weight)` (1 = the cross-encoder
    alone); the rest keeps the bi-encoder's order."""
    out, top = rows.copy(), ce_scores.shape[1]
    for i in range(len(rows)):
        fused = ce_scores[i] if weight >= 1 else fuse(bi_scores[i, :top], ce_scores[i], weight)
        out[i, :top] = rows[i, :top][np.argsort(-fused, kind="stable")]
    return out


def rerank_rankings(reranker: CrossEncoder, queries: list[str], rows: np.ndarray, texts: list[str],
                    top: int, bi_scores: np.ndarray | None = None, weight: float = 1.0) -> np.ndarray:
    """The top `top` of each ranking re-sorted by the cross-encoder (fused with `bi_scores` when `weight` < 1)."""
    ce = rerank_scores(reranker, queries, rows, texts, top)
    if bi_scores is None:  # nothing to fuse with: the cross-encoder alone
        return fused_rankings(rows, np.zeros(rows.shape, np.float32), ce, 1.0)
    return fused_rankings(rows, bi_scores, ce, weight)


WEIGHTS = tuple(round(w / 10, 1) for w in range(11))


def tune_weight(rows: np.ndarray, bi_scores: np.ndarray, ce_scores: np.ndarray, judgments: list[Judgments],
                ndcg_k: int) -> tuple[float, dict]:
    """The weight of `WEIGHTS` whose fused rankings score the best NDCG@k + MRR on validation queries (ties: the
    smaller weight), and every weight's (NDCG@k, MRR); weight 0 is the bi-encoder alone."""
    table = {}
    for w in WEIGHTS:
        found = rank_metrics(fused_rankings(rows, bi_scores, ce_scores, w), judgments, [ndcg_k], [ndcg_k])
        table[str(w)] = {f"ndcg@{ndcg_k}": found[f"ndcg@{ndcg_k}"], "mrr": found["mrr"]}
    best = max(WEIGHTS, key=lambda w: (sum(table[str(w)].values()), -w))
    return best, table


def _latency(fn, queries: list[str], n: int = 50) -> dict[str, float]:
    times = []
    for q in queries[:n]:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return {"p50_ms": round(float(np.percentile(times, 50)) * 1000, 2),
            "p99_ms": round(float(np.percentile(times, 99)) * 1000, 2)}


def bm25_baseline(data: SearchData, recipe: SearchRecipe) -> tuple[dict[str, float], float]:
    """(test metrics, index seconds) of BM25 over the product texts."""
    from ecomtune.tasks.search.bm25 import BM25

    start = time.perf_counter()
    bm25 = BM25(data.texts)
    seconds = time.perf_counter() - start
    return score_rankings(bm25.search(data.test.texts, _depth(recipe))[1], data.test, recipe, data.kind), seconds


def tfidf_baseline(data: SearchData, seed: int) -> dict[str, float]:
    """Query categorization baseline: char 2-4-gram TF-IDF + logistic regression on the training queries."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y = np.array([int(p[0]) for p in data.train.positives])
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    clf = LogisticRegression(max_iter=2000, C=10.0, random_state=seed).fit(vec.fit_transform(data.train.texts), y)
    proba = clf.predict_proba(vec.transform(data.test.texts))
    ranked = clf.classes_[np.argsort(-proba, axis=1)[:, :3]]
    return class_metrics(ranked, [int(p[0]) for p in data.test.positives])


def _baseline_section(bm25: dict, seconds: float, tfidf: dict | None) -> dict:
    """The manifest's `baseline` (the shape every family's has), from BM25 (+ TF-IDF for query classes)."""
    out = {"name": "bm25", "features": "BM25 over the product texts", "train_seconds": round(seconds, 2),
           "metrics": {"test": bm25}}
    if tfidf is not None:
        out["others"] = [{"name": "tfidf-logreg", "features": "char 2-4-gram TF-IDF + logistic regression on the "
                          "training queries", "metrics": {"test": tfidf}}]
    return out


def baseline(recipe) -> dict:
    """BM25 on the recipe's test queries (query-class data: TF-IDF + logistic regression too), for `ecomtune
    baseline`: the numbers a fine-tuned search must beat."""
    recipe = _recipe(recipe)
    data = load_search_data(recipe.data)
    bm25, seconds = bm25_baseline(data, recipe)
    tfidf = tfidf_baseline(data, recipe.training.seed) if data.kind == "query-classes" else None
    return _baseline_section(bm25, seconds, tfidf)


@dataclass
class _Run:
    """What `setup` builds and `fit`, `evaluate` and `save` share."""

    recipe: SearchRecipe
    folder: RunFolder
    data: SearchData
    backbone: dict
    encoder: BiEncoder
    index: object  # the base encoder's catalogue index (mining)
    meter: Meter
    cost: dict
    baselines: dict = field(default_factory=dict)
    baseline: dict | None = None
    reranker: CrossEncoder | None = None
    trained: dict = field(default_factory=dict)  # "biencoder", "reranker": what their training returned
    vectors: np.ndarray | None = None  # the catalogue embedded by the fine-tuned bi-encoder (once it is known)
    rerank_weight: float | None = None  # the re-ranker's share of the fused score (given or tuned)
    rerank_tuning: dict | None = None  # validation NDCG / MRR per weight

    @property
    def checkpoints(self) -> Path:
        return self.folder.path / CHECKPOINTS


def train(recipe, resume: bool = False) -> Path:
    """Train a search run from a recipe (path, preset, dict or SearchRecipe); returns the run directory. With
    `resume`, training continues from the checkpoints of the interrupted run."""
    run = setup(_recipe(recipe), resume)
    fit(run)
    return save(run, evaluate(run))


def setup(recipe: SearchRecipe, resume: bool) -> _Run:
    """Read the data (before the run folder: bad data leaves nothing behind), load the base encoder, index the
    catalogue with it and score the baselines."""
    from ecomtune.backbones import resolve_backbone
    from ecomtune.training.device import resolve_device

    m, t = recipe.model, recipe.training
    started = time.perf_counter()
    say("reading data")
    data = load_search_data(recipe.data)
    resolved = resolve_backbone(m.backbone)
    folder = open_recipe_run(recipe, resume)
    say(f"  {len(data.texts)} products, {len(data.train)} training / {len(data.test)} test queries")
    device = resolve_device(t.device)
    say(f"loading backbone {m.backbone} ({device.type})")
    encoder = BiEncoder.from_pretrained(resolved.path, device=device, pooling=m.pooling,
                                        query_max_length=m.query_max_length, max_length=m.max_length)
    cost: dict = {"device": device.type, "products": len(data.texts), "started": started}
    start = time.perf_counter()
    vectors = encoder.encode(data.texts, t.eval_batch_size, progress="embedding the catalogue")
    cost["base_embed_seconds"] = round(time.perf_counter() - start, 1)
    backbone = {"name": resolved.name, "hf_id": resolved.spec.hf_id if resolved.spec else resolved.name,
                "kind": resolved.kind, "pooling": m.pooling}
    run = _Run(recipe, folder, data, backbone, encoder, build_index(vectors, kind=m.index), Meter(device), cost)
    if recipe.evaluation.baselines:
        say("scoring the baselines: BM25 and the un-tuned bi-encoder")
        bm25, seconds = bm25_baseline(data, recipe)
        cost["bm25_index_seconds"] = round(seconds, 2)
        test_vectors = encoder.encode(data.test.texts, t.eval_batch_size, query=True)
        base = score_rankings(run.index.search(test_vectors, _depth(recipe))[1], data.test, recipe, data.kind)
        tfidf = tfidf_baseline(data, t.seed) if data.kind == "query-classes" else None
        run.baselines = {"bm25": bm25, "base": base, **({"tfidf_logreg": tfidf} if tfidf else {})}
        run.baseline = _baseline_section(bm25, seconds, tfidf)
    return run


def fit(run: _Run) -> None:
    """Mine hard negatives with the base encoder, fine-tune the bi-encoder, then (`model.reranker`) the
    re-ranker; each loop checkpoints, and continues from its checkpoint on `--resume`."""
    from ecomtune.backbones import resolve_backbone

    m, t, data, cost = run.recipe.model, run.recipe.training, run.data, run.cost
    say(f"mining hard negatives (top {t.mine_top} per training query)")
    start = time.perf_counter()
    train_vectors = run.encoder.encode(data.train.texts, t.eval_batch_size, query=True)
    hard = mine_hard_negatives(train_vectors, run.index, data.train, t.mine_top, t.mine_skip)
    cost["mine_seconds"] = round(time.perf_counter() - start, 1)
    cost["mined_ids_mb"] = round(hard.nbytes / 2**20, 2)
    say(f"training the bi-encoder on {len(data.train)} queries")
    run.trained["biencoder"] = train_biencoder(run.encoder, data.texts, data.train,
                                               hard if t.hard_negatives else None, t, run.meter,
                                               run.checkpoints / "biencoder")
    if m.reranker:
        fit_reranker(run, resolve_backbone(m.reranker_backbone or m.backbone).path)


def embed_catalogue(run: _Run) -> np.ndarray:
    """The catalogue embedded by the fine-tuned bi-encoder (once: the re-ranker's mining and evaluation share it)."""
    if run.vectors is None:
        start = time.perf_counter()
        run.vectors = run.encoder.encode(run.data.texts, run.recipe.training.eval_batch_size,
                                         progress="embedding the catalogue")
        run.cost["embed_seconds"] = round(time.perf_counter() - start, 1)
        run.cost["embed_products_per_second"] = round(len(run.data.texts) / max(run.cost["embed_seconds"], 1e-3), 1)
    return run.vectors


def fit_reranker(run: _Run, backbone_path) -> None:
    """Train the re-ranker on what it will re-rank: negatives mined from the *fine-tuned* bi-encoder's top results
    (the base encoder's top, which the bi-encoder learnt to push down, is the wrong distribution), on training
    queries other than `validation_queries` held out to tune `model.rerank_weight` on."""
    import random

    m, t, data = run.recipe.model, run.recipe.training, run.data
    r = t.reranker
    index = build_index(embed_catalogue(run), kind=m.index)
    say(f"mining the re-ranker's negatives with the fine-tuned bi-encoder (top {max(t.mine_top, r.negatives)})")
    vectors = run.encoder.encode(data.train.texts, t.eval_batch_size, query=True)
    hard = mine_hard_negatives(vectors, index, data.train, max(t.mine_top, r.negatives), t.mine_skip)
    order = random.Random(t.seed + 2).sample(range(len(data.train)), len(data.train))
    tune = m.rerank_weight is None and r.validation_queries > 0
    held = order[:min(r.validation_queries, len(order) // 5)] if tune else []
    rest = order[len(held):]
    run.reranker = CrossEncoder.from_pretrained(backbone_path, m.reranker_max_length, run.encoder.device)
    say(f"training the cross-encoder re-ranker ({r.loss}, {len(rest[:r.max_queries or None])} queries)")
    run.trained["reranker"] = train_crossencoder(run.reranker, data.texts, data.train, hard, t, run.meter,
                                                 run.checkpoints / "reranker", chosen=rest[:r.max_queries or None])
    run.rerank_weight = 1.0 if m.rerank_weight is None else m.rerank_weight
    if held:
        top = m.rerank_top
        scores, rows = index.search(vectors[held], max(top, _depth(run.recipe)))
        ce = rerank_scores(run.reranker, [data.train.texts[i] for i in held], rows, data.texts, top)
        run.rerank_weight, run.rerank_tuning = tune_weight(rows, scores, ce, [data.train.judged(i) for i in held],
                                                           run.recipe.evaluation.ndcg_k[0])
        say(f"  re-ranker weight {run.rerank_weight} (validation on {len(held)} queries: "
            f"{run.rerank_tuning[str(run.rerank_weight)]})")


def evaluate(run: _Run) -> dict:
    """Embed the catalogue with the fine-tuned encoder and rank every test query over it (then re-rank the top
    with the re-ranker); returns the metrics and the catalogue vectors."""
    m, t, data, cost, encoder = run.recipe.model, run.recipe.training, run.data, run.cost, run.encoder
    vectors = embed_catalogue(run)
    start = time.perf_counter()
    index = build_index(vectors, kind=m.index)
    cost["index_build_seconds"] = round(time.perf_counter() - start, 3)
    say("evaluating on the test queries")
    start = time.perf_counter()
    depth = max(_depth(run.recipe), m.rerank_top if run.reranker is not None else 0)
    scores, rows = index.search(encoder.encode(data.test.texts, t.eval_batch_size, query=True), depth)
    cost["inference_samples_per_second"] = round(len(data.test) / (time.perf_counter() - start), 1)
    test = score_rankings(rows, data.test, run.recipe, data.kind)
    if run.reranker is not None:
        start = time.perf_counter()
        ce = rerank_scores(run.reranker, data.test.texts, rows, data.texts, m.rerank_top)
        cost["rerank_seconds_per_query"] = round((time.perf_counter() - start) / max(1, len(data.test)), 4)
        for prefix, weight in (("rerank_", run.rerank_weight), ("rerank_alone_", 1.0)):
            found = score_rankings(fused_rankings(rows, scores, ce, weight), data.test, run.recipe, data.kind)
            test.update({f"{prefix}{k}": v for k, v in found.items() if k not in ("queries", "queries_skipped")})
    slices = search_slices(run.recipe, data.test, rows)  # NDCG per query length and language (the bi-encoder's)
    return {"metrics": {"test": test}, "vectors": vectors, "slices": slices}


def save(run: _Run, result: dict) -> Path:
    """The models, the catalogue and its embeddings, the manifest with its cost, and the model card; the
    checkpoints go, and a run that replaces another is swapped in."""
    recipe, m, data, run_dir, reranker = run.recipe, run.recipe.model, run.data, run.folder.path, run.reranker
    say("saving")
    run.encoder.save(run_dir / BIENCODER)
    if reranker is not None:
        reranker.save(run_dir / CROSSENCODER)
    write_catalogue(run_dir, data.ids, data.texts, result["vectors"])
    engine = SearchEngine(run.encoder, data.ids, data.texts, result["vectors"], m.index, reranker, m.rerank_top,
                          rerank_weight=run.rerank_weight if run.rerank_weight is not None else 1.0)
    engine.search("warm up", k=10)
    cost = _cost(run, engine)
    history = {"biencoder": run.trained["biencoder"]["history"],
               "reranker": run.trained["reranker"]["history"] if reranker is not None else None}
    model = {**m.model_dump(mode="json"), "biencoder": BIENCODER,
             "crossencoder": CROSSENCODER if reranker is not None else None, "dim": run.encoder.dim,
             "rerank_weight": run.rerank_weight, "rerank_weight_validation": run.rerank_tuning}
    catalogue = {"file": "catalogue.jsonl", "embeddings": "embeddings.safetensors", "products": len(data.ids)}
    manifest = Manifest(
        name=recipe.name, task="search", language=recipe.language, description=recipe.description,
        backbone=run.backbone, recipe=recipe_to_store(recipe, run.folder.final),
        data={"format": data.kind, **data.info}, metrics=result["metrics"], cost=cost, baseline=run.baseline,
        history=history, extra={"model": model, "catalogue": catalogue, "baselines": run.baselines or None})
    write_slices(run_dir / SLICES_FILE, result["slices"])
    write_manifest(run_dir, manifest)
    _model_card(run_dir, manifest.to_dict())
    shutil.rmtree(run.checkpoints, ignore_errors=True)
    return run.folder.finish()


def _cost(run: _Run, engine: SearchEngine) -> dict:
    """The common cost fields (training.meter, parameters, size, throughput) and search's own."""
    cost, bi, rr = dict(run.cost), run.trained["biencoder"], run.trained.get("reranker")
    models = [run.encoder.model] + ([run.reranker] if run.reranker is not None else [])
    cost["search_latency"] = _latency(lambda q: engine.search(q, k=10), run.data.test.texts)
    if run.reranker is not None:
        cost["search_rerank_latency"] = _latency(lambda q: engine.search(q, k=10, rerank=True),
                                                 run.data.test.texts, 20)
    cost.update(run.meter.summary())  # both models' training
    cost.update({"trainable_params": bi["trainable_params"] + (rr["trainable_params"] if rr else 0),
                 "total_params": int(sum(p.numel() for model in models for p in model.parameters())),
                 "steps": bi["steps"] + (rr["steps"] if rr else 0), "biencoder_steps": bi["steps"],
                 "biencoder_train_seconds": bi["train_seconds"], "train_queries_per_second": bi["queries_per_second"],
                 "total_seconds": round(time.perf_counter() - cost.pop("started"), 1),
                 "model_size_mb": round(dir_size_mb(run.folder.path / "model"), 1)})
    if rr:
        cost.update({"reranker_steps": rr["steps"], "reranker_train_seconds": rr["train_seconds"]})
    return cost


def _model_card(run_dir: Path, manifest: dict) -> None:
    """The shared model card, with the catalogue and every baseline of the run."""
    from ecomtune.reports import write_model_card

    rows = ["| baseline | " + " | ".join(manifest["metrics"]["test"]) + " |",
            "|---|" + "---|" * len(manifest["metrics"]["test"])]
    for name, values in (manifest.get("baselines") or {}).items():
        rows.append(f"| {name} | " + " | ".join(str(values.get(k, "")) for k in manifest["metrics"]["test"]) + " |")
    write_model_card(run_dir, manifest, pipeline_tag="sentence-similarity", sections=(
        "## Baselines\n\nSame test queries, same metrics.\n\n" + "\n".join(rows),), what=(
        f"ranks the {manifest['catalogue']['products']} products of its catalogue for a search query: a bi-encoder "
        f"fine-tuned from `{manifest['backbone']['name']}` (data format `{manifest['data']['format']}`)"), usage=(
        "```bash\necomtune search RUN_DIR --query \"black running shoes\" -k 10\n```\n\n"
        "```python\nfrom ecomtune import load\n\nload(\"RUN_DIR\").search(\"black running shoes\", k=10)\n```"))


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, device: str = "auto") -> dict:
    """Metrics of a search run: on its recipe's own test queries, or on a judgments table (`data`) whose products
    are in the run's catalogue (by id, else by text) and whose columns are the recipe's."""
    run_dir = Path(run_dir)
    recipe = recipe_of_run(run_dir, read_manifest(run_dir), need_data=data is None)
    engine = SearchEngine.load(run_dir, device=device)
    if data is None:
        queries, kind = load_search_data(recipe.data).test, recipe.data.format
    else:
        queries, kind = _judged_file(engine, recipe, data), "judgments"
    depth = max(_depth(recipe), engine.rerank_top if engine.reranker is not None else 0)
    scores, rows = engine.ranked_rows(engine.embed_queries(queries.texts), depth)
    out = score_rankings(rows, queries, recipe, kind)
    if engine.reranker is not None:
        top = min(engine.rerank_top, rows.shape[1])
        reranked = rerank_rankings(engine.reranker, queries.texts, rows, engine.texts, top, scores,
                                   engine.rerank_weight)
        for key, value in score_rankings(reranked, queries, recipe, kind).items():
            if key not in ("queries", "queries_skipped"):
                out[f"rerank_{key}"] = value
    out["slices"] = search_slices(recipe, queries, rows)
    out["rows"] = float(len(queries))
    out["rows_with_unknown_labels"] = 0.0
    return out


def _judged_file(engine: SearchEngine, recipe: SearchRecipe, path) -> QuerySet:
    from ecomtune.tasks.search.data import (
        check_nonempty,
        judgment_queries,
        require_columns,
    )

    d = recipe.data
    frame = read_any(path)
    require_columns(frame, path, {d.query_column: "data.query_column", d.product_column: "data.product_column",
                                  d.label_column: "data.label_column"})
    frame = check_nonempty(frame, path, [d.query_column, d.product_column, d.label_column], d.bad_rows)
    gains = to_gains(frame[d.label_column], path, d.label_column, d.label_map)
    by_id = {pid: i for i, pid in enumerate(engine.ids)}
    by_text = {text: i for i, text in enumerate(engine.texts)}
    rows = []
    for i, value in zip(frame.index, frame[d.product_column].astype(str)):
        row = by_id.get(value, by_text.get(value))
        if row is None:
            raise DataError(f"{path}: line {int(i) + 2}, column `{d.product_column}`: product {value!r} is not in the "
                            "run's catalogue — add it with `SearchEngine.add_products` or remove the row")
        rows.append(row)
    import pandas as pd

    judged = pd.DataFrame({"query": frame[d.query_column].astype(str).str.strip(), "row": rows, "gain": gains})
    judged = judged.groupby(["query", "row"], as_index=False, sort=False)["gain"].max()
    queries = list(dict.fromkeys(judged["query"]))
    return judgment_queries(judged, queries, d.relevant_min)
