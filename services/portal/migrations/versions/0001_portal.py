"""The portal read model: partners' cards and tier changes, onboarding, certifications, deals,
MDF allocations, requests and claims, accruals and payouts (the partner home), notifications
and each person's marks on them, and the search entries; with the platform's tables as they are
today (outbox, inbox, idempotency keys, scheduler, liveness, key directory).

Money is ``numeric``: the events' decimal strings, summed exactly.

Revision ID: 0001
Revises:
"""

from alembic import op

from prm_platform.migrations import (
    create_current_platform_tables,
    drop_platform_tables,
    search_column,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = {
    "partner_cards": """
        partner_id uuid PRIMARY KEY, name text NOT NULL, type text NOT NULL,
        country text NOT NULL, status text NOT NULL, tier text, version integer NOT NULL,
        as_of timestamptz NOT NULL""",
    "tier_changes": """
        partner_id uuid PRIMARY KEY, tier text, previous_tier text, direction text NOT NULL,
        criteria jsonb NOT NULL, reason text NOT NULL, changed_at timestamptz NOT NULL,
        version integer NOT NULL""",
    "onboarding": """
        partner_id uuid PRIMARY KEY, plan_id uuid NOT NULL, completed_at timestamptz NOT NULL,
        as_of timestamptz NOT NULL""",
    "certifications": """
        certification_id uuid PRIMARY KEY, partner_id uuid NOT NULL, code text NOT NULL,
        contact_id uuid, earned_on date, expires_on date, expired_on date,
        as_of timestamptz NOT NULL""",
    # Each group of a deal's fields keeps the version of the event that set it, so that any
    # order of arrival ends with the newest of each.
    "deals": """
        deal_id uuid PRIMARY KEY, partner_id uuid NOT NULL, customer_name text,
        customer_domain text, status text NOT NULL, version integer NOT NULL,
        amount numeric, currency text, amount_version integer NOT NULL DEFAULT 0,
        protected_until date, protected_version integer NOT NULL DEFAULT 0,
        as_of timestamptz NOT NULL""",
    "mdf_allocations": """
        allocation_id uuid PRIMARY KEY, partner_id uuid NOT NULL, amount numeric NOT NULL,
        currency text NOT NULL, as_of timestamptz NOT NULL""",
    "mdf_requests": """
        request_id uuid PRIMARY KEY, partner_id uuid NOT NULL, allocation_id uuid NOT NULL,
        status text NOT NULL, planned numeric NOT NULL, currency text NOT NULL,
        activity_type text, activity_version integer NOT NULL DEFAULT 0,
        version integer NOT NULL, as_of timestamptz NOT NULL""",
    "mdf_claims": """
        claim_id uuid PRIMARY KEY, request_id uuid NOT NULL, partner_id uuid NOT NULL,
        status text NOT NULL, claimed numeric NOT NULL, approved numeric,
        currency text NOT NULL, version integer NOT NULL, as_of timestamptz NOT NULL""",
    # A rebate's or SPIFF's accrual and its reversal: one row each.
    "accruals": """
        accrual_id uuid NOT NULL, movement text NOT NULL, partner_id uuid NOT NULL,
        kind text NOT NULL, amount numeric NOT NULL, currency text NOT NULL,
        as_of timestamptz NOT NULL, PRIMARY KEY (accrual_id, movement)""",
    "payouts": """
        batch_id uuid PRIMARY KEY, partner_id uuid NOT NULL, status text NOT NULL,
        total numeric NOT NULL, currency text NOT NULL, period_from date NOT NULL,
        period_to date NOT NULL, paid_on date, payment_reference text,
        version integer NOT NULL, as_of timestamptz NOT NULL""",
    # One per event and audience (the partner org, or the vendor's staff): its id is derived
    # from both, so a replay makes the same. ``xid`` and ``seq`` order the streams: a row is
    # streamed once every transaction that began before it has ended (see stream.py).
    "notifications": """
        id uuid PRIMARY KEY, event_id uuid NOT NULL, audience text NOT NULL,
        partner_id uuid, scope text NOT NULL, kind text NOT NULL, title text NOT NULL,
        body text NOT NULL, data jsonb NOT NULL, subject_type text NOT NULL,
        subject_id uuid NOT NULL, occurred_at timestamptz NOT NULL,
        xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
        seq bigserial NOT NULL""",
    "notification_marks": """
        notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
        subject text NOT NULL, read_at timestamptz, dismissed_at timestamptz,
        PRIMARY KEY (notification_id, subject)""",
    "search_entries": """
        kind text NOT NULL, id uuid NOT NULL, partner_id uuid, title text NOT NULL,
        subtitle text NOT NULL, status text, version integer NOT NULL,
        updated_at timestamptz NOT NULL, PRIMARY KEY (kind, id)""",
}

_INDEXES = (
    "CREATE INDEX ix_certifications_partner_id ON certifications (partner_id)",
    "CREATE INDEX ix_deals_partner_id_status ON deals (partner_id, status)",
    "CREATE INDEX ix_mdf_allocations_partner_id ON mdf_allocations (partner_id)",
    "CREATE INDEX ix_mdf_requests_partner_id ON mdf_requests (partner_id)",
    "CREATE INDEX ix_mdf_claims_partner_id ON mdf_claims (partner_id)",
    "CREATE INDEX ix_mdf_claims_request_id ON mdf_claims (request_id)",
    "CREATE INDEX ix_accruals_partner_id ON accruals (partner_id)",
    "CREATE INDEX ix_payouts_partner_id ON payouts (partner_id)",
    "CREATE UNIQUE INDEX uq_notifications_event_id_audience ON notifications "
    "(event_id, audience)",
    "CREATE INDEX ix_notifications_audience_partner_id_occurred_at ON notifications "
    "(audience, partner_id, occurred_at, id)",
    "CREATE INDEX ix_notifications_audience_partner_id_xid ON notifications "
    "(audience, partner_id, xid, seq)",
    "CREATE INDEX ix_notifications_occurred_at ON notifications (occurred_at)",
    "CREATE INDEX ix_notification_marks_subject ON notification_marks (subject)",
    "CREATE INDEX ix_search_entries_partner_id ON search_entries (partner_id)",
)


def upgrade() -> None:
    create_current_platform_tables("portal")
    for table, columns in _TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
    for statement in [*_INDEXES,
                      *search_column("search_entries", "title || ' ' || subtitle")]:
        op.execute(statement)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    drop_platform_tables()
    for table in ("scheduled_jobs", "worker_liveness", "credential_keys",
                  "credential_partners"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS prm_fold(text)")
