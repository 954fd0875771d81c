"""One router per endpoint (each task names its router in the task registry) plus `models`, `monitor` and
`health`; the classifiers' shared prediction step is here."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import HTTPException, status

from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.registry import ServedModel
from ecomtune.deploy.serve.service import ServingState
from ecomtune.registry import task

MAX_EXPLAINED = 16  # texts per explained request: each costs tens of predictions (docs/explain.md)
# Explanations run one at a time on their own thread: queued ones must not fill the default executor, which
# decodes images and re-ranks search results for everyone else.
EXPLAINER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="explain")


async def explain_off_loop(fn, *args):
    """`fn(*args)` on the explanation thread."""
    return await asyncio.get_running_loop().run_in_executor(EXPLAINER, fn, *args)


def failed(what: str, served: ServedModel, exc: Exception) -> HTTPException:
    """A 500 naming the model and the error, bounded: an error's text may quote the request's."""
    return HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR,
                         f"{what} failed on {served.ref}: {type(exc).__name__}: {clip(str(exc), 200)}")


async def predict_described(state: ServingState, served: ServedModel, texts: list[str],
                            explain: bool = False) -> list[dict]:
    """The task's own description of each prediction (as `ExpertModel.predict`) plus `cached` (and `explanation`
    when asked); 500 on failure."""
    if explain and len(texts) > MAX_EXPLAINED:
        from ecomtune.deploy.serve.schemas import reject

        why = f"{len(texts)} texts with `explain`, at most {MAX_EXPLAINED} per request — split them, or leave it out"
        reject([(("texts",), why)])
    try:
        result = await state.predict(served, texts)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("inference", served, exc) from exc
    describe = task(served.task).module("model").describe
    space = served.model.space
    rows = [{**describe(pred.tolist(), [p.tolist() for p in probs], space), "cached": cached}
            for (pred, probs), cached in zip(result.results, result.cached)]
    if explain:
        for row, explanation in zip(rows, await explain_texts(served, texts, result.results)):
            row["explanation"] = explanation
    return rows


async def explain_texts(served: ServedModel, texts: list[str], results: list) -> list[dict]:
    """Attributions for the labels just predicted (cached or not). They are computed here, off the micro-batcher,
    and never cached: the prediction cache holds prediction rows only, so an explained request always gets its
    explanation, and a plain one never pays for one."""
    from ecomtune.tasks.text.explain import explain_texts as attribute
    from ecomtune.tasks.text.explain import explained_level

    level = explained_level(served.model)
    targets = [int(pred[level]) for pred, _ in results]
    try:
        explained = await explain_off_loop(attribute, served.model, list(texts), "auto", targets)
    except Exception as exc:  # e.g. captum not installed: the client gets the reason
        raise failed("explanation", served, exc) from exc
    return [e.to_dict() for e in explained]
