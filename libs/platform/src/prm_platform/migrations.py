"""Alembic helpers: every service's first migration creates the platform tables in its schema,
later ones apply what the platform added since (``later_platform_ddl`` lists it all).

The first revision's outbox trigger (a NOTIFY per commit to wake the relay) is dropped by a
later one: it serialised every writer's commit on a database-wide lock, and the relay polls
instead (``prm_events.outbox``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, MetaData
from sqlalchemy.schema import CreateIndex, CreateTable

from prm_platform.tables import (
    idempotency_keys,
    inbox,
    outbox,
    scheduled_jobs,
    worker_liveness,
)

OUTBOX_CHANNEL_SUFFIX = "_outbox"


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


def scheduler_ddl() -> list[str]:
    """DDL of the scheduler's table (added after the first platform tables)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return [str(CreateTable(scheduled_jobs).compile(dialect=dialect))]


def idempotency_owner_ddl() -> list[str]:
    """The owner column of Idempotency-Key claims. ``IF NOT EXISTS``: a database created after
    the column joined the platform tables already has it from its first revision."""
    return ["ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS owner uuid"]


def worker_liveness_ddl() -> list[str]:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return [str(CreateTable(worker_liveness, if_not_exists=True).compile(dialect=dialect))]


def outbox_without_notify_ddl() -> list[str]:
    return ["DROP TRIGGER IF EXISTS outbox_notify ON outbox",
            "DROP FUNCTION IF EXISTS notify_outbox()"]


def later_platform_ddl() -> list[str]:
    """Everything the platform added after the first revision, in order (for scratch schemas
    in tests; services apply each in its own revision)."""
    return [*scheduler_ddl(), *idempotency_owner_ddl(), *worker_liveness_ddl(),
            *outbox_without_notify_ddl()]


def drop_outbox_notify() -> None:
    for statement in outbox_without_notify_ddl():
        op.execute(statement)


def restore_outbox_notify(schema: str) -> None:
    for statement in platform_ddl(schema)[-2:]:  # the function and its trigger
        op.execute(statement)


def create_worker_liveness_table() -> None:
    for statement in worker_liveness_ddl():
        op.execute(statement)


def drop_worker_liveness_table() -> None:
    op.execute("DROP TABLE IF EXISTS worker_liveness")


def add_idempotency_owner() -> None:
    for statement in idempotency_owner_ddl():
        op.execute(statement)


def create_scheduler_table() -> None:
    for statement in scheduler_ddl():
        op.execute(statement)


def drop_scheduler_table() -> None:
    op.execute("DROP TABLE IF EXISTS scheduled_jobs")


def create_platform_tables(schema: str) -> None:
    for statement in platform_ddl(schema):
        op.execute(statement)


def drop_platform_tables() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS notify_outbox()")
    for name in ("inbox", "outbox", "idempotency_keys"):
        op.execute(f"DROP TABLE IF EXISTS {name}")


def credential_ddl() -> list[str]:
    from sqlalchemy.dialects import postgresql

    from prm_platform.credentials import credential_metadata

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return [str(CreateTable(table).compile(dialect=dialect))
            for table in credential_metadata.sorted_tables]


def create_credential_tables() -> None:
    """The key directory of a service that checks API keys itself (prm_platform.credentials)."""
    for statement in credential_ddl():
        op.execute(statement)


def drop_credential_tables() -> None:
    op.execute("DROP TABLE IF EXISTS credential_keys")
    op.execute("DROP TABLE IF EXISTS credential_partners")


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
