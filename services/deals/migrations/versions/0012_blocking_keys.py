"""Conflict candidates by blocking keys: each registration and each direct account name is
found by a few keys (its distinctive words, each long one also with every letter deleted, its
distinctive part without spaces and as pronounced), looked up in a GIN index. The cost of a
lookup does not grow with the table, which the nearest-neighbour trigram scan's did (about
1 ms per customer at 100,000 registrations, 10 ms at 1,000,000).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from prm_deals.matching.normalise import blocks
from prm_platform.migrations import trigram_ops

revision, down_revision = "0012", "0011"

OPEN = "status IN ('submitted', 'in_review', 'approved')"


def upgrade() -> None:
    op.add_column("deals", sa.Column("customer_blocks", postgresql.ARRAY(sa.String(220)),
                                     nullable=False, server_default="{}"))
    op.add_column("direct_account_names", sa.Column(
        "blocks", postgresql.ARRAY(sa.String(220)), nullable=False, server_default="{}"))
    connection = op.get_bind()
    keys = connection.execute(sa.text(
        "SELECT DISTINCT customer_name_key, customer_country FROM deals")).all()
    if keys:  # one statement per distinct customer key, sent as one batch
        connection.execute(sa.text(
            "UPDATE deals SET customer_blocks = :blocks WHERE customer_name_key = :key "
            "AND customer_country = :country"),
            [{"blocks": blocks(k, c), "key": k, "country": c} for k, c in keys])
    names = connection.execute(sa.text(
        "SELECT DISTINCT name_key FROM direct_account_names")).scalars().all()
    if names:
        connection.execute(sa.text(
            "UPDATE direct_account_names SET blocks = :blocks WHERE name_key = :key"),
            [{"blocks": blocks(k, "*"), "key": k} for k in names])
    op.drop_index("ix_deals_open_core", "deals")
    op.drop_index("ix_direct_account_names_core", "direct_account_names")
    # fastupdate off: every registration searches the index before it writes, and a search
    # reads the whole pending list of a fastupdate index (measured: a second batch of 1,000
    # took three times as long as the first).
    op.execute("CREATE INDEX ix_deals_open_blocks ON deals USING gin (customer_blocks) "
               f"WITH (fastupdate = off) WHERE {OPEN}")
    op.execute("CREATE INDEX ix_direct_account_names_blocks ON direct_account_names "
               "USING gin (blocks) WITH (fastupdate = off)")


def downgrade() -> None:
    op.drop_index("ix_direct_account_names_blocks", "direct_account_names")
    op.drop_index("ix_deals_open_blocks", "deals")
    op.execute("CREATE INDEX ix_direct_account_names_core ON direct_account_names "
               f"USING gist (core {trigram_ops('gist')})")
    op.execute("CREATE INDEX ix_deals_open_core ON deals USING gist "
               f"(customer_country, customer_core {trigram_ops('gist')}) WHERE {OPEN}")
    op.drop_column("direct_account_names", "blocks")
    op.drop_column("deals", "customer_blocks")
