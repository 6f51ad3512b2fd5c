"""The one API-key cache (the gateway's and every service's), over a service's key directory in
the real PostgreSQL: a flood of made-up keys leaves a key in use served from the cache, without
a database read."""

import secrets
import uuid

from sqlalchemy import event, insert

from prm_platform.credentials import (
    MAX_UNKNOWN_KEYS,
    UNKNOWN,
    KeyCache,
    KeyDirectory,
    credential_keys,
    secret_hash,
)
from prm_platform.db import make_sessionmaker
from prm_platform.migrations import later_platform_ddl
from prm_platform.problems import Unauthenticated
from prm_stack.testing import scratch_schema

FLOOD = 200_000


def new_key() -> str:
    return "prm_" + secrets.token_urlsafe(32)


async def test_a_flood_of_made_up_keys_leaves_a_valid_key_cached(prm_infra):
    key_directory = [s for s in later_platform_ddl("x", key_directory=True)
                     if "credential_" in s]
    async with scratch_schema(prm_infra, *key_directory) as (engine, _):
        valid, key_id = new_key(), uuid.uuid4()
        async with engine.begin() as connection:
            await connection.execute(insert(credential_keys).values(
                key_id=key_id, secret_hash=secret_hash(valid), kind="vendor",
                scopes=["deals:read"]))
        reads: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *rest: reads.append(statement))
        directory = KeyDirectory(lambda: make_sessionmaker(engine), key_ttl=30,
                                 standing_ttl=30)
        # Unknown keys remembered long enough that a slow machine reads each guess once.
        directory.keys = KeyCache(directory.keys.load, ttl=30, negative_ttl=30)

        assert (await directory(valid)).subject == str(key_id)
        assert len(reads) == 1

        # Made-up keys through the whole path: each read once, then remembered as unknown.
        guesses = [new_key() for _ in range(50)]
        for guess in guesses:
            for _ in range(2):
                try:
                    await directory(guess)
                except Unauthenticated:
                    pass
                else:
                    raise AssertionError("a made-up key was accepted")
        assert len(reads) == 1 + len(guesses)

        # The flood, straight into the cache as those misses put it there: far more made-up
        # keys than the cache holds.
        for _ in range(FLOOD):
            directory.keys.remember(secret_hash(new_key()), UNKNOWN)
        assert len(directory.keys.unknown) == MAX_UNKNOWN_KEYS

        before = len(reads)
        assert (await directory(valid)).subject == str(key_id)
        assert len(reads) == before, "the valid key was read again"
