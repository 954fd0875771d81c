"""One router per endpoint (each task names its router in the task registry) plus `models`, `monitor` and
`health`; the classifiers' shared prediction step is here."""
from __future__ import annotations

from fastapi import HTTPException, status

from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.registry import ServedModel
from ecomtune.deploy.serve.service import ServingState
from ecomtune.registry import task


def failed(what: str, served: ServedModel, exc: Exception) -> HTTPException:
    """A 500 naming the model and the error, bounded: an error's text may quote the request's."""
    return HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR,
                         f"{what} failed on {served.ref}: {type(exc).__name__}: {clip(str(exc), 200)}")


async def predict_described(state: ServingState, served: ServedModel, texts: list[str]) -> list[dict]:
    """The task's own description of each prediction (as `ExpertModel.predict`) plus `cached`; 500 on failure."""
    try:
        result = await state.predict(served, texts)
    except Exception as exc:  # the worker survives; the client gets the reason
        raise failed("inference", served, exc) from exc
    describe = task(served.task).module("model").describe
    space = served.model.space
    return [{**describe(pred.tolist(), [p.tolist() for p in probs], space), "cached": cached}
            for (pred, probs), cached in zip(result.results, result.cached)]
