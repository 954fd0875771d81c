"""Image training end to end on tiny random backbones (a 2-stage ResNet, a 2-layer ViT; 32 px): the run directory,
the predictor, taxonomies, linear probe / freeze_layers / LoRA leave exactly the weights they should, mixup,
--resume, Grad-CAM, and the late fusion of two models."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torch import nn

import ecomtune
from ecomtune.recipes import load_recipe
from ecomtune.tasks.image_classify import fusion
from ecomtune.tasks.image_classify.backbones import build_backbone
from ecomtune.tasks.image_classify.data import ImageSplit, prepare_images
from ecomtune.tasks.image_classify.images import mix
from ecomtune.tasks.image_classify.network import ImageClassifier
from ecomtune.tasks.image_classify.recipe import AugmentConfig
from ecomtune.tasks.image_classify.report import confident_mistakes, gradcam
from ecomtune.tasks.image_classify.train import build_model

COLOURS = {"red": (210, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 210)}
GROUP = {"red": "warm", "green": "warm", "blue": "cold"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a loaded machine: torch's thread pool costs more than it brings (10x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(colour: tuple[int, int, int], seed: int, side: int = 40) -> Image.Image:
    pixels = np.random.default_rng(seed).normal(0, 30, (side, side, 3)) + np.array(colour)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def photo_table(folder: Path, colours: tuple[str, ...] = ("red", "blue"), counts=(("train", 12), ("valid", 3),
                                                                                   ("test", 4))) -> Path:
    """`labels.csv` (paths relative to it, `label`, `group`, `split`) of noise photos whose colour is the class."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for c, name in enumerate(colours):
        k = 0
        for split, n in counts:
            for _ in range(n):
                photo(COLOURS[name], 1000 * c + k).save(folder / "img" / f"{name}{k}.png")
                rows.append({"path": f"img/{name}{k}.png", "label": name, "group": GROUP[name], "split": split})
                k += 1
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder / "labels.csv"


def recipe(table: Path, backbone: str, out: Path, *, training: dict | None = None, data: dict | None = None,
           model: dict | None = None, evaluation: dict | None = None) -> dict:
    return {"name": out.name, "task": "image-classify",
            "data": {"train": str(table), "split_column": "split", **(data or {})},
            "model": {"backbone": backbone, "image_size": 32, **(model or {})},
            "training": {"epochs": 1, "batch_size": 8, "device": "cpu", **(training or {})},
            "evaluation": {"baseline": False, "gradcam": 0, "mistakes": 0, **(evaluation or {})},
            "output": {"dir": str(out)}}


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory) -> str:
    from transformers import ViTConfig, ViTModel

    path = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=32)).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Red vs blue (12 train / 3 valid / 4 test each), plus one red test photo labelled blue: a sure mistake."""
    folder = tmp_path_factory.mktemp("photos")
    table = photo_table(folder)
    photo(COLOURS["red"], 99).save(folder / "img" / "mislabelled.png")
    frame = pd.read_csv(table)
    frame.loc[len(frame)] = {"path": "img/mislabelled.png", "label": "blue", "group": "cold", "split": "test"}
    frame.to_csv(table, index=False)
    return table


@pytest.fixture(scope="module")
def run(photos, tiny_resnet, tmp_path_factory) -> Path:
    """The full run: 4 epochs, the baseline, two confident mistakes and two Grad-CAM heatmaps in the report."""
    out = tmp_path_factory.mktemp("runs") / "colours"
    return ecomtune.train(recipe(photos, tiny_resnet, out, training={"epochs": 4, "learning_rate": 1e-2},
                                 evaluation={"baseline": True, "gradcam": 2, "mistakes": 2}))


def pretrained(path: str) -> nn.Module:
    from transformers import AutoModel

    return AutoModel.from_pretrained(path)


def backbone_weights(path: str) -> dict[str, torch.Tensor]:
    """The pretrained weights under the names the model uses (transformers 5 renames some on load)."""
    return pretrained(path).state_dict()


def saved_backbone(run_dir: Path) -> dict[str, torch.Tensor]:
    weights = load_file(str(run_dir / "model" / "weights.safetensors"))
    return {k.removeprefix("backbone.model."): v for k, v in weights.items() if k.startswith("backbone.model.")}


# --- the run directory ----------------------------------------------------------------------------------------------

def test_training_writes_a_complete_run(run, photos):
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["task"] == "image-classify" and manifest["labels"] == ["blue", "red"]
    test = manifest["metrics"]["test"]
    assert sum(c["support"] for c in test["per_class"].values()) == 9  # 4 + 4 + the mislabelled one
    assert test["accuracy"] >= 7 / 9, test  # colour is the class; the mislabelled photo cannot be right
    assert manifest["metrics"]["validation"]["accuracy"] >= 5 / 6
    baseline = manifest["baseline"]
    assert baseline["name"].startswith("frozen ") and baseline["metrics"]["test"]["accuracy"] >= 7 / 9
    cost = manifest["cost"]
    for key in ("trainable_params", "total_params", "train_seconds", "train_samples_per_second",
                "inference_latency_ms_p50", "inference_samples_per_second", "steps"):
        assert cost[key] > 0, key
    assert cost["trainable_params"] == cost["total_params"]
    assert cost["steps"] == 4 * 3 and cost["image_size"] == 32
    assert manifest["data"]["rows"] == {"train": 24, "validation": 6, "test": 9}
    assert str(photos.parent) not in (run / "manifest.json").read_text()  # relative paths only
    for name in ("model/weights.safetensors", "model/backbone.json", "model/preprocess.json", "model/labels.json",
                 "report.html", "README.md", "plots/mistakes.png", "plots/gradcam.png", "plots/confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists()
    report = (run / "report.html").read_text()
    assert 'src="plots/mistakes.png"' in report and 'src="plots/gradcam.png"' in report


def test_the_run_predicts_paths_bytes_and_pil_images_and_survives_a_move(run, photos, tmp_path):
    img = photos.parent / "img"
    inputs = [str(img / "red12.png"), (img / "blue13.png").read_bytes(), Image.open(img / "blue14.png"),
              photo(COLOURS["red"], 5000)]
    model = ecomtune.load(run, device="cpu")
    out = model.predict(inputs)
    assert [p["label"] for p in out] == ["red", "blue", "blue", "red"]
    for p in out:
        assert sum(p["probs"].values()) == pytest.approx(1.0, abs=1e-5) and p["score"] == max(p["probs"].values())
    single = model.predict((img / "red12.png").read_bytes())  # one input -> one dict
    assert single["label"] == "red" and single["score"] == pytest.approx(out[0]["score"], abs=1e-6)

    moved = shutil.copytree(run, tmp_path / "elsewhere" / "colours")
    again = ecomtune.load(moved, device="cpu").predict(inputs)
    assert [p["score"] for p in again] == pytest.approx([p["score"] for p in out], abs=1e-6)


def test_evaluate_rescores_the_recipe_test_split(run):
    manifest = json.loads((run / "manifest.json").read_text())
    metrics = ecomtune.evaluate(run, device="cpu")
    assert metrics["rows"] == 9 and metrics["accuracy"] == manifest["metrics"]["test"]["accuracy"]


def test_the_mislabelled_photo_is_the_surest_mistake(run, photos):
    model = ecomtune.load(run, device="cpu")
    prepared = prepare_images(load_recipe(recipe(photos, "unused", run)))
    pred, probs = model.predict_arrays(prepared.test.paths)
    mistakes = confident_mistakes(prepared.test, pred, probs, 2)
    assert mistakes and Path(prepared.test.paths[mistakes[0][0]]).name == "mislabelled.png"
    assert [s for _, s in mistakes] == sorted((s for _, s in mistakes), reverse=True)


def test_a_two_level_taxonomy_predicts_valid_paths(tiny_resnet, tmp_path):
    table = photo_table(tmp_path / "photos", colours=("red", "green", "blue"),
                        counts=(("train", 6), ("valid", 2), ("test", 3)))
    run_dir = ecomtune.train(recipe(table, tiny_resnet, tmp_path / "tax", data={"label_columns": ["group", "label"]}))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["taxonomy"]["levels"] == ["group", "label"]
    assert manifest["taxonomy"]["n_paths"] == 3
    test = manifest["metrics"]["test"]
    assert test["valid_path_rate"] == 1.0
    out = ecomtune.load(run_dir, device="cpu").predict([str(tmp_path / "photos" / "img" / "red7.png")])[0]
    assert tuple(out["path"]) in {("warm", "red"), ("warm", "green"), ("cold", "blue")}
    assert out["label"] == " > ".join(out["path"]) and set(out["level_scores"]) == {"group", "label"}


# --- which weights train --------------------------------------------------------------------------------------------

def test_linear_probe_leaves_every_backbone_weight_bit_identical(photos, tiny_resnet, tmp_path):
    run_dir = ecomtune.train(recipe(photos, tiny_resnet, tmp_path / "probe",
                                    training={"linear_probe": True, "learning_rate": 1e-2}))
    before, saved = backbone_weights(tiny_resnet), saved_backbone(run_dir)
    assert set(saved) == set(before)
    changed = [k for k in before if not torch.equal(before[k], saved[k])]
    assert changed == []  # batch-norm statistics included: frozen BN layers stay in eval mode
    cost = json.loads((run_dir / "manifest.json").read_text())["cost"]
    features = json.loads((Path(tiny_resnet) / "config.json").read_text())["hidden_sizes"][-1]
    assert cost["trainable_params"] == features * 2 + 2  # the head only: features -> 2 classes


def test_freeze_layers_keeps_the_stem_and_first_stage_and_trains_the_rest(photos, tiny_resnet, tmp_path):
    run_dir = ecomtune.train(recipe(photos, tiny_resnet, tmp_path / "freeze",
                                    training={"freeze_layers": 1, "learning_rate": 1e-2}))
    before, saved = backbone_weights(tiny_resnet), saved_backbone(run_dir)
    bottom = [k for k in before if k.startswith(("embedder.", "encoder.stages.0."))]
    top = [k for k in before if k.startswith("encoder.stages.1.") and k.endswith("convolution.weight")]
    assert bottom and top
    assert [k for k in bottom if not torch.equal(before[k], saved[k])] == []
    assert all(not torch.equal(before[k], saved[k]) for k in top)


def test_freeze_layers_finds_the_blocks_of_a_vit(photos, tiny_vit, tmp_path):
    image_recipe = load_recipe(recipe(photos, tiny_vit, tmp_path / "vit", training={"freeze_layers": 1}))
    model, _ = build_model(image_recipe, prepare_images(image_recipe))
    frozen = {n.removeprefix("backbone.model.") for n, p in model.named_parameters() if not p.requires_grad}
    every = {n for n, _ in pretrained(tiny_vit).named_parameters()}
    first, second = model.backbone.layer_groups()[0], model.backbone.layer_groups()[1]
    assert all(not p.requires_grad for p in first.parameters()) and all(p.requires_grad for p in second.parameters())
    assert {n for n in every if n.startswith("embeddings.")} <= frozen  # the stem sits below the first block
    assert not any(p.requires_grad is False for p in model.heads.parameters())


def test_layer_lr_decay_gives_the_stem_the_smallest_rate_and_the_head_its_own(photos, tiny_resnet, tmp_path):
    from ecomtune.methods.llrd import param_groups

    image_recipe = load_recipe(recipe(photos, tiny_resnet, tmp_path / "llrd", training={"layer_lr_decay": 0.5}))
    model, _ = build_model(image_recipe, prepare_images(image_recipe))
    rate = {id(p): g["lr"] for g in param_groups(model, 1e-3, 1e-2, 0.0, 0.5) for p in g["params"]}
    stages = model.backbone.layer_groups()  # 2 ResNet stages: the top one at 1e-3, the bottom at 5e-4
    assert {rate[id(p)] for p in stages[1].parameters()} == {1e-3}
    assert {rate[id(p)] for p in stages[0].parameters()} == {5e-4}
    assert {rate[id(p)] for p in model.backbone.model.embedder.parameters()} == {2.5e-4}
    assert {rate[id(p)] for p in model.heads.parameters()} == {1e-2}


def test_gradual_unfreezing_trains_the_top_stage_first_then_everything(photos, tiny_resnet, tmp_path):
    run_dir = ecomtune.train(recipe(photos, tiny_resnet, tmp_path / "gradual", training={
        "gradual_unfreeze": True, "epochs": 3, "learning_rate": 1e-2, "keep_checkpoints": True}))
    before, saved = backbone_weights(tiny_resnet), saved_backbone(run_dir)
    # the two newest checkpoints are kept: epoch 2 of 3 is the first, when only the top stage has trained
    second = run_dir / "checkpoints" / "checkpoint-6"
    mid = {k.removeprefix("backbone.model."): v for k, v in load_file(str(second / "model.safetensors")).items()
           if k.startswith("backbone.model.")}
    moved = {k for k in before if not torch.equal(before[k], mid[k])}
    assert moved and all(k.startswith("encoder.stages.1.") for k in moved)
    changed = {k for k in before if not torch.equal(before[k], saved[k])}
    # by the last epoch every stage has trained, the stem included
    assert any(k.startswith("embedder.") for k in changed) and any(k.startswith("encoder.stages.0.") for k in changed)
    assert json.loads((run_dir / "manifest.json").read_text())["metrics"]["test"]["accuracy"] >= 0.5


def test_checkpointing_efficientnet_lite_gives_the_same_gradients_and_batch_statistics():
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra is not installed")
    from ecomtune.tasks.image_classify.backbones import LITE, LiteBackbone, _lite_net

    torch.manual_seed(0)
    plain = LiteBackbone(_lite_net(LITE.get("efficientnet-lite0"), pretrained=False)).train()
    saving = copy.deepcopy(plain)
    saving.gradient_checkpointing_enable()
    pixels = torch.randn(4, 3, 64, 64)
    results = []
    for net in (plain, saving):
        torch.manual_seed(1)  # the same drop-connect masks
        net(pixels).pow(2).mean().backward()
        results.append(({n: p.grad for n, p in net.named_parameters()},
                        {n: b for n, b in net.named_buffers() if "running" in n}))
    (g1, s1), (g2, s2) = results
    assert all(torch.allclose(g1[n], g2[n], atol=1e-6) for n in g1)
    # the recomputation in backward does not count the batch a second time
    assert all(torch.allclose(s1[n], s2[n], atol=1e-6) for n in s1)


def test_lora_on_a_vit_trains_only_the_adapter_and_the_head(photos, tiny_vit, tmp_path):
    raw = recipe(photos, tiny_vit, tmp_path / "lora", model={"adapter": {"method": "lora", "r": 4}},
                 training={"learning_rate": 1e-2})
    image_recipe = load_recipe(raw)
    model, _ = build_model(image_recipe, prepare_images(image_recipe))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trainable) and any("lora_B" in n for n in trainable)
    assert [n for n in trainable if "lora_" not in n and not n.startswith("heads.")] == []
    adapter_params = sum(p.numel() for p in model.parameters() if p.requires_grad)

    run_dir = ecomtune.train(raw)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cost"]["trainable_params"] == adapter_params < manifest["cost"]["total_params"]
    assert manifest["adapter"]["merged"] is True
    vit = pretrained(tiny_vit)
    before, saved = vit.state_dict(), saved_backbone(run_dir)
    assert set(saved) == set(before)  # merged: a plain ViT again, no lora_ tensors
    blocks = {f"{n}.weight" for n, m in vit.named_modules() if isinstance(m, nn.Linear) and not n.startswith("pooler")}
    assert len(blocks) == 2 * 6  # q, k, v, o, fc1, fc2 per layer: LoRA's default targets
    assert all(not torch.equal(before[k], saved[k]) for k in blocks)  # each got its low-rank update merged in
    assert [k for k in before if k not in blocks and not torch.equal(before[k], saved[k])] == []
    out = ecomtune.load(run_dir, device="cpu").predict([str(photos.parent / "img" / "red12.png")])
    assert out[0]["label"] in {"red", "blue"}


# --- mixup / cutmix -------------------------------------------------------------------------------------------------

def test_mixup_and_cutmix_runs_train(photos, tiny_resnet, tmp_path):
    run_dir = ecomtune.train(recipe(photos, tiny_resnet, tmp_path / "mix",
                                    training={"augment": {"mixup": 0.4, "cutmix": 1.0}}))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cost"]["steps"] == 3 and manifest["recipe"]["training"]["augment"]["mixup"] == 0.4
    assert np.isfinite([h["loss"] for h in manifest["history"] if "loss" in h]).all()


def test_mix_blends_pixels_and_returns_the_partner_labels():
    pixels = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 8, 8).contiguous()
    labels = torch.tensor([[0], [1], [2], [3]])
    mixed, partners, lam = mix(pixels, labels, AugmentConfig(mixup=0.4), torch.Generator().manual_seed(0))
    assert 0 < lam < 1
    order = partners[:, 0]  # pixel value i belongs to label i
    assert torch.allclose(mixed[:, 0, 0, 0], lam * labels[:, 0].float() + (1 - lam) * order.float())

    mixed, partners, lam = mix(pixels, labels, AugmentConfig(cutmix=1.0), torch.Generator().manual_seed(3))
    pasted = (mixed != pixels).any(dim=1)  # where a partner's pixels went (partners differ from self here)
    moved = partners[:, 0] != labels[:, 0]
    for i in torch.nonzero(moved).flatten():
        assert pasted[i].float().mean().item() == pytest.approx(1 - lam)  # lambda = the area kept
    assert mix(pixels, labels, AugmentConfig(), torch.Generator())[2] == 1.0  # off: nothing mixed


class _Flat(nn.Module):
    """A backbone without batch norm, so train and eval mode compute the same features."""

    num_features = 6

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3 * 8 * 8, 6)

    def forward(self, pixel_values):
        return self.proj(pixel_values.flatten(1))


def test_a_mixed_batch_loss_is_the_lambda_weighted_loss_of_both_labels():
    torch.manual_seed(0)
    aug = AugmentConfig(mixup=0.4)
    model = ImageClassifier(_Flat(), [3], dropout=0.0, mix=aug, seed=7).train()
    pixels, labels = torch.randn(5, 3, 8, 8), torch.tensor([[0], [1], [2], [0], [1]])
    loss = model(pixels, labels)["loss"]
    mixed, partners, lam = mix(pixels, labels, aug, torch.Generator().manual_seed(7))  # the model's own draw
    logits = model.heads[0](model.backbone(mixed))
    expect = lam * F.cross_entropy(logits, labels[:, 0]) + (1 - lam) * F.cross_entropy(logits, partners[:, 0])
    assert 0 < lam < 1 and loss.item() == pytest.approx(expect.item(), rel=1e-5)
    assert model.eval()(pixels, labels)["loss"].item() == pytest.approx(
        F.cross_entropy(model.heads[0](model.backbone(pixels)), labels[:, 0]).item(), rel=1e-5)  # eval: no mixing


# --- resume ---------------------------------------------------------------------------------------------------------

def test_an_interrupted_run_resumes_and_finishes(photos, tiny_resnet, tmp_path, power_cut):
    raw = recipe(photos, tiny_resnet, tmp_path / "cut", training={"epochs": 3, "max_steps": 6, "evaluate_every": 2})
    power_cut(5)
    with pytest.raises(RuntimeError, match="power cut"):
        ecomtune.train(raw)
    checkpoints = sorted(p.name for p in (tmp_path / "cut" / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    assert not (tmp_path / "cut" / "manifest.json").exists()
    power_cut(None)

    run_dir = ecomtune.train(raw, resume=True)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cost"]["steps"] == 6
    assert [h["step"] for h in manifest["history"] if "eval_accuracy" in h] == [2, 4, 6]  # 2, 4 from before the cut
    assert not (run_dir / "checkpoints").exists()
    assert ecomtune.load(run_dir, device="cpu").predict([str(photos.parent / "img" / "red12.png")])[0]["label"]


# --- Grad-CAM -------------------------------------------------------------------------------------------------------

def _network(backbone: str, classes: int = 2) -> ImageClassifier:
    torch.manual_seed(0)
    return ImageClassifier(build_backbone(backbone)[0], [classes], dropout=0.0)


@pytest.mark.parametrize("height, width", [(32, 32), (40, 48)])
def test_gradcam_heatmaps_are_in_0_1_at_the_image_size(tiny_resnet, height, width):
    network = _network(tiny_resnet, 3)
    for p in network.backbone.parameters():  # a linear probe's frozen backbone: gradients still reach the map
        p.requires_grad_(False)
    pixels = torch.randn(3, 3, height, width)
    cams, top = gradcam(network, pixels)
    assert cams.shape == (3, height, width)
    assert cams.min() >= 0 and cams.max() <= 1
    peaks = cams.reshape(3, -1).max(axis=1)  # each heatmap is scaled to its own peak (0: no positive evidence)
    assert np.isin(peaks, [0.0, 1.0]).all() and peaks.max() == 1.0
    with torch.no_grad():
        assert top.tolist() == network(pixels)["logits"][-1].argmax(dim=-1).tolist()
    assert all(p.grad is None for p in network.parameters())  # nothing left behind for the next step


def test_gradcam_follows_the_patch_that_decides_the_class(tiny_resnet):
    network = _network(tiny_resnet, 2)
    pixels = torch.zeros(1, 3, 32, 32)
    pixels[:, :, 20:30, 2:12] = 3.0  # a bright patch, bottom left
    with torch.no_grad():
        feature = network.features(pixels)
        network.heads[0].weight.copy_(torch.stack([feature[0], -feature[0]]))  # class 0 = "looks like this"
        network.heads[0].bias.zero_()
    cams, top = gradcam(network, pixels)
    assert top.tolist() == [0]
    heat = cams[0]
    assert heat[20:30, 2:12].mean() > 2 * heat[:12, 20:].mean()  # the patch, not the empty top right


def test_gradcam_has_no_heatmap_for_a_vit(tiny_vit):
    assert gradcam(_network(tiny_vit), torch.randn(1, 3, 32, 32)) is None


def test_confident_mistakes_are_wrong_rows_surest_first():
    split = ImageSplit(["a", "b", "c", "d"], np.array([[0], [1], [0], [1]]), ["r2", "r3", "r4", "r5"], [""] * 4)
    pred = np.array([[0], [0], [1], [0]])
    probs = [np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05]])]
    assert confident_mistakes(split, pred, probs, 2) == [(3, 0.95), (2, 0.8)]
    assert confident_mistakes(split, pred, probs, 10) == [(3, 0.95), (2, 0.8), (1, 0.6)]


# --- late fusion ----------------------------------------------------------------------------------------------------

def _accuracy(truth, pred) -> float:
    return float((truth == pred).mean())


def _models(n: int = 200, seed: int = 0):
    """(truth, a good model's probabilities, a useless model's confident random probabilities)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    good = np.full((n, 4), 0.4 / 3)
    good[np.arange(n), truth] = 0.6
    useless = rng.dirichlet(np.full(4, 0.3), n)
    return truth, good, useless


def test_tune_weight_leans_on_the_useful_model():
    truth, good, useless = _models()
    weight, scores = fusion.tune_weight(useless, good, truth, _accuracy)  # image useless, text good
    assert weight <= 0.1 and scores[weight] == 1.0 and scores[1.0] < 0.5
    weight, scores = fusion.tune_weight(good, useless, truth, _accuracy)  # the other way round
    assert weight >= 0.9 and scores[weight] == 1.0 and scores[0.0] < 0.5
    assert sorted(scores) == [round(0.05 * i, 2) for i in range(21)]


def test_tune_weight_breaks_ties_towards_equal_weights():
    truth, good, _ = _models()
    weight, scores = fusion.tune_weight(good, good, truth, _accuracy)
    assert set(scores.values()) == {1.0} and weight == 0.5


def test_align_reorders_columns_and_fills_missing_labels_with_zero():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    out = fusion.align(probs, ["shoes", "bags", "hats"], ["bags", "hats", "belts", "shoes"])
    assert out.tolist() == [[0.2, 0.1, 0.0, 0.7], [0.3, 0.6, 0.0, 0.1]]
    fused = fusion.fuse(out, out, 0.5)
    assert fused.argmax(axis=1).tolist() == [3, 1] and np.isfinite(fused).all()


def test_evaluate_scores_a_new_labelled_table_without_the_split_column(run, tmp_path):
    folder = tmp_path / "new"
    table = photo_table(folder, counts=(("test", 3),))
    frame = pd.read_csv(table).drop(columns=["split", "group"])  # a plain table: path, label
    frame.loc[len(frame)] = {"path": "img/red0.png", "label": "purple"}  # a label the model never saw
    frame.to_csv(table, index=False)
    metrics = ecomtune.evaluate(run, data=table, device="cpu")
    assert metrics["rows"] == 6 and metrics["rows_with_unknown_labels"] == 1
    assert metrics["accuracy"] >= 5 / 6


def test_distillation_from_an_image_teacher_reports_both_on_the_same_test_images(run, photos, tiny_resnet, tmp_path):
    student = ecomtune.train(recipe(photos, tiny_resnet, tmp_path / "student",
                                    training={"distill": {"teacher": str(run), "temperature": 2.0}}))
    manifest = json.loads((student / "manifest.json").read_text())
    teacher = json.loads((run / "manifest.json").read_text())
    d = manifest["distill"]
    assert d["teacher"]["name"] == "colours" and d["teacher"]["run_dir"] == str(run)
    assert d["teacher"]["total_params"] == teacher["cost"]["total_params"]
    assert d["teacher"]["test"]["accuracy"] == teacher["metrics"]["test"]["accuracy"]  # the same 9 test photos
    assert d["student_test"]["accuracy"] == manifest["metrics"]["test"]["accuracy"]
    assert d["retention"]["accuracy"] == pytest.approx(d["student_test"]["accuracy"] / d["teacher"]["test"]["accuracy"],
                                                       abs=1e-4)
    assert d["rows"] == {"labeled": 24, "unlabeled": 0} and d["speedup"] > 0
    assert "Distillation" in (student / "report.html").read_text()
    assert "## Distillation" in (student / "README.md").read_text()


def test_a_fused_model_follows_its_weight_and_tunes_it_on_labelled_pairs(run, photos, tiny_encoder, tmp_path):
    """A real title run (tiny BERT: a positive word means red, a negative one blue) fused with the photo run."""
    from tests.conftest import FILLER, NEG_EN, POS_EN

    titles = pd.DataFrame([{"title": f"{f} {w} dress", "colour": c} for f in FILLER
                           for c, words in (("red", POS_EN), ("blue", NEG_EN)) for w in words])
    titles.to_csv(tmp_path / "titles.csv", index=False)
    text_run = ecomtune.train({
        "name": "titles", "task": "classify", "data": {"train": str(tmp_path / "titles.csv"), "text_column": "title",
                                                      "label_column": "colour"},
        "model": {"backbone": tiny_encoder, "max_length": 16},
        "training": {"epochs": 4, "batch_size": 16, "learning_rate": 3e-3, "precision": "fp32"},
        "evaluation": {"baseline": False}, "output": {"dir": str(tmp_path / "text")}})
    image_model, text_model = ecomtune.load(run, device="cpu"), ecomtune.load(text_run, device="cpu")
    frame = pd.read_csv(photos)
    test = frame[frame["split"] == "test"]
    images = [str(photos.parent / p) for p in test["path"]]
    # titles that contradict the photos: the fused label follows whichever side the weight trusts
    lying = [f"the {NEG_EN[0] if y == 'red' else POS_EN[0]} dress" for y in test["label"]]
    fused = fusion.FusedModel(image_model, text_model)
    assert fused.labels == image_model.space.labels[0]
    fused.weight = 1.0
    assert [p["label"] for p in fused.predict(images, lying)] == [p["label"] for p in image_model.predict(images)]
    fused.weight = 0.0
    assert [p["label"] for p in fused.predict(images, lying)] == [p["label"] for p in text_model.predict(lying)]
    out = fused.predict(images, lying)
    assert all(sum(p["probs"].values()) == pytest.approx(1.0, abs=1e-6) for p in out)
    # tuned on pairs whose titles lie, the weight moves to the photo side
    curve = fused.tune(images, lying, list(test["label"]))
    assert fused.weight > 0.5 and set(curve) == set(fusion.GRID.tolist())
    with pytest.raises(ValueError, match="one title per image"):
        fused.predict(images, lying[:-1])
    with pytest.raises(ValueError, match="not labels of the image model"):
        fused.tune(images, lying, ["purple"] * len(images))
