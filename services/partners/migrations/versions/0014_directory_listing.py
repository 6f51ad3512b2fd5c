"""The partner directory's list grammar: name search, sorts, change feed and array filters.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from prm_platform.migrations import platform_step, search_column

revision, down_revision = "0014", "0013"
_search_up, _search_down = platform_step("search")

_INDEXES = (
    "CREATE INDEX ix_partners_name_id ON partners (name, id)",
    "CREATE INDEX ix_partners_updated_at_id ON partners (updated_at, id)",
    "CREATE INDEX ix_partners_created_at ON partners (created_at)",
    "CREATE INDEX ix_partners_countries_served ON partners USING gin (countries_served)",
    "CREATE INDEX ix_partners_specialisations ON partners USING gin (specialisations)",
    "CREATE INDEX ix_partners_languages ON partners USING gin (languages)",
)


def upgrade() -> None:
    _search_up()
    for statement in [*search_column("partners", "name || ' ' || coalesce(website_domain, '')"),
                      *_INDEXES]:
        op.execute(statement)


def downgrade() -> None:
    for index in ("name_id", "updated_at_id", "created_at", "countries_served",
                  "specialisations", "languages", "search_text"):
        op.execute(f"DROP INDEX IF EXISTS ix_partners_{index}")
    op.execute("ALTER TABLE partners DROP COLUMN search_text")
    _search_down()
