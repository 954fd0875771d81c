"""One router per task family (`classify`, `taxonomy`) plus `models`, `monitor` and `health`; the shared
prediction step is here."""
from __future__ import annotations

from fastapi import HTTPException, status

from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.registry import ServedModel
from ecomtune.deploy.serve.service import ServingState
from ecomtune.tasks.registry import TASKS


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
    describe = TASKS.get(served.task).model.describe
    space = served.model.space
    pred, probs = result.pred.tolist(), [p.tolist() for p in result.probs]
    return [{**describe(pred[i], [p[i] for p in probs], space), "cached": result.cached[i]}
            for i in range(len(pred))]
