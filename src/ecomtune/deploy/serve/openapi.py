"""The OpenAPI schema of one app: FastAPI's, plus what only the running app knows — the limits of its settings,
the models it serves, and its API key (security is declared only when a key is set). The routes check the same
settings, so the schema and the server agree (tests/serve/test_fuzz.py fuzzes one against the other)."""
from __future__ import annotations

from ecomtune.deploy.serve.guards import OPEN_PATHS
from ecomtune.deploy.serve.schemas import NOT_BLANK
from ecomtune.deploy.serve.settings import ServeSettings

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}


def app_schema(schema: dict, settings: ServeSettings, models: list[str]) -> dict:
    """`schema` (FastAPI's) with the limits of `settings`, `models` (names and refs) as the values of `model`,
    413 on every operation, and with a key: the key's security schemes and 401 on every guarded operation."""
    types = schema["components"]["schemas"]
    text = {"type": "string", "maxLength": settings.max_text_chars}
    texts = {"type": "array", "minItems": 1, "maxItems": settings.max_items,
             "items": {**text, "minLength": 1, "pattern": NOT_BLANK}}
    model = {"anyOf": [{"type": "string", "enum": models}, {"type": "null"}]}
    types["PredictRequest"]["properties"]["texts"].update(texts)
    types["SearchRequest"]["properties"]["queries"].update(texts)
    rec = types["RecommendRequest"]["properties"]
    rec["histories"].update(minItems=1, maxItems=settings.max_items)
    rec["histories"]["items"]["minItems"] = 1
    rec["profiles"]["anyOf"] = [{"type": "array", "maxItems": settings.max_items,
                                 "items": {"anyOf": [text, {"type": "null"}]}}, {"type": "null"}]
    if "GenerateRequest" in types:
        types["GenerateRequest"]["properties"]["inputs"].update(texts)
    if "QARequest" in types:
        asks = types["QARequest"]["properties"]["questions"]
        asks["maxItems"] = min(asks.get("maxItems", settings.max_items), settings.max_items)
    if "QuestionAsk" in types:
        for field in ("question", "product"):
            types["QuestionAsk"]["properties"][field].update(
                {**text, "maxLength": min(text["maxLength"], types["QuestionAsk"]["properties"][field]["maxLength"]),
                 "pattern": NOT_BLANK})
    for name in ("PredictRequest", "SearchRequest", "RecommendRequest", "GenerateRequest", "QARequest"):
        if name in types:
            types[name]["properties"]["model"].update(model)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "model":
                    parameter["schema"].update(model)
            operation["responses"].setdefault("413", {"description": "Body over --max-body-bytes", "content": _ERROR})
            if settings.api_key and path not in OPEN_PATHS:
                operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
                operation["responses"]["401"] = {"description": "Missing or wrong API key", "content": _ERROR}
    if settings.api_key:
        schema["components"]["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"}}
    return schema
