"""POST /v1/generate and /v1/qa through the app: JSON answers, server-sent-event streams, and the limits (a request
for 100k tokens or an over-long prompt is a 422 that names it)."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

import ecomtune
from ecomtune.deploy.serve import create_app
from tests.serve.conftest import wait_ready
from tests.tasks.generate.conftest import generate_recipe

INPUT = "类型#上衣*颜色#白色*材质#棉"


@pytest.fixture(scope="module")
def client(tiny_chat_lm, tmp_path_factory):
    run = ecomtune.train(generate_recipe(tmp_path_factory.mktemp("gen-service"), tiny_chat_lm,
                                         training={"max_steps": 2}, evaluation={"rows": 2}))
    with TestClient(create_app([run], {"device": "cpu"})) as c:
        wait_ready(c)
        yield c


def test_json_answer_with_attribute_checks(client):
    r = client.post("/v1/generate", json={"inputs": [INPUT, "类型#裙*颜色#黑色"], "max_new_tokens": 6})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "generate" and [o["input"] for o in body["outputs"]] == [INPUT, "类型#裙*颜色#黑色"]
    assert all(set(o["attributes"]) == {"coverage", "contradictions"} for o in body["outputs"])


def test_stream_sends_pieces_then_the_whole_text(client):
    with client.stream("POST", "/v1/generate", json={"inputs": [INPUT], "stream": True, "max_new_tokens": 6}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in r.iter_lines() if line.startswith("data: ")]
    pieces, done = events[:-1], events[-1]
    assert done["done"] and done["task"] == "generate"
    assert done["text"] == "".join(p["text"] for p in pieces).strip()


@pytest.mark.parametrize("body, where", [
    ({"inputs": [INPUT], "max_new_tokens": 100_000}, "max_new_tokens"),
    ({"inputs": [INPUT], "temperature": 0}, "temperature"),
    ({"inputs": [INPUT] * 2, "stream": True}, "streaming answers one input"),
    ({"inputs": ["很长" * 400]}, "inputs[0]: the prompt is"),
    ({"inputs": []}, "inputs"),
])
def test_limits_are_422_naming_the_field(client, body, where):
    r = client.post("/v1/generate", json=body)
    assert r.status_code == 422 and where in r.text, r.text


def test_qa_endpoint_answers_and_refuses(tiny_chat_lm, tmp_path):
    from tests.test_conformance import _qa

    run = ecomtune.train(_qa(tmp_path, tiny_chat_lm))
    with TestClient(create_app([run], {"device": "cpu"})) as c:
        wait_ready(c)
        r = c.post("/v1/qa", json={"questions": [
            {"product": "P001", "question": "does the filter fit model m1?"},
            {"product": "P001", "question": "zzz qqq"},
            {"product": "NOPE", "question": "does the filter fit?"}], "max_new_tokens": 4})
    assert r.status_code == 200, r.text
    fits, nonsense, unknown = r.json()["answers"]
    assert fits["supported"] and fits["context"] and fits["yes_no"]["answer"] in ("yes", "no")
    assert not nonsense["supported"] and nonsense["answer"] == "The product's other answers do not say."
    assert not unknown["known_product"] and not unknown["supported"]
