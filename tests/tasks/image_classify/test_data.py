"""Image data: folder-per-class and CSV sources, bad images named by file and row, colour modes and EXIF decoded to
upright RGB, hash-grouped splits that never straddle a duplicate, split columns. No model is loaded here."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ecomtune.errors import DataError
from ecomtune.recipes import load_recipe
from ecomtune.tasks.image_classify import images
from ecomtune.tasks.image_classify.data import check, prepare_images

COLOURS = {"red": (210, 40, 40), "blue": (40, 60, 210)}


def noise(colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (40, 40)) -> Image.Image:
    """`size` (w, h) of noise around `colour`: every seed gives different bytes."""
    w, h = size
    pixels = np.random.default_rng(seed).normal(0, 25, (h, w, 3)) + np.array(colour)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def jpeg_bytes(img: Image.Image, **save) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, **save)
    return out.getvalue()


def photo_folder(root: Path, per_class: int = 8) -> Path:
    for c, (name, colour) in enumerate(COLOURS.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise(colour, 100 * c + i).save(root / name / f"{name}{i}.png")
    return root


def photo_table(folder: Path, per_class: int = 8, **columns) -> Path:
    """`folder/labels.csv` with paths relative to it (`img/<label><i>.png`) and a `label` column."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(per_class):
            noise(colour, 100 * c + i).save(folder / "img" / f"{name}{i}.png")
            rows.append({"path": f"img/{name}{i}.png", "label": name})
    frame = pd.DataFrame(rows)
    for key, values in columns.items():
        frame[key] = values
    frame.to_csv(folder / "labels.csv", index=False)
    return folder / "labels.csv"


def recipe(train: Path, **data) -> object:
    return load_recipe({"name": "photos", "task": "image-classify", "data": {"train": str(train), **data}})


def md5(path: str) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# --- sources --------------------------------------------------------------------------------------------------------

def test_folder_per_class_reads_every_image_with_its_folder_label(tmp_path):
    prepared = prepare_images(recipe(photo_folder(tmp_path / "photos"), test_fraction=0.25, validation_fraction=0.2))
    assert prepared.space.labels == [["blue", "red"]]
    splits = (prepared.train, prepared.validation, prepared.test)
    assert [len(s) for s in splits] == [10, 2, 4]  # 8 per class: 2 test and then 1 validation per class
    every = [p for s in splits for p in s.paths]
    assert sorted(Path(p).name for p in every) == sorted(f"{c}{i}.png" for c in COLOURS for i in range(8))
    for split in splits:
        for path, label, origin in zip(split.paths, split.labels[:, 0], split.origins):
            assert Path(path).is_absolute() and Path(path).parent.name == prepared.space.labels[0][label]
            assert origin == f"{Path(path).parent.name}/{Path(path).name}"


def test_csv_paths_are_relative_to_the_table_not_the_working_directory(tmp_path, monkeypatch):
    table = photo_table(tmp_path / "data" / "shop")
    monkeypatch.chdir(tmp_path)  # elsewhere: `img/red0.png` does not exist relative to here
    prepared = prepare_images(recipe(table))
    paths = prepared.train.paths + prepared.validation.paths + prepared.test.paths
    assert len(paths) == 16
    assert all(Path(p).parent == (tmp_path / "data" / "shop" / "img").resolve() for p in paths)
    rows = {o for s in (prepared.train, prepared.validation, prepared.test) for o in s.origins}
    assert rows == {f"labels.csv row {i}" for i in range(2, 18)}  # row 1 is the header
    # the label comes from the table, not from the file name
    for split in (prepared.train, prepared.test):
        for path, label in zip(split.paths, split.labels[:, 0]):
            assert Path(path).name.startswith(prepared.space.labels[0][label])


def test_check_summarises_without_loading_a_model(tmp_path):
    summary = check(recipe(photo_folder(tmp_path / "photos")))
    assert sum(summary["rows"].values()) == 16 and summary["images"]["unique_files"] == 16
    assert summary["images"]["short_side_px"]["p50"] == 40
    assert summary["train_label_counts"]["red"] + summary["train_label_counts"]["blue"] == summary["rows"]["train"]
    assert len(summary["sha256"]) == 64
    again = check(recipe(photo_folder(tmp_path / "photos")))
    assert again["sha256"] == summary["sha256"]  # the same files go to the same splits


# --- bad images -----------------------------------------------------------------------------------------------------

def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _truncated_jpeg(path: Path) -> None:
    data = jpeg_bytes(noise((128, 128, 128), 7, (48, 48)))
    path.write_bytes(data[: len(data) // 2])


def _text_file(path: Path) -> None:
    path.write_text("this is not a photo\n")


def _too_small(path: Path) -> None:
    noise((128, 128, 128), 7, (20, 24)).save(path, format="JPEG")


def _missing(path: Path) -> None:
    path.unlink(missing_ok=True)


BAD = [(_zero_bytes, "empty file (0 bytes)"), (_truncated_jpeg, "truncated"), (_text_file, "not an image"),
       (_too_small, "too small (20x24 < data.min_side 32)"), (_missing, "file not found")]


def _table_with_bad_row(folder: Path, spoil) -> Path:
    table = photo_table(folder)
    frame = pd.read_csv(table)
    frame.loc[5, "path"] = "img/spoilt.jpg"  # CSV row 7 (header + 1-based)
    frame.to_csv(table, index=False)
    spoil(folder / "img" / "spoilt.jpg")
    return table


@pytest.mark.parametrize("spoil, why", BAD, ids=[f.__name__.strip("_") for f, _ in BAD])
def test_a_bad_image_is_named_with_its_file_and_row(tmp_path, spoil, why):
    table = _table_with_bad_row(tmp_path / "shop", spoil)
    with pytest.raises(DataError) as err:
        prepare_images(recipe(table))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("1 bad image rows: labels.csv row 7: ")
    assert str((tmp_path / "shop" / "img" / "spoilt.jpg").resolve()) in message
    assert why in message and "`data.bad_rows: drop`" in message


def test_bad_rows_drop_drops_every_bad_image_and_counts_them(tmp_path):
    table = photo_table(tmp_path / "shop")
    frame = pd.read_csv(table)
    for k, (spoil, _) in enumerate(BAD):
        frame.loc[k, "path"] = f"img/spoilt{k}.jpg"
        spoil(tmp_path / "shop" / "img" / f"spoilt{k}.jpg")
    frame.to_csv(table, index=False)
    with pytest.raises(DataError, match=r"^5 bad image rows: .* \(and 2 more\) — fix or remove"):
        prepare_images(recipe(table))
    prepared = prepare_images(recipe(table, bad_rows="drop"))
    assert any(n.startswith("dropped 5 bad image rows (`data.bad_rows: drop`), e.g. labels.csv row 2: ")
               for n in prepared.notes), prepared.notes
    kept = prepared.train.paths + prepared.validation.paths + prepared.test.paths
    assert len(kept) == 11 and not any("spoilt" in p for p in kept)


def test_dropping_a_bad_test_image_keeps_the_training_image_of_the_same_name(tmp_path):
    train, test = photo_folder(tmp_path / "train"), photo_folder(tmp_path / "test", per_class=4)
    (test / "red" / "red0.png").write_bytes(b"")  # train/red/red0.png is fine
    prepared = prepare_images(recipe(train, test=str(test), bad_rows="drop", validation_fraction=0))
    assert len(prepared.train) == 16 and len(prepared.test) == 7
    assert str((train / "red" / "red0.png").resolve()) in prepared.train.paths


def test_an_empty_test_split_is_an_error_before_training(tmp_path):
    # two distinct photos per class, each copied ten times: a 20% grouped split cannot hold any out
    for c, (name, colour) in enumerate(COLOURS.items()):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for k in range(2):
            for i in range(10):
                noise(colour, 10 * c + k).save(tmp_path / "photos" / name / f"{k}-{i}.png")
    with pytest.raises(DataError, match="no test images after the checks and the split .*`data.test_fraction`"):
        prepare_images(recipe(tmp_path / "photos"))


# --- colour modes and orientation -----------------------------------------------------------------------------------

def test_cmyk_palette_and_alpha_images_are_noted_and_decode_to_rgb(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    noise(COLOURS["red"], 900).convert("CMYK").save(photos / "red" / "cmyk.jpg")
    noise(COLOURS["blue"], 901).convert("P").save(photos / "blue" / "palette.png")
    rgba = noise(COLOURS["blue"], 902).convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    rgba.save(photos / "blue" / "alpha.png")
    for name, mode in (("red/cmyk.jpg", "CMYK"), ("blue/palette.png", "P"), ("blue/alpha.png", "RGBA")):
        assert Image.open(photos / name).mode == mode  # the files really are in that mode

    notes = prepare_images(recipe(photos)).notes
    for kind, origin in (("CMYK", "red/cmyk.jpg"), ("palette", "blue/palette.png"), ("alpha", "blue/alpha.png")):
        assert any(n.startswith(f"1 {kind} images are converted to RGB") and origin in n for n in notes), notes

    for name in ("red/cmyk.jpg", "blue/palette.png", "blue/alpha.png"):
        img = images.open_rgb(str(photos / name))
        assert img.mode == "RGB" and img.size == (40, 40)
    composited = images.open_rgb(str(photos / "blue" / "alpha.png"))
    assert composited.getpixel((0, 0)) == (255, 255, 255)  # transparent -> white, not black
    assert composited.getpixel((5, 5)) == rgba.getpixel((5, 5))[:3]  # opaque pixels unchanged
    cmyk = np.asarray(images.open_rgb(str(photos / "red" / "cmyk.jpg")), dtype=float).mean(axis=(0, 1))
    assert cmyk[0] > 150 and cmyk[2] < 100  # still red after CMYK -> RGB


def test_exif_orientation_is_honoured(tmp_path):
    img = noise((128, 128, 128), 3, (60, 40))  # 60 wide, 40 high as stored
    left = np.asarray(img)[:, :30].copy()
    left[...] = (250, 0, 0)
    stored = np.asarray(img).copy()
    stored[:, :30] = left  # red left half
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg_bytes(Image.fromarray(stored), exif=exif.tobytes()))
    assert Image.open(path).size == (60, 40)

    for source in (str(path), path.read_bytes(), Image.open(path)):
        upright = images.open_rgb(source)
        assert upright.size == (40, 60)
        top = np.asarray(upright, dtype=float)[:20].mean(axis=(0, 1))
        assert top[0] > 200 and top[1] < 60  # the red left edge is on top after a clockwise turn
    pre = images.Preprocess(32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1.0)
    assert images.eval_array(str(path), pre).shape == (32, 32, 3)


# --- splits ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_never_puts_identical_files_in_two_splits(tmp_path, seed):
    # 6 distinct photos per class, copied 1..6 times: most rows are duplicates of another row
    for c, (name, colour) in enumerate(COLOURS.items()):
        (tmp_path / name).mkdir(parents=True)
        for k in range(6):
            data = jpeg_bytes(noise(colour, 10 * c + k))
            for copy in range(k + 1):
                (tmp_path / name / f"{k}-{copy}.jpg").write_bytes(data)
    (tmp_path / "blue" / "twin-of-red.jpg").write_bytes((tmp_path / "red" / "5-0.jpg").read_bytes())
    prepared = prepare_images(recipe(tmp_path, seed=seed, test_fraction=0.3, validation_fraction=0.3))
    hashes = {role: {md5(p) for p in getattr(prepared, role).paths} for role in ("train", "validation", "test")}
    assert all(hashes[role] for role in hashes), {r: len(h) for r, h in hashes.items()}
    assert not hashes["train"] & hashes["test"]
    assert not hashes["train"] & hashes["validation"]
    assert not hashes["validation"] & hashes["test"]
    assert sum(len(getattr(prepared, r)) for r in hashes) == 2 * 21 + 1
    assert prepared.checked["unique_files"] == 12


def test_split_column_decides_the_splits(tmp_path):
    values = ["Train", "train", "valid", "test"] * 4  # 16 rows; case and spaces do not matter
    table = photo_table(tmp_path / "shop", split=[f" {v} " for v in values])
    prepared = prepare_images(recipe(table, split_column="split"))
    expect = {"train": [i for i, v in enumerate(values) if v.lower() == "train"],
              "validation": [i for i, v in enumerate(values) if v == "valid"],
              "test": [i for i, v in enumerate(values) if v == "test"]}
    for role, rows in expect.items():
        assert sorted(getattr(prepared, role).origins) == sorted(f"labels.csv row {i + 2}" for i in rows), role
    assert not any("byte-identical" in n for n in prepared.notes)


def test_split_column_notes_a_duplicate_across_the_given_splits(tmp_path):
    table = photo_table(tmp_path / "shop", split=["train", "test"] * 8)
    (tmp_path / "shop" / "img" / "red1.png").write_bytes((tmp_path / "shop" / "img" / "red0.png").read_bytes())
    notes = prepare_images(recipe(table, split_column="split")).notes
    assert any(n.startswith("1 images of the given splits are byte-identical to a training image") for n in notes)


def test_unknown_split_value_names_the_column_and_the_value(tmp_path):
    table = photo_table(tmp_path / "shop", split=["train", "test", "holdout", "valid"] * 4)
    with pytest.raises(DataError, match=r"`data.split_column` \(split\) has values \['holdout'\] — use train / valid"):
        prepare_images(recipe(table, split_column="split"))


def test_missing_columns_are_named(tmp_path):
    table = photo_table(tmp_path / "shop")
    with pytest.raises(DataError, match=r"no column 'fold' \(`data.split_column`\) — columns present: path, label"):
        prepare_images(recipe(table, split_column="fold"))
    with pytest.raises(DataError, match=r"no column 'file' \(`data.image_column`\)"):
        prepare_images(recipe(table, image_column="file"))
    with pytest.raises(DataError, match=r"no column 'category' \(`data.label_column\(s\)`\)"):
        prepare_images(recipe(table, label_column="category"))
