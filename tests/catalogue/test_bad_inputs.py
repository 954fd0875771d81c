"""The bad-input catalogue: what careless and hostile users feed the CLI — recipes, `--set` values, data files,
run directories, command-line usage — and what each must get back.

Every case runs `ecomtune ...` in-process, in a sandbox folder holding a valid recipe, its data and a finished run
(`runs/keep-me`), and must end in exactly one line `error: ...` that names the file/row/column or recipe key (the
case's patterns), exit code 2, no traceback, no `unexpected error` — and leave every file in the sandbox as it was.
"""
from __future__ import annotations

import copy
import gzip
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import toy_products, toy_reviews

DELETE = object()


@dataclass
class Case:
    """`argv` after `ecomtune` ({encoder}: the tiny test backbone); `expect`: regexes the error line must match;
    `files`: sandbox files to write (str/bytes, or a dict written as a recipe); `setup(sandbox)` for the rest."""

    id: str
    argv: list[str]
    expect: list[str]
    files: dict = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


def recipe(**changes) -> dict:
    """A valid classify recipe over the sandbox's reviews.csv, with dotted-key changes (DELETE removes a key)."""
    raw = {"name": "toy", "task": "classify",
           "data": {"train": "reviews.csv", "text_column": "review", "label_column": "stars",
                    "label_map": {1: "negative", 5: "positive"}, "split": {"test": 0.25, "validation": 0.25}},
           "model": {"backbone": "{encoder}", "max_length": 32},
           "training": {"epochs": 1, "batch_size": 16, "precision": "fp32"},
           "evaluation": {"baseline": False}}
    for key, value in changes.items():
        node, parts = raw, key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return raw


def recommend(**data) -> dict:
    return {"name": "rec", "task": "recommend", "data": {"interactions": "inter.txt", **data},
            "model": {"type": "sasrec", "item_embedding": "id", "hidden": 8, "layers": 1, "heads": 1},
            "training": {"epochs": 1}}


def search(**data) -> dict:
    return {"name": "srch", "task": "search",
            "data": {"format": "judgments", "judgments": "judged.csv", **data},
            "model": {"backbone": "{encoder}"}}


def csv(frame) -> str:
    return frame.to_csv(index=False)


REVIEWS = csv(toy_reviews(80))
INTERACTIONS = "".join(f"u{u} " + " ".join(f"i{(u + k) % 30}" for k in range(6)) + "\n" for u in range(40))


def manifest_edit(change) -> Callable[[Path], None]:
    def setup(sandbox: Path) -> None:
        path = sandbox / "runs" / "keep-me" / "manifest.json"
        m = json.loads(path.read_text())
        change(m)
        path.write_text(json.dumps(m))
    return setup


def run_file(name: str, action) -> Callable[[Path], None]:
    def setup(sandbox: Path) -> None:
        action(sandbox / "runs" / "keep-me" / name)
    return setup


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def flow_bomb() -> str:
    """The bomb as one flow mapping, as fits a `--set key=value`."""
    parts = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    parts += [f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]" for p, n in zip("abcdefgh", "bcdefghi")]
    return "{" + ", ".join(parts) + "}"


def bomb() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


R = "bad.yaml"  # the recipe file name most cases use
TRAIN = ["train", R]

CASES = [
    # --- command-line usage -----------------------------------------------------------------------------------
    Case("usage: train without a recipe", ["train"], [r"Missing argument 'recipe'", r"ecomtune train --help"]),
    Case("usage: unknown option", ["train", "demo", "--epochs", "3"], [r"No such option: --epochs",
                                                                       r"ecomtune train --help"]),
    Case("usage: unknown command", ["trian", "demo"], [r"No such command 'trian'", r"ecomtune --help"]),
    Case("usage: predict without --input", ["predict", "runs/keep-me", "-o", "out.csv"],
         [r"Missing option '--input'", r"ecomtune predict --help"]),
    Case("usage: batch size 0", ["predict", "runs/keep-me", "-i", "reviews.csv", "-o", "o.csv", "-b", "0"],
         [r"--batch-size", r"greater than or equal to 1"]),
    Case("usage: batch size not a number", ["evaluate", "runs/keep-me", "-b", "many"], [r"--batch-size",
                                                                                      r"valid integer"]),
    Case("usage: noise out of range", ["evaluate", "runs/keep-me", "--noise", "2"], [r"--noise", r"0.999"]),
    Case("usage: serve port not a number", ["serve", "runs/keep-me", "--port", "http"], [r"--port", r"integer"]),
    Case("usage: serve port out of range", ["serve", "runs/keep-me", "--port", "70000"],
         [r"`port` \(--port\)", r"65535", r"70000"]),
    Case("usage: serve max batch 0", ["serve", "runs/keep-me", "--max-batch", "0"], [r"--max-batch", r"got 0"]),
    Case("usage: serve negative shutdown timeout", ["serve", "runs/keep-me", "--shutdown-timeout", "-1"],
         [r"--shutdown-timeout", r"-1"]),
    Case("usage: serve unknown run", ["serve", "runs/nope"], [r"runs/nope: not a directory"]),
    Case("usage: compare unknown method", ["compare", R, "--methods", "full,lorra", "--out", "cmp"],
         [r"unknown method 'lorra'"], files={R: recipe()}),
    Case("usage: compress unknown method", ["compress", "runs/keep-me", "--method", "zip"],
         [r"zip", r"int8"]),
    Case("usage: compress option of another method", ["compress", "runs/keep-me", "--method", "int8",
                                                       "--heads", "0.5"], [r"--heads.*does not apply to `int8`"]),
    Case("usage: export without a target", ["export", "runs/keep-me"], [r"Missing argument"]),
    Case("usage: search a classifier run", ["search", "runs/keep-me", "-q", "dress"],
         [r"runs/keep-me is not a search run"]),
    Case("usage: recommend from a classifier run", ["recommend", "runs/keep-me", "--user-history", "a,b"],
         [r"runs/keep-me is a classify run, not a recommend run"]),

    # --- recipe files -------------------------------------------------------------------------------------------
    Case("recipe: file does not exist", ["train", "nope.yaml"], [r"recipe file nope.yaml does not exist"]),
    Case("recipe: neither file nor preset", ["train", "sentimen-zh"], [r"did you mean `sentiment-zh`"]),
    Case("recipe: not YAML", TRAIN, [r"bad.yaml: line 2, column \d+ is not valid YAML"],
         files={R: "name: toy\n  task: [classify\n"}),
    Case("recipe: a list, not a mapping", TRAIN, [r"bad.yaml: a recipe must be a YAML mapping"],
         files={R: "- name\n- task\n"}),
    Case("recipe: empty file", TRAIN, [r"bad.yaml: a recipe must be a YAML mapping.*NoneType"], files={R: ""}),
    Case("recipe: YAML alias bomb", TRAIN, [r"bad.yaml: line \d+: YAML aliases .* expand to more than 100,000"],
         files={R: bomb()}),
    Case("recipe: recursive alias", TRAIN, [r"bad.yaml: line 1: a YAML alias refers to the value it is part of"],
         files={R: "name: &n [*n]\n"}),
    Case("recipe: 2 MB file", TRAIN, [r"bad.yaml: 2,000,\d+ characters of YAML"],
         files={R: "name: toy\n# " + "x" * 2_000_000 + "\n"}),
    Case("recipe: YAML tag that would run code", TRAIN, [r"bad.yaml: .*not valid YAML.*python/object"],
         files={R: "name: !!python/object/apply:os.system ['touch pwned']\n"}),
    Case("recipe: unknown key with a typo", TRAIN, [r"unknown key `training.lerning_rate`",
                                                    r"did you mean `training.learning_rate`"],
         files={R: recipe(training__lerning_rate=1e-3)}),
    Case("recipe: missing task", TRAIN, [r"`task` is required"], files={R: recipe(task=DELETE)}),
    Case("recipe: unknown task", TRAIN, [r"`task` must be one of .*classify.*, got 'poetry'"],
         files={R: recipe(task="poetry")}),
    Case("recipe: missing data.train", TRAIN, [r"`data.train` is required"], files={R: recipe(data__train=DELETE)}),
    Case("recipe: epochs not a number", TRAIN, [r"`training.epochs` .*got 'three'", r"e.g. `3`"],
         files={R: recipe(training__epochs="three")}),
    Case("recipe: epochs infinite", TRAIN, [r"`training.epochs` must be a finite number, got inf"],
         files={R: "name: toy\ntask: classify\ndata: {train: reviews.csv, text_column: review, label_column: stars}\n"
                   "model: {backbone: minilm}\ntraining: {epochs: .inf}\n"}),
    Case("recipe: learning rate NaN", TRAIN, [r"`training.learning_rate` must be a finite number, got nan"],
         files={R: "name: toy\ntask: classify\ndata: {train: reviews.csv, text_column: review, label_column: stars}\n"
                   "model: {backbone: minilm}\ntraining: {learning_rate: .nan}\n"}),
    Case("recipe: learning rate too big", TRAIN, [r"`training.learning_rate` .*less than 1, got 2"],
         files={R: recipe(training__learning_rate=2)}),
    Case("recipe: name ..", TRAIN, [r"`name` '\.\.' is not allowed"], files={R: recipe(name="..")}),
    Case("recipe: name .", TRAIN, [r"`name` '\.' is not allowed"], files={R: recipe(name=".")}),
    Case("recipe: name with a slash", TRAIN, [r"`name` 'a/b' is not allowed"], files={R: recipe(name="a/b")}),
    Case("recipe: template without slot", TRAIN, [r"`model.template` must contain `\{text\}`"],
         files={R: recipe(model__template="Review:")}),
    Case("recipe: adapter with freezing", TRAIN, [r"`model.adapter` \(lora\) freezes the whole backbone"],
         files={R: recipe(model__adapter={"method": "lora"}, training__freeze_layers=1)}),
    Case("recipe: threshold on taxonomy", TRAIN, [r"`evaluation.threshold` is for `task: classify`"],
         files={R: recipe(task="taxonomy", data__label_column=DELETE, data__label_columns=["a", "b"],
                          evaluation__threshold={"label": "x", "target": "recall", "value": 0.9})}),
    Case("recipe: label smoothing with focal", TRAIN, [r"`training.label_smoothing` only applies to `loss.name: ce`"],
         files={R: recipe(training__loss={"name": "focal"}, training__label_smoothing=0.1)}),
    Case("recipe: classify without label column", TRAIN, [r"`data.label_column` is required for `task: classify`"],
         files={R: recipe(data__label_column=DELETE)}),
    Case("recipe: taxonomy with two label sources", TRAIN, [r"needs exactly one of `data.label_columns`"],
         files={R: recipe(task="taxonomy", data__label_column=DELETE, data__label_columns=["a", "b"],
                          data__path_column="p")}),
    Case("recipe: split fraction above 1", TRAIN, [r"`data.split.test` .*less than 1, got 1.5"],
         files={R: recipe(data__split={"test": 1.5})}),
    Case("recipe: batch size 0", TRAIN, [r"`training.batch_size` .*greater than or equal to 1, got 0"],
         files={R: recipe(training__batch_size=0)}),
    Case("recipe: unknown adapter", TRAIN, [r"`model.adapter.method` .*'lora'.*got 'loar'"],
         files={R: recipe(model__adapter={"method": "loar"})}),
    Case("recipe: unknown backbone", TRAIN, [r"backbone 'no-such-model' is not a registered name"],
         files={R: recipe(model__backbone="no-such-model")}),
    Case("recipe: backbone folder without config", TRAIN, [r"backbone directory 'emptydir' has no config.json"],
         files={R: recipe(model__backbone="emptydir")}, setup=lambda s: (s / "emptydir").mkdir()),
    Case("recipe: distill teacher missing", TRAIN, [r"`training.distill.teacher`: runs/none does not exist"],
         files={R: recipe(training__distill={"teacher": "runs/none"})}),
    Case("recipe: overwrite a folder ecomtune did not write", TRAIN + ["--overwrite"],
         [r"mydocs is not an ecomtune run directory", r"--overwrite only replaces folders ecomtune wrote"],
         files={R: recipe(output={"dir": "mydocs"}), "mydocs/thesis.txt": "years of work"}),
    Case("recipe: overwrite through the recipe alone", TRAIN, [r"mydocs is not an ecomtune run directory"],
         files={R: recipe(output={"dir": "mydocs", "overwrite": True}), "mydocs/thesis.txt": "years of work"}),
    Case("recipe: output dir is the current folder", TRAIN + ["--overwrite"],
         [r"is the current folder or one above it"], files={R: recipe(output={"dir": "."})}),
    Case("recipe: output dir above the current folder", TRAIN + ["--overwrite"],
         [r"is the current folder or one above it"], files={R: recipe(output={"dir": ".."})}),
    Case("recipe: output dir is a file", TRAIN, [r"reviews.csv is a file, not a folder"],
         files={R: recipe(output={"dir": "reviews.csv"})}),
    Case("recipe: existing run without --overwrite", TRAIN, [r"runs/keep-me already exists — pass --overwrite"],
         files={R: recipe(name="keep-me")}),
    Case("recipe: resume a finished run", TRAIN + ["--resume"], [r"runs/keep-me: this run is finished"],
         files={R: recipe(name="keep-me")}),
    Case("recipe: resume with nothing to resume", TRAIN + ["--resume"], [r"runs/toy: nothing to resume"],
         files={R: recipe()}),
    Case("recipe: recommend, wrong model type", TRAIN, [r"`model.type` .*'sasrec'.*got 'gru'"],
         files={R: recommend(), "x": ""}, setup=lambda s: (s / R).write_text(
             yaml.safe_dump({**recommend(), "model": {"type": "gru"}}))),
    Case("recipe: search, missing judgments path", TRAIN, [r"`data.judgments` is required for `data.format: "
                                                           r"judgments`"],
         files={R: search(judgments=None)}),

    # --- --set values -------------------------------------------------------------------------------------------
    Case("--set: no equals sign", TRAIN + ["--set", "training.epochs"], [r"override 'training.epochs' must look "
                                                                        r"like `section.key=value`"],
         files={R: recipe()}),
    Case("--set: not a number", TRAIN + ["--set", "training.epochs=abc"], [r"`training.epochs` .*got 'abc'"],
         files={R: recipe()}),
    Case("--set: typo in key", TRAIN + ["--set", "training.lerning_rate=1e-4"],
         [r"did you mean `training.learning_rate`"], files={R: recipe()}),
    Case("--set: into a value", TRAIN + ["--set", "name.x=1"], [r"override 'name.x=1': `name` is not a section"],
         files={R: recipe()}),
    Case("--set: infinite", TRAIN + ["--set", "training.epochs=.inf"], [r"must be a finite number"],
         files={R: recipe()}),
    Case("--set: invalid YAML value", TRAIN + ["--set", "training.epochs=[1"],
         [r"override 'training.epochs'.*not valid YAML"], files={R: recipe()}),
    Case("--set: alias bomb in a value", TRAIN + ["--set", "description=" + flow_bomb()],
         [r"override 'description': line 1: YAML aliases .* expand to more than 100,000"], files={R: recipe()}),
    Case("--set: name ..", TRAIN + ["--set", "name=.."], [r"`name` '\.\.' is not allowed"], files={R: recipe()}),
    Case("--set: negative batch", TRAIN + ["--set", "training.batch_size=-1"],
         [r"`training.batch_size` .*got -1"], files={R: recipe()}),
    Case("--set: unknown metric", TRAIN + ["--set", "evaluation.metric=auc"], [r"`evaluation.metric`.*got 'auc'"],
         files={R: recipe()}),
    Case("--set: task to nonsense", TRAIN + ["--set", "task=nope"], [r"`task` must be one of"],
         files={R: recipe()}),
    Case("--set: split test 1", TRAIN + ["--set", "data.split.test=1"], [r"`data.split.test`.*got 1"],
         files={R: recipe()}),

    # --- data files -----------------------------------------------------------------------------------------------
    Case("data: train file missing", TRAIN, [r"work/gone.csv: file not found"],
         files={R: recipe(data__train="gone.csv")}),
    Case("data: unsupported file type", TRAIN, [r"reviews.xlsx: unsupported file type '.xlsx'"],
         files={R: recipe(data__train="reviews.xlsx"), "reviews.xlsx": b"PK\x03\x04"}),
    Case("data: GBK file", TRAIN, [r"gbk.csv: line 2 is not valid UTF-8", r"iconv -f GB18030"],
         files={R: recipe(data__train="gbk.csv"), "gbk.csv": "review,stars\n衣服很好看,5\n".encode("gbk")}),
    Case("data: latin-1 file", TRAIN, [r"latin.csv: line 2 is not valid UTF-8", r"iconv -f (CP1252|LATIN1)"],
         files={R: recipe(data__train="latin.csv"), "latin.csv": "review,stars\ncafé crème,5\n".encode("latin-1")}),
    Case("data: corrupt gzip", TRAIN, [r"reviews.csv.gz", r"gzip"],
         files={R: recipe(data__train="reviews.csv.gz"), "reviews.csv.gz": b"\x1f\x8b\x08garbage" * 10}),
    Case("data: truncated gzip", TRAIN, [r"trunc.csv.gz: the gzip data ends early"],
         files={R: recipe(data__train="trunc.csv.gz"), "trunc.csv.gz": gz(REVIEWS)[:200]}),
    Case("data: not gzip at all", TRAIN, [r"plain.csv.gz", r"gzip"],
         files={R: recipe(data__train="plain.csv.gz"), "plain.csv.gz": REVIEWS}),
    Case("data: empty file", TRAIN, [r"empty.csv"], files={R: recipe(data__train="empty.csv"), "empty.csv": ""}),
    Case("data: header only", TRAIN, [r"header.csv: no usable rows"],
         files={R: recipe(data__train="header.csv"), "header.csv": "review,stars\n"}),
    Case("data: missing text column", TRAIN, [r"reviews.csv: missing column 'reviw'", r"did you mean 'review'"],
         files={R: recipe(data__text_column="reviw")}),
    Case("data: missing label column", TRAIN, [r"missing column 'star'", r"did you mean 'stars'"],
         files={R: recipe(data__label_column="star")}),
    Case("data: empty texts", TRAIN, [r"holes.csv: 2 bad value\(s\) — row 2, column 'review': empty text",
                                      r"data.bad_rows: drop"],
         files={R: recipe(data__train="holes.csv"), "holes.csv": "review,stars\ngreat,5\n,1\n  ,5\nbad,1\n"}),
    Case("data: empty labels", TRAIN, [r"row 1, column 'stars': empty label"],
         files={R: recipe(data__train="nolabel.csv", data__label_map=DELETE),
                "nolabel.csv": "review,stars\ngreat,\nbad,1\n"}),
    Case("data: one class only", TRAIN, [r"one.csv: column 'stars' has only one label"],
         files={R: recipe(data__train="one.csv"), "one.csv": "review,stars\n" + "".join(f"good {i},5\n"
                                                                                        for i in range(40))}),
    Case("data: rare labels", TRAIN, [r"rare.csv: 1 label\(s\) .* fewer than 2 training rows", r"rare_labels"],
         files={R: recipe(data__train="rare.csv", data__label_map=DELETE),
                "rare.csv": "review,stars\n" + "".join(f"t {i},{1 + i % 2}\n" for i in range(40)) + "odd,3\n"}),
    Case("data: label map drops everything", TRAIN, [r"reviews.csv: no usable rows", r"data.label_map"],
         files={R: recipe(data__label_map={1: None, 5: None})}),
    Case("data: test label never seen in training", TRAIN, [r"test.csv: row 1, column 'stars': label 'neutral' "
                                                            r"never occurs in training"],
         files={R: recipe(data__test="test.csv", data__label_map=DELETE, data__train="two.csv"),
                "two.csv": "review,stars\n" + "".join(f"t {i},{['pos', 'neg'][i % 2]}\n" for i in range(40)),
                "test.csv": "review,stars\nmeh,neutral\n"}),
    Case("data: unbalanced quotes", TRAIN, [r"quotes.csv"],
         files={R: recipe(data__train="quotes.csv"), "quotes.csv": 'review,stars\n"never closed,5\n' * 3}),
    Case("data: JSON that is not a table", TRAIN, [r"scalar.json"],
         files={R: recipe(data__train="scalar.json"), "scalar.json": "42"}),
    Case("data: JSONL with a broken line", TRAIN, [r"broken.jsonl"],
         files={R: recipe(data__train="broken.jsonl"),
                "broken.jsonl": '{"review": "good", "stars": 5}\n{"review": "bad", \n'}),
    Case("data: corrupt parquet", TRAIN, [r"bad.parquet"],
         files={R: recipe(data__train="bad.parquet"), "bad.parquet": b"PAR1 not really"}),
    Case("data: binary garbage as csv", TRAIN, [r"garbage.csv"],
         files={R: recipe(data__train="garbage.csv"), "garbage.csv": bytes(range(256)) * 4}),
    Case("data: a folder as the train file", TRAIN, [r"folder.csv"],
         files={R: recipe(data__train="folder.csv")}, setup=lambda s: (s / "folder.csv").mkdir()),
    Case("data: no test split", TRAIN, [r"the test split is empty"],
         files={R: recipe(data__split={"test": 0.0})}),
    Case("data: threshold tuned on a handful of rows", TRAIN, [r"evaluation.threshold", r"validation"],
         files={R: recipe(data__split={"test": 0.25, "validation": 0.05},
                          evaluation__threshold={"label": "negative", "target": "recall", "value": 0.9})}),
    Case("data: data check on a missing file", ["data", "check", R], [r"gone.csv: file not found"],
         files={R: recipe(data__train="gone.csv")}),
    Case("data: recommend interactions missing", ["data", "check", R], [r"nope.txt"],
         files={R: recommend(interactions="nope.txt")}),
    Case("data: recommend table without a suffix", ["data", "check", R], [r"u.data"],
         files={R: recommend(interactions="u.data"),
                "u.data": "".join(f"{u}\t{(u * 7 + k) % 50}\t{1 + k % 5}\t{880000000 + k}\n"
                                  for u in range(60) for k in range(5))}),
    Case("data: recommend too few interactions", TRAIN, [r"short.txt"],
         files={R: recommend(interactions="short.txt"), "short.txt": "u1 i1\nu2 i2\n"}),
    Case("data: search judgments missing columns", TRAIN, [r"judged.csv", r"query"],
         files={R: search(), "judged.csv": "q,p,l\nred dress,1,E\n"}),
    Case("data: predict input missing column", ["predict", "runs/keep-me", "-i", "other.csv", "-o", "o.csv"],
         [r"other.csv: missing text column 'review'", r"--text-column"], files={"other.csv": "text\nhello\n"}),
    Case("data: predict output is the input", ["predict", "runs/keep-me", "-i", "reviews.csv", "-o",
                                               "./reviews.csv"], [r"--output is the input file"]),
    Case("data: predict only empty texts", ["predict", "runs/keep-me", "-i", "blank.csv", "-o", "o.csv"],
         [r"blank.csv: every text in column\(s\) review is empty"], files={"blank.csv": 'review\n""\n"  "\n'}),
    Case("data: evaluate on a file of unknown labels", ["evaluate", "runs/keep-me", "-i", "odd.csv"],
         [r"odd.csv", r"label"], files={"odd.csv": "review,stars\ngood,3\nbad,3\n"}),
    Case("data: monitor on a missing file", ["monitor", "runs/keep-me", "--input", "gone.csv"],
         [r"gone.csv: file not found"]),

    # --- run directories ----------------------------------------------------------------------------------------
    Case("run: not a folder", ["evaluate", "reviews.csv"], [r"reviews.csv: not a directory"]),
    Case("run: no manifest", ["predict", "emptyrun", "-i", "reviews.csv", "-o", "o.csv"],
         [r"emptyrun: no manifest.json"], setup=lambda s: (s / "emptyrun").mkdir()),
    Case("run: manifest not JSON", ["evaluate", "runs/keep-me"], [r"manifest.json: not valid JSON"],
         setup=run_file("manifest.json", lambda p: p.write_text("{not json"))),
    Case("run: manifest empty", ["evaluate", "runs/keep-me"], [r"manifest.json: not valid JSON"],
         setup=run_file("manifest.json", lambda p: p.write_text(""))),
    Case("run: manifest a list", ["evaluate", "runs/keep-me"], [r"holds a JSON list, not an object"],
         setup=run_file("manifest.json", lambda p: p.write_text("[1, 2]"))),
    Case("run: manifest without task", ["evaluate", "runs/keep-me"], [r"`task` must name the run's task"],
         setup=manifest_edit(lambda m: m.pop("task"))),
    Case("run: manifest with unknown task", ["serve", "runs/keep-me"], [r"task 'poetry' is not one"],
         setup=manifest_edit(lambda m: m.update(task="poetry"))),
    Case("run: string format version", ["evaluate", "runs/keep-me"], [r"`format_version` must be a whole number"],
         setup=manifest_edit(lambda m: m.update(format_version="2"))),
    Case("run: no format version", ["evaluate", "runs/keep-me"], [r"manifest.json: no `format_version`"],
         setup=manifest_edit(lambda m: m.pop("format_version"))),
    Case("run: newer format version", ["evaluate", "runs/keep-me"], [r"format version 7 is newer",
                                                                     r"upgrade ecomtune"],
         setup=manifest_edit(lambda m: m.update(format_version=7))),
    Case("run: truncated weights", ["predict", "runs/keep-me", "-i", "reviews.csv", "-o", "o.csv"],
         [r"model/model.safetensors: [\d,]+ bytes where the manifest lists"],
         setup=run_file("model/model.safetensors", truncate)),
    Case("run: missing tokenizer", ["predict", "runs/keep-me", "-i", "reviews.csv", "-o", "o.csv"],
         [r"model/tokenizer.json: missing"], setup=run_file("model/tokenizer.json", os.remove)),
    Case("run: labels swapped in the manifest", ["evaluate", "runs/keep-me"],
         [r"`label_space` differs from the labels the model was trained on"],
         setup=manifest_edit(lambda m: m["label_space"]["labels"][0].reverse())),
    Case("run: head sizes do not match", ["evaluate", "runs/keep-me"], [r"`head.sizes` \[5\] does not match"],
         setup=manifest_edit(lambda m: m["head"].update(sizes=[5]))),
    Case("run: head missing", ["evaluate", "runs/keep-me"], [r"`head` field required"],
         setup=manifest_edit(lambda m: m.pop("head"))),
    Case("run: recipe missing from the manifest", ["evaluate", "runs/keep-me"], [r"`recipe` is missing"],
         setup=manifest_edit(lambda m: m.pop("recipe"))),
    Case("run: runtime file outside", ["evaluate", "runs/keep-me"], [r"'/etc/hostname' where a path inside"],
         setup=manifest_edit(lambda m: m.update(runtime={"name": "onnx", "file": "/etc/hostname"}))),
    Case("run: runtime file climbing out", ["serve", "runs/keep-me"], [r"outside the run directory"],
         setup=manifest_edit(lambda m: m.update(runtime={"name": "onnx", "file": "../../../../etc/hostname"}))),
    Case("run: listed file outside", ["serve", "runs/keep-me"], [r"'\.\./reviews.csv', which is outside"],
         setup=manifest_edit(lambda m: m["files"].update({"../reviews.csv": {"bytes": 1, "sha256": "0"}}))),
    Case("run: weights are a link to elsewhere", ["evaluate", "runs/keep-me"],
         [r"model/model.safetensors: a link to /etc/hostname, outside the run directory", r"cp -rL"],
         setup=run_file("model/model.safetensors", lambda p: (os.remove(p), os.symlink("/etc/hostname", p)))),
    Case("run: unknown runtime", ["evaluate", "runs/keep-me"], [r"manifest.json: unknown runtime 'tflite'"],
         setup=manifest_edit(lambda m: m.update(runtime={"name": "tflite"}))),
    Case("run: compress to a folder ecomtune did not write", ["compress", "runs/keep-me", "--method", "int8",
                                                              "--out", "mydocs", "--overwrite"],
         [r"mydocs is not an ecomtune run directory"], files={"mydocs/thesis.txt": "years of work"}),
    Case("run: export over a folder ecomtune did not write", ["export", "runs/keep-me", "mydocs", "--overwrite"],
         [r"mydocs is not an ecomtune run directory"], files={"mydocs/thesis.txt": "years of work"}),
    Case("run: export over an existing copy", ["export", "runs/keep-me", "runs"], [r"runs already exists"]),
    Case("run: merge a run without adapter", ["export", "runs/keep-me", "merged", "--merge"],
         [r"nothing to merge"]),
    Case("run: a pretrain output given to predict", ["evaluate", "pt"], [r"pt: an `ecomtune pretrain` output"],
         setup=lambda s: ((s / "pt").mkdir(), (s / "pt" / "manifest.json").write_text(
             json.dumps({"kind": "pretrain", "format_version": 2})))),
]


def _write(sandbox: Path, name: str, content, encoder: str) -> None:
    path = sandbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        content = yaml.safe_dump(content, allow_unicode=True)
    if isinstance(content, str):
        path.write_text(content.replace("{encoder}", encoder), encoding="utf-8")
    else:
        path.write_bytes(content)


def _snapshot(root: Path) -> dict:
    """Every file and folder under `root`: (size, mtime) of files, None for folders; links by their target."""
    out = {}
    for path in root.rglob("*"):
        key = str(path.relative_to(root))
        out[key] = os.readlink(path) if path.is_symlink() else None if path.is_dir() else \
            (path.stat().st_size, path.stat().st_mtime_ns)
    return out


@pytest.fixture
def sandbox(tmp_path, tiny_run, monkeypatch) -> Path:
    """tmp/work, the current folder: reviews.csv, products.csv, runs/keep-me (a finished run); tmp/outside beside."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "reviews.csv").write_text(REVIEWS, encoding="utf-8")
    (work / "products.csv").write_text(csv(toy_products(40)), encoding="utf-8")
    (work / "inter.txt").write_text(INTERACTIONS, encoding="utf-8")
    shutil.copytree(tiny_run, work / "runs" / "keep-me")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "precious.txt").write_text("keep")
    monkeypatch.chdir(work)
    monkeypatch.setenv("ECOMTUNE_QUIET", "1")
    return work


def run_cli(argv: list[str], monkeypatch) -> int | None:
    from ecomtune.cli.main import main

    monkeypatch.setattr(sys, "argv", ["ecomtune", *argv])
    try:
        main()
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_line_error_and_changes_nothing(case, sandbox, tiny_encoder, capsys, monkeypatch):
    for name, content in case.files.items():
        _write(sandbox, name, copy.deepcopy(content), tiny_encoder)
    if case.setup:
        case.setup(sandbox)
    before = _snapshot(sandbox.parent)
    capsys.readouterr()
    code = run_cli([a.replace("{encoder}", tiny_encoder) for a in case.argv], monkeypatch)
    out = capsys.readouterr()
    text = (out.out + out.err).strip()
    assert "Traceback" not in text and "unexpected error" not in text, text
    lines = text.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), f"exit {code}: {text}"
    for pattern in case.expect:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"
    assert len(lines[0]) < 600, lines[0]
    assert _snapshot(sandbox.parent) == before, "files changed"


def test_the_catalogue_covers_every_kind_of_input():
    kinds = {c.id.split(":")[0] for c in CASES}
    assert kinds == {"usage", "recipe", "--set", "data", "run"}
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)
