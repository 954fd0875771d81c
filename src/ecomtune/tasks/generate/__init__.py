"""`task: generate` — supervised fine-tuning of a causal LM on (input -> output) pairs: ad copy from product
attributes, descriptions, replies; LoRA/AdaLoRA/IA3/prefix/prompt tuning through peft, or the whole model.

Modules: `recipe`, `data` (pairs, prompts, the loss mask, length-grouped batches), `sft` (the fine-tuning loop),
`model` (`LanguageModel`: batched and streamed decoding), `metrics` (BLEU-4, ROUGE, distinct-2 as AdvertiseGen is
scored), `attributes` (attribute coverage and contradictions), `baselines` (retrieval, the untuned instruct
model), `train` (train / evaluate_run), `predict` (`Generator`).
"""
from ecomtune.registry import Task, register_task

register_task(Task(
    name="generate", summary="input -> text: a causal LM fine-tuned on (input, output) pairs, e.g. ad copy",
    endpoint="/v1/generate", router="ecomtune.deploy.serve.routers.generate:router",
    recipe="ecomtune.tasks.generate.recipe:GenerateRecipe", check="ecomtune.tasks.generate.train:check",
    train="ecomtune.tasks.generate.train:train", baseline="ecomtune.tasks.generate.train:baseline",
    load="ecomtune.tasks.generate.predict:Generator.load", evaluate="ecomtune.tasks.generate.train:evaluate_run",
    export="ecomtune.tasks.generate.export:export", compress="ecomtune.tasks.generate.export:compress",
    inputs="inputs"))
