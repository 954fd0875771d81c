"""Careless and hostile requests through TestClient: every error is a short 4xx that echoes nothing, a body over
the limit is refused before it is parsed, the key is checked before the body, and the schema states this app's
limits (and its key only when there is one)."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ecomtune.deploy.serve import create_app
from tests.serve.conftest import wait_ready
from tests.serve.test_app import serving

LIMITS = {"max_items": 4, "max_text_chars": 50, "max_body_bytes": 20_000}
KEY = {"X-API-Key": "s3cret"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(classify_run):
    with TestClient(create_app([classify_run], LIMITS)) as c:
        wait_ready(c)
        yield c


def short_error(response, status: int) -> str:
    """The `detail` of a well-formed error answer: this status, strict UTF-8 JSON, short, one line."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json" and len(response.content) < 2000
    body = json.loads(response.content.decode("utf-8"))  # strict: no lone surrogate in what comes back
    assert len(body["detail"]) <= 300 and "\n" not in body["detail"]
    return body["detail"]


@pytest.mark.parametrize("body, status, detail", [
    (b'{"texts": ["ok", "poison \\ud800"]}', 422, "texts[1]: not valid Unicode at character 7"),
    (b'{"texts": NaN}', 422, "texts: Input should be a valid list"),
    (b'{"texts": ["ok"], "model": Infinity}', 422, "model: Input should be a valid string"),
    (b'{"texts": ["ok"], "k": -Infinity}', 422, "k: Extra inputs are not permitted"),
    (b'{"texts": ["ok"], "\\udc80": 1}', 422, "body: Input should be a valid string"),
    (b'{"texts": ["ok"], "model": "\\ud800"}', 404, "unknown model '\\ud800'"),
    (b'{"texts": ["ok"', 422, "body: JSON decode error at character 15"),
    (b'{"texts": ["\xff"]}', 400, "There was an error parsing the body"),
    (b"[" * 5000 + b"]" * 5000, 400, "There was an error parsing the body"),  # deeper than json can read
    (json.dumps({"texts": ["x" * 15_000]}).encode(), 422, "texts[0]: 15000 characters, at most 50"),
    (json.dumps({"texts": ["ok"], "model": "m" * 15_000}).encode(), 404, "unknown model 'mmmmm"),
    (json.dumps({"texts": ["ok"] * 2000}).encode(), 422, "texts: 2000 texts, at most 4 per request"),
    (json.dumps({"texts": [" \u3000\ufeff\x1f"]}).encode(), 422, "texts[0]: empty text"),
])
def test_bad_input_is_a_short_4xx_that_echoes_nothing(client, body, status, detail):
    response = client.post("/v1/classify", content=body, headers=JSON)
    assert short_error(response, status).startswith(detail)
    for error in response.json().get("errors", []):
        assert set(error) == {"loc", "msg", "type"}  # no `input`: the request is never sent back
    assert client.post("/v1/classify", json={"texts": ["still fine"]}).status_code == 200


def test_a_body_over_the_limit_is_413_before_it_is_parsed(client):
    big = b'{"texts": ["' + b"x" * 25_000  # not even JSON: it is never read as such
    detail = short_error(client.post("/v1/classify", content=big, headers=JSON), 413)
    assert detail.startswith("request body over 20000 bytes")
    streamed = client.post("/v1/classify", content=iter([big[:10_000], big[10_000:]]), headers=JSON)
    assert "content-length" not in streamed.request.headers  # chunked: counted as it arrives
    short_error(streamed, 413)
    fine = client.post("/v1/classify", content=iter([b'{"texts": ', b'["chunked ok"]}']), headers=JSON)
    assert fine.status_code == 200


def test_the_key_comes_before_the_body_and_guards_the_docs(classify_run):
    c = serving(create_app([classify_run], {**LIMITS, "api_key": "s3cret"}))
    try:
        for body in (b'{"texts": [', b'{"texts": NaN}', b'{"texts": []}', b"x" * 30_000):
            assert "missing API key" in short_error(c.post("/v1/classify", content=body, headers=JSON), 401)
        assert short_error(c.post("/v1/classify", content=b'{"texts": [', headers={**JSON, **KEY}), 422)
        assert short_error(c.post("/v1/classify", content=b"x" * 30_000, headers={**JSON, **KEY}), 413)
        for path in ("/docs", "/redoc", "/openapi.json", "/v1/models", "/nowhere"):
            assert c.get(path).status_code == 401
            assert c.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
            assert c.get(path, headers={"Authorization": "Bearer s3cret"}).status_code in (200, 404)
        for path in ("/healthz", "/readyz", "/metrics"):
            assert c.get(path).status_code == 200
        spec = c.get("/openapi.json", headers=KEY).json()
        assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
        assert "401" in spec["paths"]["/v1/classify"]["post"]["responses"]
        assert spec["paths"]["/v1/classify"]["post"]["security"] and "security" not in spec["paths"]["/healthz"]["get"]
    finally:
        c.__exit__(None, None, None)


def test_the_schema_states_this_apps_limits_and_errors(client):
    spec = client.get("/openapi.json").json()
    types = spec["components"]["schemas"]
    assert "securitySchemes" not in spec["components"]  # no key, no auth declared
    for name, field in (("PredictRequest", "texts"), ("SearchRequest", "queries")):
        texts = types[name]["properties"][field]
        assert (texts["minItems"], texts["maxItems"], texts["items"]["maxLength"]) == (1, 4, 50)
        assert texts["items"]["minLength"] == 1 and texts["items"]["pattern"].startswith("[^ ")
    assert types["RecommendRequest"]["properties"]["histories"]["maxItems"] == 4
    ref = client.get("/readyz").json()["models"][0]
    assert types["PredictRequest"]["properties"]["model"]["anyOf"][0]["enum"] == sorted(["sentiment", ref])
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert "security" not in operation
            if path.startswith("/v1/"):
                for code in ("400", "404", "413", "422", "503"):
                    declared = operation["responses"][code]["content"]["application/json"]["schema"]
                    assert declared == {"$ref": "#/components/schemas/ErrorResponse"}, (path, code)
    assert "HTTPValidationError" not in types


def test_search_and_recommend_check_what_reaches_a_tokenizer(search_run, profile_rec_run):
    c = serving(create_app([search_run, profile_rec_run], LIMITS))
    try:
        post = lambda path, body: c.post(path, content=body, headers=JSON)  # noqa: E731
        assert short_error(post("/v1/search", b'{"queries": ["red shirt", "\\udfff"]}'), 422).startswith(
            "queries[1]: not valid Unicode")
        assert short_error(post("/v1/search", b'{"queries": ["red shirt"], "k": 5.5}'), 422).startswith("k: ")
        rec = b'{"histories": [["i1"], ["i2"]], "profiles": [null, "Men \\ud800"]}'
        assert short_error(post("/v1/recommend", rec), 422).startswith("profiles[1]: not valid Unicode")
        long = json.dumps({"histories": [["i1"]], "profiles": ["Men " * 100]}).encode()
        assert short_error(post("/v1/recommend", long), 422).startswith("profiles[0]: 400 characters, at most 50")
        unknown = json.dumps({"histories": [["i1", "\ud800" + "z" * 10_000]]}).encode()  # escaped: ASCII
        assert short_error(post("/v1/recommend", unknown), 422).startswith("histories[0][1]: unknown item '\\ud800zzz")
        ok = c.post("/v1/recommend", json={"histories": [["i1"], ["i1"]], "profiles": ["Men", "Ｍｅｎ"], "k": 3.0})
        assert ok.status_code == 200 and [r["cached"] for r in ok.json()["recommendations"]] == [False, False]
    finally:
        c.__exit__(None, None, None)
