"""The lists' grammar (prm_platform.listing): endpoint search over URL and description, the
indexes behind every filter, range, sort and change feed of the endpoint, message and attempt
lists, and the partner names shown beside partner ids.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from prm_platform.migrations import platform_step, search_column

revision, down_revision = "0002", "0001"
_search_up, _search_down = platform_step("search")

_INDEXES = (
    "CREATE INDEX ix_webhook_endpoints_enabled_id ON webhook_endpoints (enabled, id)",
    "CREATE INDEX ix_webhook_endpoints_disabled_reason_id ON webhook_endpoints "
    "(disabled_reason, id)",
    "CREATE INDEX ix_webhook_endpoints_event_types ON webhook_endpoints USING gin (event_types)",
    "CREATE INDEX ix_webhook_endpoints_created_at ON webhook_endpoints (created_at)",
    "CREATE INDEX ix_webhook_endpoints_failing_since ON webhook_endpoints (failing_since) "
    "WHERE failing_since IS NOT NULL",
    "CREATE INDEX ix_webhook_endpoints_updated_at_id ON webhook_endpoints (updated_at, id)",
    "CREATE INDEX ix_webhook_endpoints_description_id ON webhook_endpoints (description, id)",
    "CREATE INDEX ix_webhook_messages_event_type_id ON webhook_messages (event_type, id)",
    "CREATE INDEX ix_webhook_messages_created_at ON webhook_messages (created_at)",
    "CREATE INDEX ix_webhook_attempts_endpoint_id_outcome_response_status ON webhook_attempts "
    "(endpoint_id, outcome, response_status, id)",
    "CREATE INDEX ix_webhook_attempts_endpoint_id_attempted_at ON webhook_attempts "
    "(endpoint_id, attempted_at)",
)


def upgrade() -> None:
    _search_up()
    for statement in [*search_column("webhook_endpoints", "url || ' ' || description"),
                      *_INDEXES]:
        op.execute(statement)
    op.create_table(
        "partner_directory",
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partner_directory")
    for statement in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {statement.split()[2]}")
    op.execute("DROP INDEX IF EXISTS ix_webhook_endpoints_search_text")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN search_text")
    _search_down()
