"""Cursor pagination over UUIDv7 keys: ``?limit=&cursor=`` -> ``{"items", "next_cursor"}``.

Ids are UUIDv7, so ordering by id is ordering by creation; the cursor is the opaque, URL-safe
encoding of the last id of the page. Keyset pagination stays fast and stable while rows are
inserted, unlike offsets.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from prm_platform.problems import MalformedRequest

DEFAULT_LIMIT = 50
# An encoded UUID: 16 bytes in unpadded URL-safe base64 (the last character carries 2 bits).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{21}[AQgw]$"
MAX_LIMIT = 200

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise MalformedRequest("cursor is not valid; use the next_cursor of a previous page") \
            from None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: uuid.UUID | None

    def page(self, rows: list[T], key: Callable[[T], uuid.UUID] = lambda row: row.id  # type: ignore[attr-defined]
             ) -> tuple[list[T], str | None]:
        """Cut ``rows`` (fetched with ``limit + 1``) to a page and compute the next cursor."""
        if len(rows) > self.limit:
            rows = rows[: self.limit]
            return rows, encode_cursor(key(rows[-1]))
        return rows, None


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)
