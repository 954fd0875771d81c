"""Recommendation: what a user buys next, from their history (sasrec, two_tower), ranked over the whole catalogue.

Modules: `recipe` (the validated `task: recommend` recipe), `data` (interactions, leave-one-out split, cold items),
`sasrec`, `two_tower`, `item_text` (item/profile text embeddings), `train` (train / evaluate_run) and `predict`
(`Recommender`).
"""
from ecomtune.registry import Task, register_task

register_task(Task(
    name="recommend", summary="next-item recommendation from user histories (sasrec, two_tower), full ranking",
    endpoint="/v1/recommend", router="ecomtune.deploy.serve.routers.recommend:router",
    recipe="ecomtune.tasks.recommend.recipe:RecommendRecipe", check="ecomtune.tasks.recommend.data:check",
    train="ecomtune.tasks.recommend.train:train", baseline="ecomtune.tasks.recommend.train:baseline",
    load="ecomtune.tasks.recommend.predict:Recommender.load",
    evaluate="ecomtune.tasks.recommend.train:evaluate_run", inputs="users", distributed=True))
