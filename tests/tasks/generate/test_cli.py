"""`ecomtune generate` and `ecomtune ask` as a user runs them (real subprocesses): a file of inputs to a JSONL of
texts, one input streamed to the terminal, a question answered; bad input is a one-line error."""
from __future__ import annotations

import json

import pytest

import ecomtune
from tests.cli.test_cli import ecomtune as cli
from tests.tasks.generate.conftest import generate_recipe, write_pairs


@pytest.fixture(scope="module")
def gen_run(tiny_chat_lm, tmp_path_factory):
    return ecomtune.train(generate_recipe(tmp_path_factory.mktemp("gen-cli"), tiny_chat_lm,
                                         training={"max_steps": 2}, evaluation={"rows": 2}))


def test_generate_a_file_and_a_streamed_text(gen_run, tmp_path):
    inputs = write_pairs(tmp_path / "in.jsonl", [{"content": "类型#裙*颜色#黑色", "sku": "a1"},
                                                 {"content": "类型#裤*颜色#白色", "sku": "a2"}])
    cli("generate", gen_run, "--input", inputs, "--output", tmp_path / "out.jsonl", "--max-new-tokens", "4")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["sku"] for r in rows] == ["a1", "a2"] and all("text" in r and "attributes" in r for r in rows)
    streamed = cli("generate", gen_run, "--text", "类型#裙*颜色#黑色", "--max-new-tokens", "4")
    assert streamed.stdout.endswith("\n") and "coverage" in streamed.stderr


def test_generate_errors_are_one_line(gen_run, tmp_path):
    neither = cli("generate", gen_run, check=False)
    assert neither.returncode == 2 and "--input FILE" in neither.stdout + neither.stderr
    bad = write_pairs(tmp_path / "bad.jsonl", [{"text": "x"}])
    wrong = cli("generate", gen_run, "--input", bad, "--output", tmp_path / "o.jsonl", check=False)
    assert wrong.returncode == 2 and "no column `content`" in wrong.stdout + wrong.stderr


def test_ask_answers_a_question(tiny_chat_lm, tmp_path):
    from tests.test_conformance import _qa

    run = ecomtune.train(_qa(tmp_path, tiny_chat_lm))
    out = cli("ask", run, "--product", "P001", "--question", "does the filter fit model m1?", "--json")
    answer = json.loads(out.stdout)
    assert answer["product"] == "P001" and answer["supported"] and answer["context"]
