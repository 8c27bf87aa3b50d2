"""Reading a request's list of items: every problem of every item is listed, at once.

Items are validated one by one (pydantic), so that a bad item does not hide the problems
of the others, and the domain's own checks (a lead that does not exist) can be added to
the list before anything is stored."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from leadscore.service.api.problems import item_problems
from leadscore.service.api.schemas import MAX_ITEMS
from leadscore.service.errors import Invalid, Problem, TooLarge

M = TypeVar("M", bound=BaseModel)


async def read_items(
    request: Request, field: str, item: type[M]
) -> tuple[list[tuple[int, M]], list[Problem]]:
    """The valid items with their index, and the problems of the others."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise Invalid(
            f'expected an object {{"{field}": [...]}}', [Problem(None, "(body)", "not an object")]
        )
    extra = sorted(k for k in data if k != field)
    problems = [Problem(None, k, "not a field of this request") for k in extra]
    items = data.get(field)
    if not isinstance(items, list):
        raise Invalid(
            f'expected an object {{"{field}": [...]}}',
            [*problems, Problem(None, field, "required: a list")],
        )
    if len(items) > MAX_ITEMS:
        raise TooLarge(f"{len(items):,} items: at most {MAX_ITEMS:,} per request")
    if not items:
        raise Invalid(f"{field}: the list is empty", [*problems, Problem(None, field, "empty")])
    valid = []
    for i, raw in enumerate(items):
        try:
            valid.append((i, item.model_validate(raw)))
        except ValidationError as exc:
            for p in item_problems([{**e, "loc": (field, i, *e["loc"])} for e in exc.errors()]):
                problems.append(Problem(p["index"], p["field"], p["reason"]))
    return valid, problems


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            [Problem(None, "(body)", "malformed JSON")],
        ) from None
    except UnicodeDecodeError:
        raise Invalid("the body is not UTF-8 text", [Problem(None, "(body)", "not text")]) from None


async def read_object(request: Request, model: type[M], what: str) -> M:
    """A body that is one object (a subscription, a verdict): every problem listed, by
    field (and `index`, the position in a list field, where the problem is in one)."""
    raw = await read_json(request)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        found = []
        for e in exc.errors():
            names = tuple(x for x in e["loc"] if isinstance(x, str))
            [shaped] = item_problems([{**e, "loc": names}])
            index = next((x for x in e["loc"] if isinstance(x, int)), None)
            found.append(Problem(index, shaped["field"], shaped["reason"]))
        raise Invalid(f"{len(found)} problem(s) in the {what}", found) from None


def refuse(problems: list[Problem]) -> None:
    if problems:
        problems = sorted(problems, key=lambda p: (p.index is not None, p.index or 0))
        raise Invalid(f"{len(problems)} problem(s) in the request; nothing was stored", problems)


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra for a route that reads its body itself: the schema it accepts."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def schema_components(*models: type[BaseModel]) -> dict[str, Any]:
    """The JSON schemas of the request bodies, for components/schemas."""
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out
