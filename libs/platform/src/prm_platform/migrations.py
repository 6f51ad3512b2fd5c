"""Alembic helpers: every service's first migration creates the platform tables in its schema,
later ones apply each step the platform added since (``PLATFORM_STEPS``, one revision each).

The first revision's outbox trigger (a NOTIFY per commit to wake the relay) is dropped by a
later one: it serialised every writer's commit on a database-wide lock, and the relay polls
instead (``prm_events.outbox``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alembic import op
from sqlalchemy import Connection, MetaData, Table
from sqlalchemy.schema import CreateIndex, CreateTable

from prm_platform.tables import (
    idempotency_keys,
    inbox,
    outbox,
    rate_buckets,
    scheduled_jobs,
    worker_liveness,
)

OUTBOX_CHANNEL_SUFFIX = "_outbox"
# Lower-cased in Unicode whatever the database's collation, compatibility-decomposed (full-width
# and ligature forms to their plain letters) and without combining accents: "Müller", "MULLER"
# and "ｍｕｌｌｅｒ" fold alike. Immutable, so stored generated columns and indexes may use it.
SEARCH_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
    "CREATE OR REPLACE FUNCTION prm_fold(value text) RETURNS text "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN "
    "lower(regexp_replace(normalize(value, NFKD), '[\\u0300-\\u036f]', '', 'g') "
    "COLLATE pg_catalog.pg_c_utf8)",
)


# pg_trgm is installed once per database, in whichever schema its first user chose (public
# since the search step; the deals service's own schema in databases it created first), and a
# service's search_path holds only its own schema: its operator classes are named with the
# schema they are in, found when the index is made.
_TRIGRAM_SCHEMA = ("(SELECT extnamespace::regnamespace::text FROM pg_extension "
                   "WHERE extname = 'pg_trgm')")


SEARCH_STATISTICS = 1000


def search_column(table: str, expression: str, column: str = "search_text") -> list[str]:
    """DDL of a table's searchable text (a stored generated column over ``expression``, folded)
    and its trigram index, which ``LIKE '%word%'`` conditions use."""
    return [f"ALTER TABLE {table} ADD COLUMN {column} text "
            f"GENERATED ALWAYS AS (prm_fold({expression})) STORED",
            # A finer sample of the words, so that the planner tells a word most records
            # hold (walk the order's index) from a rare one (read the trigram index).
            f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS {SEARCH_STATISTICS}",
            f"DO $$ BEGIN EXECUTE format('CREATE INDEX ix_{table}_{column} ON {table} "
            f"USING gin ({column} %s.gin_trgm_ops)', {_TRIGRAM_SCHEMA}); END $$"]


def trigram_ops(kind: str = "gin") -> str:
    """``<schema>.gin_trgm_ops`` (or ``gist``) wherever pg_trgm is, in a running migration."""
    from sqlalchemy import text

    schema = op.get_bind().execute(text(_TRIGRAM_SCHEMA)).scalar_one()
    return f"{schema}.{kind}_trgm_ops"


def outbox_channel(schema: str) -> str:
    return f"{schema}{OUTBOX_CHANNEL_SUFFIX}"


def create_schema(schema: str) -> None:
    op.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def platform_ddl(schema: str) -> list[str]:
    """DDL of the platform tables and the outbox NOTIFY trigger, for the given schema."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements = []
    for table in (idempotency_keys, outbox, inbox):
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements += [str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]
    statements.append(
        f"""
        CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{outbox_channel(schema)}', '');
            RETURN NULL;
        END $$;
        """
    )
    statements.append(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox()"
    )
    return statements


def _create(*tables: Table, if_not_exists: bool = False) -> list[str]:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return [str(CreateTable(table, if_not_exists=if_not_exists).compile(dialect=dialect))
            for table in tables]


def _credential_tables() -> list[Table]:
    from prm_platform.credentials import credential_metadata

    return list(credential_metadata.sorted_tables)


@dataclass(frozen=True)
class PlatformStep:
    """Something the platform added after the first revision, applied to every service's schema
    by a revision of that service (``platform_step``). DDL functions take the schema."""

    name: str
    upgrade: Callable[[str], list[str]]
    downgrade: Callable[[str], list[str]]
    # False: only services that check keys themselves take it (not the gateway).
    every_service: bool = True


PLATFORM_STEPS = (
    PlatformStep("scheduler", lambda _: _create(scheduled_jobs),
                 lambda _: ["DROP TABLE IF EXISTS scheduled_jobs"]),
    # IF NOT EXISTS: a schema created after the column joined the first revision has it.
    PlatformStep("idempotency-owner",
                 lambda _: ["ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS owner uuid"],
                 lambda _: ["ALTER TABLE idempotency_keys DROP COLUMN owner"]),
    PlatformStep("worker-liveness", lambda _: _create(worker_liveness, if_not_exists=True),
                 lambda _: ["DROP TABLE IF EXISTS worker_liveness"]),
    PlatformStep("outbox-without-notify",
                 lambda _: ["DROP TRIGGER IF EXISTS outbox_notify ON outbox",
                            "DROP FUNCTION IF EXISTS notify_outbox()"],
                 lambda schema: platform_ddl(schema)[-2:]),  # the function and its trigger
    PlatformStep("key-directory", lambda _: _create(*_credential_tables()),
                 lambda _: [f"DROP TABLE IF EXISTS {t.name}" for t in _credential_tables()],
                 every_service=False),
    # Search (prm_platform.listing): the fold both sides of a search go through, and trigram
    # indexes (pg_trgm, in public: one installation serves every schema of the database).
    PlatformStep("search", lambda _: list(SEARCH_DDL),
                 lambda _: ["DROP FUNCTION IF EXISTS prm_fold(text)"]),
    # Rate limits shared by the service's replicas (prm_platform.ratelimits).
    PlatformStep("rate-limits", lambda _: _create(rate_buckets, if_not_exists=True),
                 lambda _: ["DROP TABLE IF EXISTS rate_buckets"]),
)


def _step(name: str) -> PlatformStep:
    return next(step for step in PLATFORM_STEPS if step.name == name)


def platform_step(name: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """``upgrade, downgrade`` of a service revision that applies one platform step::

        revision, down_revision = "0005", "0004"
        upgrade, downgrade = platform_step("worker-liveness")
    """
    step = _step(name)

    def run(ddl: Callable[[str], list[str]]) -> None:
        schema = op.get_context().version_table_schema  # run_env sets it to the service's
        for statement in ddl(str(schema)):
            op.execute(statement)

    return (lambda: run(step.upgrade)), (lambda: run(step.downgrade))


def later_platform_ddl(schema: str, *, key_directory: bool = False) -> list[str]:
    """Every platform step after the first revision, in order: for scratch schemas in tests
    and for a new service's first migration (``create_current_platform_tables``)."""
    return [statement for step in PLATFORM_STEPS
            if step.every_service or key_directory for statement in step.upgrade(schema)]


def create_platform_tables(schema: str) -> None:
    """The platform's tables as the first revision of the existing services made them (the
    later steps follow in their own revisions)."""
    for statement in platform_ddl(schema):
        op.execute(statement)


def drop_platform_tables() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS notify_outbox()")
    for name in ("inbox", "outbox", "idempotency_keys"):
        op.execute(f"DROP TABLE IF EXISTS {name}")


def create_current_platform_tables(schema: str, *, key_directory: bool = True) -> None:
    """A new service's first revision: the platform's tables as they are today (a service that
    checks keys itself, as every API service does, also gets its key directory)."""
    for statement in [*platform_ddl(schema), *later_platform_ddl(schema,
                                                                 key_directory=key_directory)]:
        op.execute(statement)


def run_env(schema: str, database_url: str,
            metadata: MetaData | Sequence[MetaData] | None = None) -> None:
    """Body of a service's Alembic ``env.py``: migrate its schema online, version table included.

    The schema is created first, then every migration runs with ``search_path`` set to it, so
    migrations name tables without a schema and the ``alembic_version`` table is per service.
    ``metadata`` is the service's models (the platform's tables are added to it), so that
    ``alembic check`` proves the migrations and the models agree.
    """
    import asyncio

    from alembic import context
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from prm_platform.db import check_schema_name

    check_schema_name(schema)

    def migrate(connection: Connection) -> None:
        from prm_platform.tables import platform_metadata

        extra = [] if metadata is None else (
            [metadata] if isinstance(metadata, MetaData) else list(metadata))
        targets = [platform_metadata, *extra]
        context.configure(connection=connection, target_metadata=targets,
                          version_table_schema=schema, transaction_per_migration=True,
                          include_schemas=False, compare_type=True,
                          include_name=lambda name, kind, parent: not (
                              kind == "table" and name == "alembic_version"))
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(database_url, hide_parameters=True, connect_args={
            "server_settings": {"search_path": schema, "timezone": "UTC"}})
        try:
            async with engine.connect() as connection:
                # Two services migrating at once on a fresh database must not race on CREATE.
                await connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"),
                                         {"s": schema})
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await connection.commit()
                await connection.run_sync(migrate)
                await connection.commit()
                await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"),
                                         {"s": schema})
        finally:
            await engine.dispose()

    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported; run against a database")
    asyncio.run(main())
