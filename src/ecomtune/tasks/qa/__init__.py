"""`task: qa` — product Q&A: answers to shoppers' questions from the product's other answered questions (a
generator fine-tuned on them, behind a retrieval gate that says when they do not say), plus a yes/no answerer.

Modules: `recipe`, `data` (read, validate, split by product), `context` (per-product retrieval: BM25 or the
MiniLM bi-encoder), `yesno` (majority, TF-IDF, MiniLM yes/no answerers), `answer` (prompt, gate, yes/no
questions), `train` (train / evaluate_run), `predict` (`ProductQA`). The generator is the `generate` task's.
"""
from ecomtune.registry import Task, register_task

register_task(Task(
    name="qa", summary="product Q&A: answers from the product's other answered questions, or says they do not say",
    endpoint="/v1/qa", router="ecomtune.deploy.serve.routers.qa:router",
    recipe="ecomtune.tasks.qa.recipe:QARecipe", check="ecomtune.tasks.qa.train:check",
    train="ecomtune.tasks.qa.train:train", baseline="ecomtune.tasks.qa.train:baseline",
    load="ecomtune.tasks.qa.predict:ProductQA.load", evaluate="ecomtune.tasks.qa.train:evaluate_run",
    export="ecomtune.tasks.generate.export:export", compress="ecomtune.tasks.generate.export:compress",
    inputs="questions"))
