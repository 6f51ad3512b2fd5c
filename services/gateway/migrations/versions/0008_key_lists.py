"""The API key list's grammar: when a key last changed (its creation or revocation), a search
of key names, and an index behind each filter, sort and range.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from prm_platform.migrations import platform_step, search_column

revision, down_revision = "0008", "0007"
_search_up, _search_down = platform_step("search")

_INDEXES = {
    "ix_api_keys_kind_id": "api_keys (kind, id)",
    "ix_api_keys_name_id": "api_keys (name, id)",
    "ix_api_keys_created_at": "api_keys (created_at)",
    "ix_api_keys_updated_at_id": "api_keys (updated_at, id)",
}


def upgrade() -> None:
    _search_up()
    op.execute("ALTER TABLE api_keys ADD COLUMN updated_at timestamptz")
    op.execute("UPDATE api_keys SET updated_at = coalesce(revoked_at, created_at)")
    op.execute("ALTER TABLE api_keys ALTER COLUMN updated_at SET NOT NULL")
    for statement in search_column("api_keys", "name"):
        op.execute(statement)
    for name, target in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {target}")


def downgrade() -> None:
    for name in [*_INDEXES, "ix_api_keys_search_text"]:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("ALTER TABLE api_keys DROP COLUMN search_text")
    op.execute("ALTER TABLE api_keys DROP COLUMN updated_at")
    _search_down()
