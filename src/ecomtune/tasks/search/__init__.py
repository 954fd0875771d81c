"""Search relevance: a bi-encoder (query <-> product text) fine-tuned with in-batch and mined hard negatives, a
cross-encoder re-ranker, BM25 as the lexical baseline, and graded full-catalogue metrics (NDCG@K, MRR, Recall@K).

Modules: `recipe` (the validated `task: search` recipe), `data` (judgment tables incl. ESCI, query -> class tables
incl. WANDS), `relevance` (the fashion relevance set), `biencoder`, `crossencoder`, `bm25`, `metrics`, `train`
(train / evaluate_run) and `predict` (`SearchEngine`).
"""
