"""`task: guide` — the home-furnishing shopping guide: a room photo and/or a request -> a ranked, coherent bundle
within budget, with a reason per item.

Modules: `recipe`, `catalogue` (read and check a catalogue and a rooms table), `data` (everything read and encoded
once: `Build`), `evaluate` (matching metrics and the frozen baselines), `features` (the frozen image and text
encoders), `matching` (the trained scene x product matcher), `scenes` (scene recognition from a photo), `profile`
(the shopper's history), `train` (`guide build`), `predict` (`Guide.ask`), `page` (the answer as an HTML page),
`request` (parse a Chinese or English request: scene, budget, style, colour, must-haves), `pieces` (the
furnishing pieces and the keyword rules that map a catalogue's product types onto them), `bundle` (the exact
branch-and-bound bundle solver).
"""
from ecomtune.registry import Task, register_task

register_task(Task(
    name="guide", summary="room photo and/or request -> a coherent bundle of products within budget, with reasons",
    endpoint="/v1/guide", router="ecomtune.deploy.serve.routers.guide:router",
    recipe="ecomtune.tasks.guide.recipe:GuideRecipe", check="ecomtune.tasks.guide.train:check",
    train="ecomtune.tasks.guide.train:train", baseline="ecomtune.tasks.guide.train:baseline",
    load="ecomtune.tasks.guide.predict:Guide.load", evaluate="ecomtune.tasks.guide.train:evaluate_run",
    inputs="requests"))
