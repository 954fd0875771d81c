"""GET /v1/models: what is served, under which names and versions, with its labels and test metrics."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from ecomtune.deploy.serve.deps import ready_state
from ecomtune.deploy.serve.schemas import ERRORS, ModelInfo, ModelsResponse
from ecomtune.deploy.serve.service import ServingState
from ecomtune.registry import task

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelsResponse, responses=ERRORS)
async def list_models(state: ServingState = Depends(ready_state)) -> ModelsResponse:
    """Every served model; `latest` marks the version that `model: name` picks."""
    infos = []
    for served in state.registry:
        manifest = served.spec.manifest
        space = getattr(served.model, "space", None)  # classifiers have labels; rankers do not
        latest = state.registry.select(None, served.name) is served
        infos.append(ModelInfo(
            name=served.name, version=served.version, ref=served.ref, latest=latest, task=served.task,
            endpoint=task(served.task).endpoint, language=manifest.get("language"),
            labels={level: list(names) for level, names in zip(space.levels, space.labels)} if space else None,
            test_metrics=manifest.get("metrics", {}).get("test"),
            backbone=(manifest.get("backbone") or {}).get("name"), created=manifest.get("created"),
            runtime=manifest.get("runtime"), monitor=served.monitor is not None))
    return ModelsResponse(models=infos)
