"""Why an image model chose its label: the Grad-CAM heatmap of the predicted class over the image it read.

The Grad-CAM itself is the report's (`report.gradcam`); this renders it for one prediction at a time — the
`--explain` of `ecomtune predict` and the `"explain": true` of `/v1/image` — as a PNG: the centre crop the
network saw, with the heatmap blended over it (jet colours: red raised the class's score most).

It needs the PyTorch network and its gradients, so ONNX copies cannot be explained (explain the original run),
and nor can backbones without a spatial feature map (ViT-style), which have nothing to place a heatmap on.
"""
from __future__ import annotations

import io
import threading

import numpy as np
import torch

from ecomtune.errors import RunDirError
from ecomtune.tasks.image_classify.images import ImageInput, eval_array
from ecomtune.tasks.image_classify.report import gradcam

ALPHA = 0.45  # heatmap opacity over the image, as in the report's Grad-CAM figure
_ONE_AT_A_TIME = threading.Lock()  # each explanation already uses every core


def explain_images(model, images: list[ImageInput]) -> list[dict]:
    """Per image: {"method": "grad_cam", "target": label, "heatmap": [H, W] in 0..1, "png": heatmap over image}."""
    network = model.model
    if network is None:
        runtime = (model.manifest.get("runtime") or {}).get("name", "onnx")
        raise RunDirError(f"{model.run_dir}: this {runtime} copy has no gradients — Grad-CAM needs the original "
                          "(uncompressed) run")
    arrays = [eval_array(x, model.pre) for x in images]
    pixels = torch.stack([model.pre.normalize(a) for a in arrays]).to(next(network.parameters()).device)
    with _ONE_AT_A_TIME:
        try:
            result = gradcam(network, pixels)
        except RuntimeError as exc:  # int8 layers have no backward
            raise RunDirError(f"{model.run_dir}: this run's network gives no gradients ({str(exc)[:80]}) — Grad-CAM "
                              "needs the original (uncompressed) run") from None
    if result is None:
        raise RunDirError(f"{model.run_dir}: its backbone has no spatial feature map (ViT-style) — Grad-CAM has "
                          "nothing to place a heatmap on")
    cams, top = result
    labels = model.space.labels[-1]
    return [{"method": "grad_cam", "target": labels[int(t)], "heatmap": cam, "png": overlay_png(array, cam)}
            for array, cam, t in zip(arrays, cams, top)]


def overlay_png(image: np.ndarray, cam: np.ndarray) -> bytes:
    """PNG bytes of the HWC uint8 `image` with the [H, W] 0..1 heatmap blended over it in jet colours."""
    from matplotlib import colormaps
    from PIL import Image

    heat = colormaps["jet"](np.clip(cam, 0, 1))[..., :3] * 255
    blended = (1 - ALPHA) * image.astype(np.float32) + ALPHA * heat
    buffer = io.BytesIO()
    Image.fromarray(blended.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
