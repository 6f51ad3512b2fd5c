"""Registrations as partners' systems send them (products, deal type, external id, address, CRM
ids), the customer's blocking keys for conflict detection, the protection period, and the
vendor's direct accounts with their aliases. The first status is now ``submitted``.

pg_trgm lives in the service's own schema unless the database has it already (its operator
classes are then named with the schema they are in); the extension is trusted, so the
service's database role may create it.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from prm_deals.matching.normalise import domain_key, name_key
from prm_platform.migrations import trigram_ops

revision, down_revision = "0008", "0007"

OPEN = "status IN ('submitted', 'in_review', 'approved')"
BACKFILL_BATCH = 1000


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA deals")
    trgm = trigram_ops()
    op.drop_constraint("ck_deals_status", "deals")
    op.execute("UPDATE deals SET status = 'submitted' WHERE status = 'registered'")
    op.create_check_constraint(
        "ck_deals_status", "deals",
        "status IN ('submitted', 'in_review', 'approved', 'rejected', 'won', 'lost', 'expired')")
    for column in (
        sa.Column("customer_name_key", sa.String(200), nullable=False, server_default=""),
        sa.Column("customer_domain_key", sa.String(253)),
        sa.Column("customer_address", postgresql.JSONB()),
        sa.Column("customer_crm_ids", postgresql.JSONB()),
        sa.Column("products", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("deal_type", sa.String(10), nullable=False, server_default="new"),
        sa.Column("private_offer", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("external_id", sa.String(100)),
        sa.Column("protected_until", sa.Date()),
        sa.Column("conflicts", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("decision", postgresql.JSONB()),
    ):
        op.add_column("deals", column)
    op.create_check_constraint("ck_deals_deal_type", "deals",
                               "deal_type IN ('new', 'renewal', 'upsell')")
    _backfill_keys()
    op.execute("UPDATE deals SET protected_until = (created_at AT TIME ZONE 'UTC')::date + 90")
    op.create_index("uq_deals_partner_external_id", "deals", ["partner_id", "external_id"],
                    unique=True, postgresql_where=sa.text("external_id IS NOT NULL"))
    # Candidates of a conflict check: open registrations by registrable domain, and by
    # trigram-close name within a country.
    op.create_index("ix_deals_open_domain_key", "deals", ["customer_domain_key"],
                    postgresql_where=sa.text(f"{OPEN} AND customer_domain_key IS NOT NULL"))
    op.execute(f"CREATE INDEX ix_deals_open_name_key ON deals USING gin "
               f"(customer_name_key {trgm}) WHERE {OPEN}")

    op.create_table(
        "direct_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(100)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(253)),
        # None: the account is named in every country.
        sa.Column("country", sa.String(2)),
        sa.Column("owner", sa.String(200)),
        sa.Column("aliases", postgresql.ARRAY(sa.String(200)), nullable=False,
                  server_default="{}"),
        sa.Column("domain_key", sa.String(253)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_direct_accounts"),
        sa.UniqueConstraint("external_id", name="uq_direct_accounts_external_id"),
    )
    op.create_index("ix_direct_accounts_domain_key", "direct_accounts", ["domain_key"],
                    postgresql_where=sa.text("domain_key IS NOT NULL"))
    # Every name an account answers to (its name and its aliases), each as a key.
    op.create_table(
        "direct_account_names",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("alias", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name_key", name="pk_direct_account_names"),
        sa.ForeignKeyConstraint(["account_id"], ["direct_accounts.id"], ondelete="CASCADE",
                                name="fk_direct_account_names_account_id_direct_accounts"),
    )
    op.execute("CREATE INDEX ix_direct_account_names_key ON direct_account_names USING gin "
               f"(name_key {trgm})")


def _backfill_keys() -> None:
    connection = op.get_bind()
    after = None
    while True:
        rows = connection.execute(sa.text(
            "SELECT id, customer_name, customer_domain FROM deals "
            "WHERE CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid) ORDER BY id "
            "LIMIT :batch"), {"after": after, "batch": BACKFILL_BATCH}).all()
        if not rows:
            return
        connection.execute(
            sa.text("UPDATE deals SET customer_name_key = :name_key, "
                    "customer_domain_key = :domain_key WHERE id = :id"),
            [{"id": r.id, "name_key": name_key(r.customer_name),
              "domain_key": domain_key(r.customer_domain)} for r in rows])
        after = rows[-1].id


def downgrade() -> None:
    op.drop_table("direct_account_names")
    op.drop_table("direct_accounts")
    for index in ("ix_deals_open_name_key", "ix_deals_open_domain_key",
                  "uq_deals_partner_external_id"):
        op.drop_index(index, "deals")
    op.drop_constraint("ck_deals_deal_type", "deals")
    for column in ("decision", "conflicts", "protected_until", "external_id", "private_offer",
                   "deal_type", "products", "customer_crm_ids", "customer_address",
                   "customer_domain_key",
                   "customer_name_key"):
        op.drop_column("deals", column)
    op.drop_constraint("ck_deals_status", "deals")
    op.execute("UPDATE deals SET status = 'registered' WHERE status IN ('submitted', "
               "'in_review')")
    op.create_check_constraint(
        "ck_deals_status", "deals",
        "status IN ('registered', 'approved', 'rejected', 'won', 'lost', 'expired')")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
