"""The search training recipe, as one readable script: data -> base encoder -> baselines -> mine hard negatives ->
fine-tune the bi-encoder -> embed the catalogue -> (train the re-ranker) -> evaluate -> save the run directory.

    run/
      manifest.json               task "search", recipe, data summary, metrics {"test": ...}, baselines, cost
      recipe.yaml
      model/biencoder/            Hugging Face encoder + tokenizer (safetensors)
      model/crossencoder/         the re-ranker (encoder + head.safetensors), when `model.reranker: true`
      catalogue.jsonl             {"id", "text"} per product, in index order
      embeddings.safetensors      the catalogue's unit vectors [n, dim] (float32)
      README.md                   a short model card
"""
from __future__ import annotations

import resource
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from ecomtune.console import say
from ecomtune.errors import DataError, RunDirError
from ecomtune.retrieval.index import build_index
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.rundir import dir_size_mb, open_recipe_run, read_manifest, versions, write_manifest
from ecomtune.tasks.search.biencoder import (
    BiEncoder,
    mine_hard_negatives,
    train_biencoder,
)
from ecomtune.tasks.search.crossencoder import CrossEncoder, train_crossencoder
from ecomtune.tasks.search.data import (
    QuerySet,
    SearchData,
    load_search_data,
    read_any,
    to_gains,
)
from ecomtune.tasks.search.metrics import class_metrics, rank_metrics
from ecomtune.tasks.search.predict import (
    BIENCODER,
    CROSSENCODER,
    SearchEngine,
    write_catalogue,
)
from ecomtune.tasks.search.recipe import SearchRecipe


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


def rerank_rankings(reranker: CrossEncoder, queries: list[str], rows: np.ndarray, texts: list[str],
                    top: int) -> np.ndarray:
    """The top `top` of each ranking re-sorted by the cross-encoder; the rest keeps the bi-encoder's order."""
    out = rows.copy()
    for i, q in enumerate(queries):
        out[i, :top] = reranker.rerank(q, rows[i, :top], texts)[1]
    return out


def _latency(fn, queries: list[str], n: int = 50) -> dict[str, float]:
    times = []
    for q in queries[:n]:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return {"p50_ms": round(float(np.percentile(times, 50)) * 1000, 2),
            "p99_ms": round(float(np.percentile(times, 99)) * 1000, 2)}


def train(recipe, resume: bool = False) -> Path:
    """Train a search run from a recipe (path, preset, dict or SearchRecipe); returns the run directory."""
    from ecomtune.backbones import resolve_backbone
    from ecomtune.training.device import resolve_device

    recipe = _recipe(recipe)
    m, t = recipe.model, recipe.training
    if resume:
        raise RunDirError(f"{recipe.output.dir or 'runs/' + recipe.name}: search runs do not resume (they train in "
                          "minutes) — run again with --overwrite")
    started = time.perf_counter()
    say("reading data")
    data = load_search_data(recipe.data)  # before the run folder: bad data leaves nothing behind
    resolved = resolve_backbone(m.backbone)
    folder = open_recipe_run(recipe, resume)
    run_dir = folder.path
    say(f"  {len(data.texts)} products, {len(data.train)} training / {len(data.test)} test queries")
    device = resolve_device(t.device)
    say(f"loading backbone {m.backbone} ({device.type})")
    encoder = BiEncoder.from_pretrained(resolved.path, device=device, pooling=m.pooling,
                                        query_max_length=m.query_max_length, max_length=m.max_length)
    cost: dict = {"device": device.type, "products": len(data.texts)}
    depth = _depth(recipe)
    metrics: dict = {}
    baselines: dict = {}

    start = time.perf_counter()
    vectors = encoder.encode(data.texts, t.eval_batch_size, progress="embedding the catalogue")
    cost["base_embed_seconds"] = round(time.perf_counter() - start, 1)
    index = build_index(vectors, kind=m.index)
    if recipe.evaluation.baselines:
        from ecomtune.tasks.search.bm25 import BM25

        say("scoring the baselines: BM25 and the un-tuned bi-encoder")
        start = time.perf_counter()
        bm25 = BM25(data.texts)
        cost["bm25_index_seconds"] = round(time.perf_counter() - start, 2)
        baselines["bm25"] = score_rankings(bm25.search(data.test.texts, depth)[1], data.test, recipe, data.kind)
        test_vectors = encoder.encode(data.test.texts, t.eval_batch_size, query=True)
        baselines["base"] = score_rankings(index.search(test_vectors, depth)[1], data.test, recipe, data.kind)
        if data.kind == "query-classes":
            baselines["tfidf_logreg"] = tfidf_baseline(data, t.seed)

    say(f"mining hard negatives (top {t.mine_top} per training query)")
    start = time.perf_counter()
    train_vectors = encoder.encode(data.train.texts, t.eval_batch_size, query=True)
    mine_width = max(t.mine_top, t.reranker.negatives if m.reranker else 0)
    hard = mine_hard_negatives(train_vectors, index, data.train, mine_width, t.mine_skip)
    cost["mine_seconds"] = round(time.perf_counter() - start, 1)
    cost["mined_ids_mb"] = round(hard.nbytes / 2**20, 2)

    say(f"training the bi-encoder on {len(data.train)} queries")
    bi = train_biencoder(encoder, data.texts, data.train, hard if t.hard_negatives else None, t)
    cost.update({"train_seconds": bi["train_seconds"], "train_queries_per_second": bi["queries_per_second"],
                 "steps": bi["steps"], "trainable_params": bi["trainable_params"]})

    start = time.perf_counter()
    vectors = encoder.encode(data.texts, t.eval_batch_size, progress="embedding the catalogue")
    cost["embed_seconds"] = round(time.perf_counter() - start, 1)
    cost["embed_products_per_second"] = round(len(data.texts) / max(cost["embed_seconds"], 1e-3), 1)
    start = time.perf_counter()
    index = build_index(vectors, kind=m.index)
    cost["index_build_seconds"] = round(time.perf_counter() - start, 3)
    say("evaluating on the test queries")
    test_vectors = encoder.encode(data.test.texts, t.eval_batch_size, query=True)
    rows = index.search(test_vectors, depth)[1]
    metrics["test"] = score_rankings(rows, data.test, recipe, data.kind)

    reranker = None
    rerank_info = None
    if m.reranker:
        rpath = resolve_backbone(m.reranker_backbone or m.backbone).path
        reranker = CrossEncoder.from_pretrained(rpath, m.reranker_max_length, device)
        say("training the cross-encoder re-ranker")
        rerank_info = train_crossencoder(reranker, data.texts, data.train, hard, t)
        cost["reranker_train_seconds"] = rerank_info["train_seconds"]
        top = min(m.rerank_top, rows.shape[1])
        start = time.perf_counter()
        reranked = rerank_rankings(reranker, data.test.texts, rows, data.texts, top)
        cost["rerank_seconds_per_query"] = round((time.perf_counter() - start) / max(1, len(data.test)), 4)
        for key, value in score_rankings(reranked, data.test, recipe, data.kind).items():
            if key not in ("queries", "queries_skipped"):
                metrics["test"][f"rerank_{key}"] = value

    say("saving")
    encoder.save(run_dir / BIENCODER)
    if reranker is not None:
        reranker.save(run_dir / CROSSENCODER)
    write_catalogue(run_dir, data.ids, data.texts, vectors)
    engine = SearchEngine(encoder, data.ids, data.texts, vectors, m.index, reranker, m.rerank_top)
    engine.search("warm up", k=10)
    cost["search_latency"] = _latency(lambda q: engine.search(q, k=10), data.test.texts)
    if reranker is not None:
        cost["search_rerank_latency"] = _latency(lambda q: engine.search(q, k=10, rerank=True), data.test.texts, 20)
    cost.update({"total_seconds": round(time.perf_counter() - started, 1),
                 "model_size_mb": round(dir_size_mb(run_dir / "model"), 1),
                 "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    manifest = {
        "ecomtune_version": versions()["ecomtune"],
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "name": recipe.name,
        "task": "search",
        "language": recipe.language,
        "description": recipe.description,
        "backbone": {"name": resolved.name, "hf_id": resolved.spec.hf_id if resolved.spec else resolved.name,
                     "kind": resolved.kind, "pooling": m.pooling},
        "model": {**m.model_dump(mode="json"), "biencoder": BIENCODER,
                  "crossencoder": CROSSENCODER if reranker is not None else None, "dim": encoder.dim},
        "catalogue": {"file": "catalogue.jsonl", "embeddings": "embeddings.safetensors", "products": len(data.ids)},
        "recipe": recipe_to_store(recipe, folder.final),
        "data": {"format": data.kind, **data.info},
        "metrics": metrics,
        "baselines": baselines or None,
        "cost": cost,
        "history": {"biencoder": bi["history"], "reranker": rerank_info["history"] if rerank_info else None},
        "versions": versions(),
    }
    write_manifest(run_dir, {k: v for k, v in manifest.items() if v is not None})
    _model_card(run_dir, manifest)
    return folder.finish()


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


def _model_card(run_dir: Path, manifest: dict) -> None:
    test = manifest["metrics"]["test"]
    lines = [f"# {manifest['name']} (ecomtune search)", "", manifest.get("description") or "", "",
             (f"Bi-encoder `{manifest['backbone']['name']}` over {manifest['catalogue']['products']} products "
             f"(data format `{manifest['data']['format']}`)."), "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in test.items()]
    for name, values in (manifest.get("baselines") or {}).items():
        lines += ["", f"Baseline `{name}`: " + ", ".join(f"{k} {v}" for k, v in values.items())]
    lines += ["", "Load: `ecomtune.load(RUN_DIR).search('query', k=10)`; CLI: `ecomtune search RUN_DIR --query ...`"]
    (run_dir / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, device: str = "auto") -> dict:
    """Metrics of a search run: on its recipe's own test queries, or on a judgments table (`data`) whose products
    are in the run's catalogue (by id, else by text) and whose columns are the recipe's."""
    run_dir = Path(run_dir)
    recipe = recipe_of_run(run_dir, read_manifest(run_dir))
    engine = SearchEngine.load(run_dir, device=device)
    if data is None:
        queries, kind = load_search_data(recipe.data).test, recipe.data.format
    else:
        queries, kind = _judged_file(engine, recipe, data), "judgments"
    depth = _depth(recipe)
    rows = engine.ranked_rows(engine.embed_queries(queries.texts), depth)[1]
    out = score_rankings(rows, queries, recipe, kind)
    if engine.reranker is not None:
        top = min(engine.rerank_top, rows.shape[1])
        reranked = rerank_rankings(engine.reranker, queries.texts, rows, engine.texts, top)
        for key, value in score_rankings(reranked, queries, recipe, kind).items():
            if key not in ("queries", "queries_skipped"):
                out[f"rerank_{key}"] = value
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
