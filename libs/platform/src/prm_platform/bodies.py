"""What every JSON request body must be, checked once for all services before any model sees it.

* ``Content-Type`` is JSON (``application/json`` or ``application/<x>+json``), else 415;
* the body is strict JSON in UTF-8: no lone surrogate escapes (``"\\ud800"``), which PostgreSQL
  could never store, else 400;
* nested no deeper than ``MAX_DEPTH`` (OWASP API4; deep documents cost recursion everywhere
  downstream), else 400;
* no control characters in any string or key (NUL, which PostgreSQL refuses in text; BEL, ESC,
  C1 controls ...). Tab, line feed and carriage return stay allowed, for free text. Else 422
  naming each offending field.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from prm_platform.problems import MalformedRequest, ProblemError

MAX_DEPTH = 32
MAX_REPORTED = 20
# C0 controls but \t \n \r, DEL, and the C1 controls.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_JSON = re.compile(r"^application/([a-z0-9.+-]*\+)?json$")


class UnsupportedMediaType(ProblemError):
    status, slug = 415, "unsupported-media-type"


class ControlCharacters(ProblemError):
    status, slug = 422, "validation-error"


def is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return bool(_JSON.match(media_type))


def check_json_body(content_type: str | None, body: bytes) -> None:
    """Raise the problem that ``body`` deserves, or return if it may go to the endpoint."""
    if not body:
        return
    if not is_json(content_type):
        raise UnsupportedMediaType(
            f"the body must be application/json, not {content_type or 'of no declared type'}")
    try:
        document = orjson.loads(body)  # strict: refuses lone surrogates and invalid UTF-8
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"the request body is not valid JSON: {exc}") from None
    errors: list[dict[str, str]] = []
    _walk(document, "", 0, errors)
    if errors:
        raise ControlCharacters("the request is not valid", errors=errors[:MAX_REPORTED])


def _field(path: str) -> str:
    return path or "(body)"


def _walk(value: Any, path: str, depth: int, errors: list[dict[str, str]]) -> None:
    if depth > MAX_DEPTH:
        raise MalformedRequest(f"the request body is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if CONTROL_CHARACTERS.search(value):
            errors.append({"location": "body", "field": _field(path),
                           "message": "control characters are not allowed"})
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if CONTROL_CHARACTERS.search(key):
                errors.append({"location": "body", "field": _field(path),
                               "message": "control characters are not allowed in keys"})
                child = f"{path}.?" if path else "?"
            _walk(item, child, depth + 1, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, errors)
