"""Conflict candidates by the name's distinctive words, nearest first: a GiST trigram index
(with the country, through btree_gist) on each registration's and each direct account name's
core key, searched k-nearest-neighbour, replaces the GIN index on the whole name key, whose
candidate sets grew with every name sharing a common word ("systems", "bank").

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from prm_deals.matching.normalise import core_key
from prm_platform.migrations import trigram_ops

revision, down_revision = "0011", "0010"

OPEN = "status IN ('submitted', 'in_review', 'approved')"
BATCH = 5000


def _backfill(table: str, key: str, core: str) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        f"SELECT DISTINCT {key} AS key FROM {table}")).scalars().all()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        connection.execute(sa.text(
            f"UPDATE {table} SET {core} = c.core FROM unnest(CAST(:keys AS varchar[]), "
            f"CAST(:cores AS varchar[])) AS c(key, core) WHERE {table}.{key} = c.key"),
            {"keys": chunk, "cores": [core_key(k) for k in chunk]})


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA deals")
    op.add_column("deals", sa.Column("customer_core", sa.String(200), nullable=False,
                                     server_default=""))
    op.add_column("direct_account_names", sa.Column("core", sa.String(200), nullable=False,
                                                    server_default=""))
    _backfill("deals", "customer_name_key", "customer_core")
    _backfill("direct_account_names", "name_key", "core")
    op.drop_index("ix_deals_open_name_key", "deals")
    op.drop_index("ix_direct_account_names_key", "direct_account_names")
    op.execute("CREATE INDEX ix_deals_open_core ON deals USING gist "
               f"(customer_country, customer_core {trigram_ops('gist')}) WHERE {OPEN}")
    op.execute("CREATE INDEX ix_direct_account_names_core ON direct_account_names "
               f"USING gist (core {trigram_ops('gist')})")


def downgrade() -> None:
    op.drop_index("ix_direct_account_names_core", "direct_account_names")
    op.drop_index("ix_deals_open_core", "deals")
    op.execute("CREATE INDEX ix_direct_account_names_key ON direct_account_names USING gin "
               f"(name_key {trigram_ops()})")
    op.execute("CREATE INDEX ix_deals_open_name_key ON deals USING gin "
               f"(customer_name_key {trigram_ops()}) WHERE {OPEN}")
    op.drop_column("direct_account_names", "core")
    op.drop_column("deals", "customer_core")
    op.execute("DROP EXTENSION IF EXISTS btree_gist")
