"""The matcher's alias sources: blocking keys recomputed for every registration and direct
account name, now that ``normalise.blocks`` also gives the well-known company a name is one of
(``aliases.csv``: ``k``), a long name's initialisms (``i``) and a short name as an acronym
(``a``), and hears Korean and Greek transliterations alike (``eo`` = ``u``, ``ai`` = ``e`` in
the sound keys). No column changes: the keys live in ``deals.customer_blocks`` and
``direct_account_names.blocks``. A change to ``aliases.csv`` ships with a migration like this
one.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from prm_deals.matching.normalise import blocks

revision, down_revision = "0020", "0019"

BATCH = 1000


def _recompute() -> None:
    connection = op.get_bind()
    keys = connection.execute(sa.text(
        "SELECT DISTINCT customer_name_key, customer_country FROM deals")).all()
    for start in range(0, len(keys), BATCH):  # one statement per distinct key, in batches
        connection.execute(sa.text(
            "UPDATE deals SET customer_blocks = :blocks WHERE customer_name_key = :key "
            "AND customer_country = :country"),
            [{"blocks": blocks(k, c), "key": k, "country": c}
             for k, c in keys[start:start + BATCH]])
    names = connection.execute(sa.text(
        "SELECT DISTINCT name_key FROM direct_account_names")).scalars().all()
    for start in range(0, len(names), BATCH):
        connection.execute(sa.text(
            "UPDATE direct_account_names SET blocks = :blocks WHERE name_key = :key"),
            [{"blocks": blocks(k, "*"), "key": k} for k in names[start:start + BATCH]])


def upgrade() -> None:
    _recompute()


def downgrade() -> None:
    # The new kinds of key are never looked up by the code before this revision; the sound
    # keys it wrote differ for names with "eo" or "ai" only, which may then miss a candidate
    # until the rows are written again.
    pass
