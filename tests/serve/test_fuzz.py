"""Schemathesis fuzzes the service against its own OpenAPI schema, with a model of every served task family loaded
(classify, multitask, taxonomy, recommend with profile text, search with a re-ranker, generate, qa) and every check on: each
answer is a 2xx or 4xx that matches the schema, valid data is accepted and invalid data refused — 0 failures,
0 5xx. Once without an API key and once with one (then every operation must refuse a request without it).

It runs schemathesis' engine, as `schemathesis run` does (examples, coverage of the boundaries, random fuzzing),
in process over ASGI: its pytest plugin's `from_fixture` does not run under pytest 9.2.
"""
from __future__ import annotations

import time

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.engine import Status
from schemathesis.engine.events import EngineFinished, FatalError, NonFatalError, ScenarioFinished

from ecomtune.deploy.serve import create_app
from tests.tasks.recommend.conftest import toy_items

KEY = "fuzz-key"
ITEMS = toy_items()["item_id"].tolist()
LIMITS = {"max_items": 3, "max_text_chars": 40, "max_wait_ms": 1}
# What a schema cannot say: valid-looking data the service still refuses, with a declared status
ALSO_REFUSED = [
    # classify and multitask both answer /v1/classify, and every model answers /v1/monitor: without `model`, 400
    {"include-path-regex": "^/v1/(classify|monitor)$", "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "400", "404"]}}},
    # item ids must be in the catalogue, and `profiles` must line up with `histories`
    {"include-path": "/v1/recommend", "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "404", "422"]}}},
    # a model of another task (404); a prompt longer than the run's max_prompt_tokens, several inputs with
    # `stream: true` (422); too many open streams (429)
    {"include-path-regex": "^/v1/(generate|qa)$", "checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "404", "422", "429"]}}},
]


@pytest.fixture(scope="module")
def generate_runs(tiny_chat_lm, tmp_path_factory):
    import ecomtune
    from tests.tasks.generate.conftest import generate_recipe
    from tests.test_conformance import _qa

    gen = ecomtune.train(generate_recipe(tmp_path_factory.mktemp("fuzz-gen"), tiny_chat_lm,
                                         training={"max_steps": 1}, evaluation={"rows": 1}))
    return [gen, ecomtune.train(_qa(tmp_path_factory.mktemp("fuzz-qa"), tiny_chat_lm))]


@pytest.fixture(scope="module")
def every_family(classify_run, multitask_run, taxonomy_run, profile_rec_run, search_run, generate_runs):
    return [classify_run, multitask_run, taxonomy_run, profile_rec_run, search_run, *generate_runs]


def fuzz(run_dirs, key: str | None) -> tuple[list[str], int]:
    """(each failure in one line, how many requests were sent) for a fuzzing run against a fresh app."""
    headers = {"X-API-Key": key} if key else {}
    config = schemathesis.Config.from_dict({
        "seed": 11, "generation": {"max-examples": 40}, "phases": {"stateful": {"enabled": False}},
        "operations": ALSO_REFUSED, "headers": headers})
    app = create_app(run_dirs, {**LIMITS, "api_key": key})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config, headers=headers)

    @schema.hook
    def map_body(context, body):  # catalogue ids in histories: random ids would never reach the recommender
        if context.operation.path == "/v1/recommend" and isinstance(body, dict) and isinstance(body.get("histories"), list):
            body["histories"] = [[ITEMS[len(i) % len(ITEMS)] if isinstance(i, str) else i for i in h]
                                 if isinstance(h, list) else h for h in body["histories"]]
        return body

    ready = schema["/readyz"]["GET"]  # schemathesis runs the app's lifespan: wait for the models to be warm
    deadline = time.monotonic() + 60
    while ready.Case().call().status_code != 200:
        assert time.monotonic() < deadline, "the fuzzed service did not become ready"
        time.sleep(0.05)
    failures, sent = [], 0
    for event in engine.from_schema(schema).execute():
        if isinstance(event, (NonFatalError, FatalError)):
            failures.append(f"{type(event).__name__}: {getattr(event, 'value', None) or event.exception}")
        elif isinstance(event, ScenarioFinished):
            sent += len(event.recorder.interactions)
            for case_id, checks in event.recorder.checks.items():
                sent_case = event.recorder.interactions[case_id]
                failures += [f"{event.recorder.label} -> {sent_case.response.status_code}: {check.name}: "
                             f"{check.failure_info.failure.title}\n    {check.failure_info.code_sample[:400]}"
                             for check in checks if check.status == Status.FAILURE]
        elif isinstance(event, EngineFinished):
            failures += [f"{f.operation}: {f.title}" for f in event.failures]
    return sorted(set(failures)), sent


@pytest.mark.parametrize("key", [None, KEY], ids=["open", "with-key"])
def test_fuzzing_finds_no_failure_and_no_server_error(every_family, key):
    failures, sent = fuzz(every_family, key)
    assert not failures, "\n".join(failures)
    assert sent > 300  # every operation, positive and negative data
