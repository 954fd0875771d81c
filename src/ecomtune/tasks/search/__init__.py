"""Search relevance: a bi-encoder (query <-> product text) fine-tuned with in-batch and mined hard negatives, a
cross-encoder re-ranker, BM25 as the lexical baseline, and graded full-catalogue metrics (NDCG@K, MRR, Recall@K).

Modules: `recipe` (the validated `task: search` recipe), `data` (judgment tables incl. ESCI, query -> class tables
incl. WANDS), `relevance` (the fashion relevance set), `biencoder`, `crossencoder`, `bm25`, `metrics`, `train`
(train / evaluate_run) and `predict` (`SearchEngine`).
"""
from ecomtune.registry import Task, register_task

register_task(Task(
    name="search", summary="product search: a fine-tuned bi-encoder over the catalogue, optional re-ranker",
    endpoint="/v1/search", router="ecomtune.deploy.serve.routers.search:router",
    recipe="ecomtune.tasks.search.recipe:SearchRecipe", check="ecomtune.tasks.search.data:check",
    train="ecomtune.tasks.search.train:train", baseline="ecomtune.tasks.search.train:baseline",
    load="ecomtune.tasks.search.predict:SearchEngine.load", evaluate="ecomtune.tasks.search.train:evaluate_run",
    inputs="queries"))
