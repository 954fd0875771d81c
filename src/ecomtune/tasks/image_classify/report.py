"""The image sections of a run's report: the most confident test mistakes, and Grad-CAM heatmaps.

Grad-CAM (Selvaraju et al. 2017): the gradient of the predicted class's logit with respect to the last
convolutional feature map, averaged per channel, weighs that map's channels; the positive part of the weighted sum,
upsampled, shows where the network looked. ViT-style backbones have no spatial feature map and get no heatmap.
"""
from __future__ import annotations

import threading
from html import escape
from pathlib import Path

import numpy as np
import torch

from ecomtune.tasks.image_classify.images import eval_tensor, thumbnail

PLOTS = "plots"


def _name(space, ids) -> str:
    return " > ".join(space.labels[i][j] for i, j in enumerate(ids))


def confident_mistakes(split, pred: np.ndarray, probs: list[np.ndarray], n: int) -> list[tuple[int, float]]:
    """(row, confidence) of the `n` wrong predictions the model was surest of, surest first."""
    wrong = np.flatnonzero((pred != split.labels).any(axis=1))
    score = probs[-1][np.arange(len(pred)), pred[:, -1]]
    return [(int(i), float(score[i])) for i in wrong[np.argsort(-score[wrong])][:n]]


def plot_mistakes(split, space, pred, mistakes: list[tuple[int, float]], path: Path) -> Path | None:
    if not mistakes:
        return None
    import matplotlib.pyplot as plt

    cols = min(4, len(mistakes))
    rows = -(-len(mistakes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (i, score) in zip(axes.flat, mistakes):
        ax.imshow(thumbnail(split.paths[i]))
        ax.set_title(f"true: {_name(space, split.labels[i])}\npred: {_name(space, pred[i])} ({score:.0%})",
                     fontsize=8, color="#cf222e")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _feature_module(network) -> torch.nn.Module | None:
    backbone = network.backbone
    if hasattr(backbone, "head"):  # EfficientNet-Lite: the head conv's output map
        return backbone.head
    model = getattr(backbone, "model", None)
    if model is not None and getattr(model.config, "hidden_sizes", None):  # HF CNNs (ResNet, ConvNeXt)
        return model.encoder
    return None


def gradcam(network, pixels: torch.Tensor) -> tuple[np.ndarray, np.ndarray] | None:
    """(heatmaps [n, H, W] in 0..1, predicted finest-level ids) for a pixel batch; None without a feature map."""
    module = _feature_module(network)
    if module is None:
        return None
    saved: dict = {}
    me = threading.get_ident()

    def hook(_, __, output):
        if threading.get_ident() != me:  # a service's inference thread running the same network meanwhile
            return
        fmap = output if torch.is_tensor(output) else output.last_hidden_state
        fmap.retain_grad()
        saved["fmap"] = fmap

    handle = module.register_forward_hook(hook)
    try:
        network.eval()
        with torch.enable_grad():
            pixels = pixels.clone().requires_grad_(True)  # gradients flow even through frozen layers
            logits = network(pixels)["logits"][-1]
            top = logits.argmax(dim=-1)
            logits.gather(1, top[:, None]).sum().backward()
        fmap, grad = saved["fmap"], saved["fmap"].grad
        cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * fmap).sum(dim=1, keepdim=True))
        cam = torch.nn.functional.interpolate(cam, size=pixels.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        cam = cam / cam.flatten(1).max(dim=1).values.clamp_min(1e-8)[:, None, None]
        return cam.detach().numpy(), top.numpy()
    finally:
        handle.remove()
        network.zero_grad(set_to_none=True)


def plot_gradcam(network, split, space, pre, n: int, path: Path, rows: list[int] | None = None) -> Path | None:
    """Grad-CAM of `n` test images spread over the split (or of the given `rows`)."""
    if n == 0 or not len(split) or network is None or rows == []:
        return None
    if rows is None:
        rows = np.linspace(0, len(split) - 1, min(n, len(split))).astype(int).tolist()  # spread over the classes
    pixels = torch.stack([eval_tensor(split.paths[i], pre) for i in rows])
    result = gradcam(network, pixels)
    if result is None:
        return None
    import matplotlib.pyplot as plt

    cams, top = result
    images = (pixels.permute(0, 2, 3, 1).numpy() * np.array(pre.std) + np.array(pre.mean)).clip(0, 255) / 255
    cols = min(3, len(rows))
    fig, axes = plt.subplots(-(-len(rows) // cols), cols * 2, figsize=(2.6 * cols * 2, 2.9 * -(-len(rows) // cols)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, i in enumerate(rows):
        left, right = axes.flat[2 * k], axes.flat[2 * k + 1]
        left.imshow(images[k])
        left.set_title(f"true: {space.labels[-1][split.labels[i][-1]]}", fontsize=8)
        right.imshow(images[k])
        right.imshow(cams[k], cmap="jet", alpha=0.45)
        right.set_title(f"Grad-CAM of: {space.labels[-1][top[k]]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def image_sections(run_dir: Path, model, prepared, test: dict, evaluation) -> list[str]:
    """Write plots/mistakes.png and plots/gradcam.png; return their report sections (HTML)."""
    folder = Path(run_dir) / PLOTS
    folder.mkdir(parents=True, exist_ok=True)
    split, space = prepared.test, prepared.space
    sections = []
    mistakes = confident_mistakes(split, test["pred"], test["probs"], evaluation.mistakes)
    if plot_mistakes(split, space, test["pred"], mistakes, folder / "mistakes.png"):
        sections.append(_section("The most confident mistakes",
                                 f"The {len(mistakes)} test images the model got wrong with the highest confidence "
                                 "(often a wrong or ambiguous label in the data).", "mistakes.png"))
    if plot_gradcam(model.model, split, space, model.pre, evaluation.gradcam, folder / "mistakes_gradcam.png",
                    rows=[i for i, _ in mistakes]):
        sections.append(_section("Where the model looked on those mistakes (Grad-CAM)",
                                 "The same images with the heatmap of the (wrongly) predicted class: a heatmap on the "
                                 "background or on another object says what misled the model.",
                                 "mistakes_gradcam.png"))
    if plot_gradcam(model.model, split, space, model.pre, evaluation.gradcam, folder / "gradcam.png"):
        sections.append(_section("Where the model looks (Grad-CAM)",
                                 "Heatmaps of the predicted class on test images spread over the split: red is "
                                 "what raised that class's score most.", "gradcam.png"))
    return sections


def _section(title: str, note: str, image: str) -> str:
    return (f"<h2>{escape(title)}</h2>\n<p class=\"note\">{escape(note)}</p>\n"
            f"<img src=\"{PLOTS}/{image}\" alt=\"{escape(title)}\">")
