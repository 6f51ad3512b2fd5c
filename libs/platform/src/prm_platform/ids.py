"""Identifiers: UUIDv7, so that ids sort by creation time and serve as pagination keys."""

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
