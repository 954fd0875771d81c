"""Re-ranker benchmark: train and score the cross-encoder re-ranker on top of a finished bi-encoder search run, the
same steps `ecomtune train` runs after the bi-encoder (tasks/search/train.py: `fit_reranker`, `evaluate`), so
re-ranker settings can be compared without re-training the bi-encoder each time.

    ecomtune train search-fashion --set model.reranker=false -o bench/work/search-fashion-bi
    python bench/rerank.py bench/work/search-fashion-bi                         # the preset's re-ranker settings
    python bench/rerank.py bench/work/search-fashion-bi --set training.reranker.loss=pointwise \\
        --set training.reranker.negatives=3 --set training.reranker.max_queries=600 --name pointwise

Writes bench/results/search_rerank.json (one entry per `--name`): test NDCG@10 / MRR / Recall of the bi-encoder
alone, of the re-ranker alone (weight 1) and of the fused score with the weight tuned on validation queries,
the validation table, the training cost and the load average before and after (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
METRICS = ("ndcg@10", "mrr", "recall@10", "recall@100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished search run (its bi-encoder and catalogue embeddings)")
    parser.add_argument("--preset", default="search-fashion", help="the recipe whose data and re-ranker settings "
                                                                    "are used (the run's own data split)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="recipe override, e.g. "
                                                                                "training.reranker.negatives=3")
    parser.add_argument("--name", default="preset", help="the entry's name in the results file")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "search_rerank.json")
    args = parser.parse_args()
    os.chdir(REPO)  # the presets' data paths are relative to the repository root
    from types import SimpleNamespace

    from ecomtune.backbones import resolve_backbone
    from ecomtune.recipes.loader import load_recipe
    from ecomtune.tasks.search.data import load_search_data
    from ecomtune.tasks.search.predict import SearchEngine
    from ecomtune.tasks.search.train import _Run, evaluate, fit_reranker
    from ecomtune.training.meter import Meter

    load_start = os.getloadavg()
    started = time.perf_counter()
    recipe = load_recipe(args.preset, [*args.sets, "model.reranker=true"])
    data = load_search_data(recipe.data)
    engine = SearchEngine.load(args.run, device="cpu")
    if len(engine.ids) != len(data.ids):
        sys.exit(f"{args.run} has {len(engine.ids)} products, the recipe's data {len(data.ids)}: not the same data")
    work = HERE / "work" / f"rerank-{args.name}"
    shutil.rmtree(work, ignore_errors=True)  # its checkpoints would be resumed from
    run = _Run(recipe, SimpleNamespace(path=work), data, {}, engine.encoder, engine.index,
               Meter(engine.encoder.device), {})
    run.vectors = engine.vectors
    m = recipe.model
    fit_reranker(run, resolve_backbone(m.reranker_backbone or m.backbone).path)
    test = evaluate(run)["metrics"]["test"]
    rows = {"bi-encoder alone": {k: test[k] for k in METRICS},
            "re-ranker alone (weight 1)": {k: test[f"rerank_alone_{k}"] for k in METRICS},
            f"fused, weight {run.rerank_weight}": {k: test[f"rerank_{k}"] for k in METRICS}}
    entry = {"command": "python " + " ".join(sys.argv), "run": str(args.run), "overrides": args.sets,
             "reranker_recipe": recipe.training.reranker.model_dump(), "rerank_top": m.rerank_top,
             "test": rows, "weight": run.rerank_weight, "validation": run.rerank_tuning,
             "training": {k: v for k, v in run.trained["reranker"].items() if k != "history"},
             "loss_history": run.trained["reranker"]["history"], "cost": run.cost,
             "seconds": round(time.perf_counter() - started, 1), "load_average_start": load_start,
             "load_average_end": os.getloadavg(), "threads": __import__("torch").get_num_threads()}
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results[args.name] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    print(f"{'':<30}" + "".join(f"{k:>12}" for k in METRICS))
    for name, values in rows.items():
        print(f"{name:<30}" + "".join(f"{values[k]:>12.4f}" for k in METRICS))
    print(f"validation (weight: ndcg@10, mrr): {run.rerank_tuning}\nwrote {args.out}")


if __name__ == "__main__":
    main()
