"""`ecomtune predict RUN --explain`: why each prediction — coloured words (text runs) or a Grad-CAM heatmap (image
runs) on the terminal, or an `explanation` column of JSON in the output table.

Only classifiers explain: a text classifier (classify, taxonomy, multitask) says which words pushed towards its
label, an image model where in the image it looked. Search, recommend, generate, qa and guide return rankings or
generated text, not one label per input, so there is no single score to attribute; they say so in one line.
"""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from ecomtune.console import console, say
from ecomtune.errors import DataError
from ecomtune.registry import task

EXPLAINS = ("classify", "taxonomy", "multitask", "image-classify")
SHOWN_ROWS = 20  # rows printed when a table is explained to the terminal


def check_explainable(run_dir: Path, task_name: str) -> None:
    if task_name not in EXPLAINS:
        raise DataError(f"{run_dir}: a {task_name} run — --explain applies to classifiers ({', '.join(EXPLAINS[:3])}) "
                        "and image models (image-classify) only: a ranking or generated text has no single label "
                        "to attribute (docs/explain.md)")


def explain_text_run(model, texts: list[str], output: Path | None, frame=None, text_column: str | None = None,
                     nearest: int = 3) -> None:
    """Terminal: per text its label, coloured words, top words and nearest training examples. With `output`:
    `frame` (already holding the prediction columns) gains `explanation` and `nearest_training` (JSON)."""
    from ecomtune.tasks.text.explain import Neighbours, explain_texts, terminal_line

    shown = texts if output is not None else texts[:SHOWN_ROWS]
    if output is None and len(texts) > SHOWN_ROWS:
        say(f"explaining the first {SHOWN_ROWS} of {len(texts)} rows (write them all with --output)")
    explained = explain_texts(model, shown)
    try:
        near = Neighbours.of_run(model).find(shown, k=nearest)
    except Exception as exc:  # noqa: BLE001 - attributions still come out; the note says why neighbours do not
        say(f"[yellow]note:[/] no nearest training examples: {exc}")
        near = [[] for _ in shown]
    if output is not None:
        from ecomtune.data.readers import write_table

        frame["explanation"] = [json.dumps(e.to_dict(), ensure_ascii=False) for e in explained]
        frame["nearest_training"] = [json.dumps(n, ensure_ascii=False) for n in near]
        write_table(frame, output)
        say(f"wrote {len(frame)} predictions with explanations to [bold]{output}[/]")
        return
    out = Console(highlight=False, soft_wrap=True)  # stdout: the command's answer
    probs = model.predict(shown)
    for text, e, p, neighbours in zip(shown, explained, probs, near):
        score = p.get("score", max((p.get("scores") or {"": 0}).values()))
        out.print(f"[bold]{e.target}[/] ({score:.2f})  [dim]{e.method.replace('_', ' ')}[/]")
        out.print(terminal_line(e))
        out.print("  top words: " + (", ".join(f"{w} {s:+.2f}" for w, s in e.top(5)) or "none"))
        if neighbours:
            out.print("  nearest training examples:")
            for n in neighbours:
                out.print(f"    [{n['label']}] {n['text'][:100]}  (cosine {n['similarity']:.2f})", markup=False)
        out.print()


def explain_image_run(model, paths: list[str], names: list[str], output: Path | None, frame=None) -> None:
    """Writes one heatmap PNG per image (beside `output`, or under ./heatmaps) and prints or tabulates them."""
    from ecomtune.tasks.image_classify.explain import explain_images

    folder = Path(f"{output}.heatmaps") if output is not None else Path("heatmaps")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for start in range(0, len(paths), 16):
        for name, e in zip(names[start:start + 16], explain_images(model, paths[start:start + 16])):
            png = folder / (Path(name).with_suffix("").as_posix().replace("/", "__") + ".gradcam.png")
            png.write_bytes(e["png"])
            rows.append({"method": e["method"], "target": e["target"], "heatmap": str(png)})
            if output is None:
                console.print(f"{name}: [bold]{e['target']}[/] — Grad-CAM heatmap in {png}")
    if output is not None:
        from ecomtune.data.readers import write_table

        frame["explanation"] = [json.dumps(r, ensure_ascii=False) for r in rows]
        write_table(frame, output)
        say(f"wrote {len(frame)} predictions with explanations to [bold]{output}[/] (heatmaps in {folder})")


def predict_explained(run_dir: Path, input: Path | None, texts: list[str] | None, output: Path | None,
                      text_column: str | None, image_column: str | None, batch_size: int, device: str) -> None:
    """`predict --explain`: texts from --text or the input table; images from a file, folder or table."""
    import ecomtune
    from ecomtune.rundir import read_manifest

    task_name = read_manifest(run_dir)["task"]
    check_explainable(run_dir, task_name)
    images = task(task_name).inputs == "images"
    if texts and (input is not None or images):
        raise DataError("--text explains texts typed on the command line — give it without --input, to a text run")
    frame = None
    if output is not None:  # the prediction columns first, as a plain `predict` writes them
        if input is None:
            raise DataError("--output writes a table of predictions: give the rows with --input")
        from ecomtune.api import predict_file

        frame = predict_file(run_dir, input, output, text_column=text_column, batch_size=batch_size, device=device,
                             progress=True, image_column=image_column)
    model = ecomtune.load(run_dir, device=device)
    if images:
        if input is None:
            raise DataError("--explain on an image run: give an image, a folder of images or a table with --input")
        paths, names = _image_inputs(model, input, image_column, frame)
        explain_image_run(model, paths, names, output, frame)
        return
    if texts:
        explain_text_run(model, list(texts), None)
        return
    if input is None:
        raise DataError("--explain: give texts with --text \"...\" or a table with --input")
    from ecomtune.data.readers import read_table

    table = frame if frame is not None else read_table(input)
    col = text_column or model.manifest.get("recipe", {}).get("data", {}).get("text_column", "text")
    columns = [col] if isinstance(col, str) else list(col)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{input}: missing text column '{missing[0]}' — columns present: "
                        f"{', '.join(map(str, table.columns))}; pass --text-column")
    rows = table[columns].astype(str).agg(" ".join, axis=1).str.strip().tolist()
    explain_text_run(model, rows, output, frame, text_column)


def _image_inputs(model, input: Path, column: str | None, frame) -> tuple[list[str], list[str]]:
    from ecomtune.tasks.image_classify.data import EXTENSIONS

    if input.is_file() and input.suffix.lower() in EXTENSIONS:
        return [str(input)], [input.name]
    if input.is_dir():
        files = sorted(f for f in input.rglob("*") if f.suffix.lower() in EXTENSIONS and f.is_file())
        return [str(f) for f in files], [f.relative_to(input).as_posix() for f in files]
    from ecomtune.data.readers import read_table

    table = frame if frame is not None else read_table(input)
    column = column or model.manifest.get("recipe", {}).get("data", {}).get("image_column", "path")
    if column not in table.columns:
        raise DataError(f"{input}: missing image column '{column}' — pass --image-column")
    names = table[column].fillna("").astype(str).str.strip().tolist()
    return [str(input.parent / n) for n in names], names
