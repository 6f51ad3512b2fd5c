"""JSON has booleans, integers and strings apart: a request body field typed as an integer
refuses ``true``, one typed as a boolean refuses ``1``, and dates and times refuse numbers
(pydantic's lax mode would turn ``false`` into ``0``, ``1`` into ``true`` and ``0`` into
1970-01-01, accepting bodies the contract says are invalid). Checked over every request body
model of every declared service."""

import datetime as dt
import importlib
import os
import secrets
import types
import typing

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError

from prm_platform.declaration import services


def _models(annotation, seen: set) -> typing.Iterator[type[BaseModel]]:
    """Every model reachable from an annotation (lists, unions, Annotated and nesting)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation, seen)
        return
    for argument in typing.get_args(annotation):
        yield from _models(argument, seen)


def _scalar(annotation) -> type | None:
    """int, bool, date or datetime when the field holds exactly that (optionally None)."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(arguments) == 1:
        annotation = arguments[0]
    if typing.get_origin(annotation) is typing.Annotated:  # StrictInt inside a union
        annotation = typing.get_args(annotation)[0]
    return annotation if annotation in (int, bool, dt.date, dt.datetime) else None


def _body_fields():
    seen: set = set()
    # Building an app contacts nothing; only its settings want a secret, never used here.
    saved = os.environ.get("PRM_INTERNAL_SECRET")
    os.environ["PRM_INTERNAL_SECRET"] = saved or secrets.token_urlsafe(32)
    try:
        yield from _fields_of_apps(seen)
    finally:
        if saved is None:
            del os.environ["PRM_INTERNAL_SECRET"]


def _fields_of_apps(seen: set):
    for declaration in services():
        if not declaration.app:
            continue
        module, factory = declaration.app.split(":")
        app = getattr(importlib.import_module(module), factory)()
        # Included routers are resolved lazily: app.routes alone does not list their routes.
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or route.body_field is None:
                continue
            for model in _models(route.body_field.field_info.annotation, seen):
                for name, field in model.model_fields.items():
                    if (kind := _scalar(field.annotation)) is not None:
                        yield pytest.param(model, name, kind,
                                           id=f"{declaration.name}:{model.__name__}.{name}")


FIELDS = list(_body_fields())


def test_there_are_fields_to_check():
    assert len(FIELDS) > 20


@pytest.mark.parametrize(("model", "name", "kind"), FIELDS)
def test_no_lax_scalars_in_request_bodies(model, name, kind):
    field = model.model_fields[name]
    adapter = TypeAdapter(typing.Annotated[field.annotation, field])
    # a number for a date or a time would be read as seconds since 1970
    wrong = {int: True, bool: 1, dt.date: 0, dt.datetime: 1_700_000_000}[kind]
    with pytest.raises(ValidationError):
        adapter.validate_python(wrong)


def _query_days():
    saved = os.environ.get("PRM_INTERNAL_SECRET")
    os.environ["PRM_INTERNAL_SECRET"] = saved or secrets.token_urlsafe(32)
    try:
        for declaration in services():
            if not declaration.app:
                continue
            module, factory = declaration.app.split(":")
            app = getattr(importlib.import_module(module), factory)()
            for context in iter_route_contexts(app.routes):
                route = context.original_route
                if not isinstance(route, APIRoute):
                    continue
                for param in route.dependant.query_params:
                    if _scalar(param.field_info.annotation) in (dt.date, dt.datetime):
                        yield pytest.param(param, id=f"{declaration.name}:{context.path}"
                                                     f"?{param.alias}")
    finally:
        if saved is None:
            del os.environ["PRM_INTERNAL_SECRET"]


QUERY_DAYS = list(_query_days())


def test_there_are_query_days_to_check():
    assert len(QUERY_DAYS) >= 5


@pytest.mark.parametrize("param", QUERY_DAYS)
def test_far_days_in_queries_are_invalid(param):
    """A day no service can compute with (0001-01-01, 9999-12-31) fails validation (422),
    never date arithmetic later (500): query days are QueryDate (prm_platform.types)."""
    adapter = TypeAdapter(typing.Annotated[param.field_info.annotation, param.field_info])
    for far in ("0001-01-01", "9999-12-31"):
        with pytest.raises(ValidationError):
            adapter.validate_python(far)
    adapter.validate_python("2027-03-31")
