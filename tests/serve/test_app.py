"""The HTTP service through TestClient, on tiny trained runs: every endpoint, limits, auth, versions, errors."""
from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import ecomtune
from ecomtune.deploy.monitor import DriftMonitor
from ecomtune.deploy.serve import ServeError, create_app
from ecomtune.deploy.serve import registry as registry_module
from ecomtune.deploy.serve import service as service_module
from tests.conftest import TAXONOMY
from tests.serve.conftest import wait_ready

LIMITS = {"max_items": 4, "max_text_chars": 50, "max_wait_ms": 2}


@pytest.fixture(scope="module")
def client(classify_run, taxonomy_run):
    with TestClient(create_app([classify_run, taxonomy_run], LIMITS)) as c:
        wait_ready(c)
        yield c


def serving(app, **kwargs):
    """A started TestClient on a ready app."""
    c = TestClient(app, **kwargs)
    c.__enter__()
    wait_ready(c)
    return c


def metric(client, name: str, **labels) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_classify_answers_like_the_model_in_process(client, classify_run):
    texts = ["love this great dress 1", "terrible cheap broken shirt", "衣服很好，物流快"]
    response = client.post("/v1/classify", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    manifest = json.loads((classify_run / "manifest.json").read_text())
    assert body["model"] == "sentiment" and body["task"] == "classify"
    assert body["version"] == manifest["created"][:10].replace("-", "") + "-" + manifest["created"][11:19].replace(
        ":", "")
    expected = ecomtune.load(classify_run).predict(texts)
    for got, want in zip(body["predictions"], expected):
        assert got["label"] == want["label"] and got["cached"] is False
        assert got["score"] == pytest.approx(want["score"], abs=0.02)
        assert sum(got["probs"].values()) == pytest.approx(1.0, abs=1e-4)
        assert got["score"] == max(got["probs"].values())


def _probs(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [p["probs"] for p in response.json()["predictions"]]


def test_cache_twins_each_client_gets_the_answer_for_its_own_text(client, classify_run):
    twins = ["ｌｏｖｅ ｔｈｉｓ ｃｈｅａｐ ｄｒｅｓｓ 7", "love this cheap dress 7"]  # full-width first: NFKC folds them
    plain = serving(create_app([classify_run], {**LIMITS, "cache_size": 0}))
    try:
        truth = [_probs(plain.post("/v1/classify", json={"texts": [t]}))[0] for t in twins]
    finally:
        plain.__exit__(None, None, None)
    assert truth[0] != truth[1]
    hits_before = metric(client, "ecomtune_cache_hits_total")
    for text, want in zip(twins, truth):
        first = client.post("/v1/classify", json={"texts": [text]})
        assert first.json()["predictions"][0]["cached"] is False
        assert _probs(first)[0] == pytest.approx(want, abs=1e-5)
    again = client.post("/v1/classify", json={"texts": [twins[1], twins[0], twins[1]]})
    assert [p["cached"] for p in again.json()["predictions"]] == [True, True, True]
    assert _probs(again) == [truth[1], truth[0], truth[1]]
    assert metric(client, "ecomtune_cache_hits_total") - hits_before == 3
    repeated = client.post("/v1/classify", json={"texts": ["fits and color 8", "fits and color 8"]})
    assert [p["cached"] for p in repeated.json()["predictions"]] == [False, False]  # computed once, not cached


def test_taxonomy_predicts_known_paths(client):
    response = client.post("/v1/taxonomy", json={"texts": ["Nike Men Sneakers 7", "Levis Women Jeans 3"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["task"]) == ("category", "taxonomy")
    for p in body["predictions"]:
        assert tuple(p["path"]) in TAXONOMY and p["label"] == " > ".join(p["path"])
        assert p["score"] == pytest.approx(p["level_scores"]["L1"] * p["level_scores"]["L2"]
                                           * p["level_scores"]["L3"], rel=1e-5)
    wrong = client.post("/v1/classify", json={"model": "category", "texts": ["Nike"]})
    assert wrong.status_code == 404 and "is a taxonomy model" in wrong.json()["detail"]


def test_models_lists_names_versions_labels_and_metrics(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == {"sentiment", "category"}
    assert models["sentiment"]["labels"] == {"stars": ["negative", "positive"]}
    assert models["sentiment"]["endpoint"] == "/v1/classify" and models["category"]["endpoint"] == "/v1/taxonomy"
    assert 0 <= models["sentiment"]["test_metrics"]["accuracy"] <= 1
    assert models["category"]["labels"]["L3"] == sorted({p[2] for p in TAXONOMY})
    assert all(m["latest"] and m["ref"] == f"{m['name']}@{m['version']}" for m in models.values())


def test_unknown_model_is_404_naming_the_available_ones(client):
    response = client.post("/v1/classify", json={"model": "nope", "texts": ["ok"]})
    assert response.status_code == 404
    assert "unknown model 'nope'" in response.json()["detail"] and "sentiment@" in response.json()["detail"]
    assert client.post("/v1/classify", json={"model": "sentiment@1999", "texts": ["ok"]}).status_code == 404


@pytest.mark.parametrize("body, detail", [
    ({"texts": []}, "texts: empty list"),
    ({"texts": ["ok", "   "]}, "texts[1]: empty text"),
    ({"texts": ["x" * 51]}, "texts[0]: 51 characters, at most 50"),
    ({"texts": ["a", "b", "c", "d", "e"]}, "texts: 5 texts, at most 4 per request"),
    ({"texts": ["ok", 3]}, "texts[1]: Input should be a valid string"),
    ({"texts": "ok"}, "texts: Input should be a valid list"),
    ({"texts": ["ok"], "model": 5}, "model: Input should be a valid string"),
    ({"text": ["ok"]}, "texts: Field required (and 1 more)"),
    ("{not json", "body: JSON decode error"),
])
def test_bad_requests_are_422_naming_the_field(client, body, detail):
    if isinstance(body, str):
        response = client.post("/v1/classify", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post("/v1/classify", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == detail or response.json()["detail"].startswith(detail)
    assert response.json()["errors"] and "loc" in response.json()["errors"][0]


def test_metrics_count_requests_batches_and_errors(client):
    before = metric(client, "ecomtune_requests_total", endpoint="/v1/classify", status="200")
    for i in range(3):
        client.post("/v1/classify", json={"texts": [f"metric text {i}", f"other text {i}"]})
    client.post("/v1/classify", json={"texts": []})
    ref = client.get("/readyz").json()["models"][0]
    assert metric(client, "ecomtune_requests_total", endpoint="/v1/classify", status="200") - before == 3
    assert metric(client, "ecomtune_requests_total", endpoint="/v1/classify", model=ref, status="200") >= 3
    assert metric(client, "ecomtune_errors_total", endpoint="/v1/classify", kind="validation") >= 1
    assert metric(client, "ecomtune_batch_size_count", model=ref) >= 3
    assert metric(client, "ecomtune_batch_size_sum", model=ref) >= 6
    assert metric(client, "ecomtune_request_seconds_count", endpoint="/v1/classify") >= 3
    assert metric(client, "ecomtune_queue_depth", model=ref) == 0
    assert metric(client, "ecomtune_ready") == 1


def test_readyz_is_503_until_the_models_are_warm(classify_run, monkeypatch):
    release = threading.Event()
    real = service_module.load_served

    def slow_load(*args, **kwargs):
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "load_served", slow_load)
    with TestClient(create_app([classify_run])) as c:
        assert c.get("/healthz").json() == {"status": "alive"}
        assert c.get("/readyz").status_code == 503 and c.get("/readyz").json()["status"] == "loading"
        busy = c.post("/v1/classify", json={"texts": ["ok"]})
        assert busy.status_code == 503 and "loading" in busy.json()["detail"]
        release.set()
        assert wait_ready(c)["models"][0].startswith("sentiment@")
        assert c.post("/v1/classify", json={"texts": ["ok"]}).status_code == 200


def test_api_key_guards_v1_but_not_operations(classify_run):
    c = serving(create_app([classify_run], {"api_key": "s3cret"}))
    try:
        body = {"texts": ["ok"]}
        missing = c.post("/v1/classify", json=body)
        assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
        assert c.post("/v1/classify", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/models").status_code == 401
        assert c.post("/v1/classify", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.post("/v1/classify", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/v1/classify", json={"texts": []}).status_code == 401  # auth before validation
        for path in ("/healthz", "/readyz", "/metrics"):
            assert c.get(path).status_code == 200
        assert metric(c, "ecomtune_errors_total", kind="auth") == 4
    finally:
        c.__exit__(None, None, None)


def test_two_versions_side_by_side(classify_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(classify_run, old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["created"] = "2025-01-02T03:04:05Z"
    (old / "manifest.json").write_text(json.dumps(manifest))
    c = serving(create_app([classify_run, old, f"pinned@v7={classify_run}"]))
    try:
        refs = {m["ref"]: m for m in c.get("/v1/models").json()["models"]}
        assert refs["sentiment@20250102-030405"]["latest"] is False and refs["pinned@v7"]["latest"]
        latest = c.post("/v1/classify", json={"model": "sentiment", "texts": ["ok"]}).json()
        assert latest["version"] != "20250102-030405"
        pinned = c.post("/v1/classify", json={"model": "sentiment@20250102-030405", "texts": ["ok"]}).json()
        assert pinned["version"] == "20250102-030405" and pinned["predictions"][0]["cached"] is False
        ambiguous = c.post("/v1/classify", json={"texts": ["ok"]})
        assert ambiguous.status_code == 400 and "pinned@v7" in ambiguous.json()["detail"]
    finally:
        c.__exit__(None, None, None)
    with pytest.raises(ServeError, match="are both sentiment@"):
        create_app([classify_run, classify_run])


def test_an_inference_error_is_500_and_the_worker_keeps_serving(classify_run):
    c = serving(create_app([classify_run]))
    try:
        served = next(iter(c.app.state.serving.registry))
        real = served.model.predict_arrays

        def flaky(texts, batch_size=64):
            if any("boom" in t for t in texts):
                raise RuntimeError("boom in the model")
            return real(texts, batch_size)

        served.model.predict_arrays = flaky
        failed = c.post("/v1/classify", json={"texts": ["boom"]})
        assert failed.status_code == 500
        assert failed.json()["detail"] == f"inference failed on {served.ref}: RuntimeError: boom in the model"
        assert c.post("/v1/classify", json={"texts": ["fine"]}).status_code == 200
        assert metric(c, "ecomtune_inference_errors_total") == 1
        assert metric(c, "ecomtune_errors_total", kind="server") == 1
    finally:
        c.__exit__(None, None, None)


class FakeMonitor:
    def __init__(self):
        self.rows = []

    @classmethod
    def for_model(cls, model, run_dir, window=1000):
        cls.instance = cls()
        cls.window = window
        return cls.instance

    def observe(self, texts, pred, probs):
        assert pred.shape == (len(texts), 1) and probs[0].shape == (len(texts), 2)
        self.rows.extend(texts)

    observe_results = DriftMonitor.observe_results  # the real stacking of the service's rows, then `observe`

    def report(self):
        return {"rows": len(self.rows), "action": "collecting"}


def test_monitor_observes_every_item_including_cache_hits(classify_run, monkeypatch):
    monkeypatch.setattr(registry_module, "DriftMonitor", FakeMonitor)
    c = serving(create_app([classify_run], {"monitor_window": 50}))
    try:
        c.post("/v1/classify", json={"texts": ["watch me", "and me"]})
        assert c.post("/v1/classify", json={"texts": ["watch me"]}).json()["predictions"][0]["cached"]
        deadline = time.monotonic() + 5
        while len(FakeMonitor.instance.rows) < 3 and time.monotonic() < deadline:  # observed off the request path
            time.sleep(0.01)
        assert FakeMonitor.instance.rows == ["watch me", "and me", "watch me"] and FakeMonitor.window == 50
        report = c.get("/v1/monitor", params={"model": "sentiment"}).json()
        assert report == {"model": "sentiment", "version": report["version"], "rows": 3, "action": "collecting"}
        assert c.get("/v1/models").json()["models"][0]["monitor"] is True
    finally:
        c.__exit__(None, None, None)


def test_monitor_is_404_without_a_monitor(client, monkeypatch):
    monkeypatch.setattr(registry_module, "DriftMonitor", None)
    c = serving(create_app([next(iter(client.app.state.serving.registry)).run_dir]))
    try:
        response = c.get("/v1/monitor")
        assert response.status_code == 404 and response.json()["detail"].startswith("no monitor")
    finally:
        c.__exit__(None, None, None)


def test_real_drift_monitor_reports_when_the_run_has_a_profile(classify_run):
    if registry_module.DriftMonitor is None or not (classify_run / "profile.json").exists():
        pytest.skip("ecomtune.deploy.monitor or the run's profile.json is absent")
    c = serving(create_app([classify_run]))
    try:
        c.post("/v1/classify", json={"texts": ["love this great dress", "awful"]})
        report = c.get("/v1/monitor").json()
        assert report["action"] in {"ok", "collecting", "fine-tune again"} and report["model"] == "sentiment"
    finally:
        c.__exit__(None, None, None)


def test_a_failed_load_is_reported_by_readyz(classify_run, monkeypatch):
    failures = []

    def broken(*args, **kwargs):
        raise OSError("model.safetensors: truncated file")

    monkeypatch.setattr(service_module, "load_served", broken)
    with TestClient(create_app([classify_run], on_failure=failures.append)) as c:
        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.01)
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "failed", "detail": "OSError: model.safetensors: truncated file"}
        assert "truncated file" in c.post("/v1/classify", json={"texts": ["ok"]}).json()["detail"]
    assert len(failures) == 1


def test_openapi_documents_the_typed_endpoints(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/taxonomy", "/v1/models", "/v1/monitor", "/healthz", "/readyz"} <= set(schema["paths"])
    assert "PredictRequest" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200
