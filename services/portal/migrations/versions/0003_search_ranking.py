"""Search ranked without folding every match: the folded title stored and indexed for the
prefix ranks, the newest change first served by an index; and vendor streams' polls served by
an index that does not start with the partner.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision, down_revision = "0003", "0002"

_INDEXES = (
    "CREATE INDEX ix_search_entries_title_key ON search_entries (title_key text_pattern_ops)",
    "CREATE INDEX ix_search_entries_updated_at ON search_entries (updated_at DESC, kind, id)",
    "CREATE INDEX ix_notifications_audience_xid ON notifications (audience, xid, seq)",
)


def upgrade() -> None:
    op.execute("ALTER TABLE search_entries ADD COLUMN title_key text "
               "GENERATED ALWAYS AS (prm_fold(title)) STORED")
    for statement in _INDEXES:
        op.execute(statement)


def downgrade() -> None:
    for statement in _INDEXES:
        op.execute(f"DROP INDEX {statement.split()[2]}")
    op.execute("ALTER TABLE search_entries DROP COLUMN title_key")
