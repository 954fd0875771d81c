"""One client cannot break or change another's answers: a real `ecomtune serve` process, micro-batching on, 80
normal requests among poisoned ones (lone surrogate, NaN, Infinity, malformed JSON, a body over the limit), and
one keep-alive connection that outlives the poison. The key comes from a file (kept out of `ps`)."""
from __future__ import annotations

import random
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import wait_ready
from tests.serve.test_app import metric
from tests.serve.test_e2e import Server

KEY = {"X-API-Key": "from-a-file"}
JSON = {"content-type": "application/json"}
POISONED = [b'{"texts": ["love it", "poison \\ud800"]}', b'{"texts": NaN}', b'{"texts": ["ok"], "model": Infinity}',
            b'{"texts": ["ok"', b'{"texts": ["' + b"a" * 5_000_000 + b'"]}']


@pytest.fixture(scope="module")
def hostile(classify_run, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("key") / "key.txt"
    key_file.write_text("from-a-file\n")
    # no cache: every normal request really runs, merged into batches with its neighbours
    server = Server(classify_run, "--port", 0, "--max-wait-ms", 20, "--max-batch", 64, "--cache-size", 0,
                    "--api-key-file", key_file)
    url = server.url()
    with httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client, timeout=60)
        assert client.get("/v1/models").status_code == 401 and client.get("/v1/models", headers=KEY).status_code == 200
    yield url
    server.stop()
    assert "note: --api-key" not in server.log and "from-a-file" not in server.log


def _stream_of(response) -> tuple:
    return response.extensions["network_stream"].get_extra_info("client_addr")


def test_the_keep_alive_connection_survives_poisoned_requests(hostile):
    with httpx.Client(base_url=hostile, headers=KEY, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        first = client.post("/v1/classify", json={"texts": ["love this dress"]})
        assert first.status_code == 200
        for body in POISONED[:-1]:  # the oversized one is refused unread, and that connection closes (as HTTP allows)
            response = client.post("/v1/classify", content=body, headers=JSON)
            assert response.status_code in (400, 422) and len(response.content) < 1000, response.text
            assert _stream_of(response) == _stream_of(first)
        last = client.post("/v1/classify", json={"texts": ["love this dress"]})
        assert last.json()["predictions"] == first.json()["predictions"] and _stream_of(last) == _stream_of(first)


def test_poisoned_neighbours_neither_fail_nor_change_normal_requests(hostile):
    texts = [[f"love this great dress {i}", f"terrible cheap shirt {i}"][:1 + i % 2] for i in range(80)]
    with httpx.Client(base_url=hostile, headers=KEY, timeout=30) as client:
        alone = [client.post("/v1/classify", json={"texts": t}).json()["predictions"] for t in texts]
        batches_before = metric(client, "ecomtune_batch_size_count")
    jobs = [(i, None) for i in range(80)] + [(None, body) for body in POISONED * 4]
    random.Random(0).shuffle(jobs)

    def send(job):
        i, poison = job
        with httpx.Client(base_url=hostile, headers=KEY, timeout=60) as client:  # a connection per client
            if poison is None:
                return client.post("/v1/classify", json={"texts": texts[i]})
            return client.post("/v1/classify", content=poison, headers=JSON)

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(send, jobs))
    for (i, poison), response in zip(jobs, answers):
        if poison is not None:
            assert response.status_code in (400, 413, 422), response.text
            continue
        assert response.status_code == 200, response.text
        for got, want in zip(response.json()["predictions"], alone[i]):
            assert got["label"] == want["label"] and got["probs"] == pytest.approx(want["probs"], abs=1e-4)
    with httpx.Client(base_url=hostile, timeout=30) as client:
        assert metric(client, "ecomtune_batch_size_count") - batches_before < 80  # requests were merged


def test_api_key_options_fail_in_one_line(classify_run, tmp_path, monkeypatch, capsys):
    from ecomtune.cli.main import main

    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    for args, message in [
        (["--api-key", "visible"], "note: --api-key is visible to every user of this machine"),
        (["--api-key-file", tmp_path / "missing.txt"], "missing.txt: cannot read it (No such file or directory)"),
        (["--api-key-file", empty], "empty.txt: the file is empty — write the key on its first line"),
        (["--api-key", "k", "--api-key-file", empty], "--api-key and --api-key-file both given"),
    ]:
        monkeypatch.setattr(sys, "argv", ["ecomtune", "serve", str(tmp_path / "no-run"), *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in " ".join(err.split()) and "Traceback" not in err
