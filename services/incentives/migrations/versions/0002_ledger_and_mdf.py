"""The double-entry ledger (accounts, transfers, entries, FX rates and conversions) and
market development funds (budgets, allocations, fund requests, claims, proof files).

The ledger's rules live in the database, so that no code path (nor a hand-written statement)
can break them:

* ``ledger_apply_transfer`` (after a transfer is inserted, or a pending one resolved) moves both
  sides' balances by the same amount in the same statement and appends the entries: debits
  equal credits per currency by construction. It locks the two accounts in id order first, so
  transfers crossing the same accounts in opposite directions cannot deadlock.
* ``ck_ledger_accounts_available_non_negative`` refuses the balance change that would take a
  flagged account's available balance (posted credits - posted debits - pending debits) below
  zero. Row locks serialise writers of one account and the check runs on the row each writer
  leaves, so no interleaving of concurrent transfers can overspend.
* ``ledger_transfers_immutable``: a transfer never changes, except that a pending one is
  resolved once (posted, voided or expired); ``ledger_entries_immutable``: entries never change.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_APPLY = """
CREATE FUNCTION ledger_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    posted bigint;
    released bigint;
BEGIN
    PERFORM 1 FROM ledger_accounts
        WHERE id IN (NEW.debit_account_id, NEW.credit_account_id)
        ORDER BY id FOR NO KEY UPDATE;
    IF TG_OP = 'INSERT' AND NEW.status = 'pending' THEN
        UPDATE ledger_accounts SET
            debits_pending = debits_pending
                + CASE WHEN id = NEW.debit_account_id THEN NEW.amount ELSE 0 END,
            credits_pending = credits_pending
                + CASE WHEN id = NEW.credit_account_id THEN NEW.amount ELSE 0 END,
            version = version + 1
        WHERE id IN (NEW.debit_account_id, NEW.credit_account_id);
        INSERT INTO ledger_entries (id, account_id, transfer_id, side, phase, amount, created_at)
        VALUES (uuidv7(), NEW.debit_account_id, NEW.id, 'debit', 'pending', NEW.amount, now()),
               (uuidv7(), NEW.credit_account_id, NEW.id, 'credit', 'pending', NEW.amount, now());
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE ledger_accounts SET
            debits_posted = debits_posted
                + CASE WHEN id = NEW.debit_account_id THEN NEW.amount ELSE 0 END,
            credits_posted = credits_posted
                + CASE WHEN id = NEW.credit_account_id THEN NEW.amount ELSE 0 END,
            version = version + 1
        WHERE id IN (NEW.debit_account_id, NEW.credit_account_id);
        INSERT INTO ledger_entries (id, account_id, transfer_id, side, phase, amount, created_at)
        VALUES (uuidv7(), NEW.debit_account_id, NEW.id, 'debit', 'posted', NEW.amount, now()),
               (uuidv7(), NEW.credit_account_id, NEW.id, 'credit', 'posted', NEW.amount, now());
    ELSIF OLD.status = 'pending' AND NEW.status <> 'pending' THEN
        -- A pending transfer resolved: the part posted moves, the rest is released.
        posted := NEW.posted_amount;
        released := OLD.amount - NEW.posted_amount;
        UPDATE ledger_accounts SET
            debits_pending = debits_pending
                - CASE WHEN id = NEW.debit_account_id THEN OLD.amount ELSE 0 END,
            debits_posted = debits_posted
                + CASE WHEN id = NEW.debit_account_id THEN posted ELSE 0 END,
            credits_pending = credits_pending
                - CASE WHEN id = NEW.credit_account_id THEN OLD.amount ELSE 0 END,
            credits_posted = credits_posted
                + CASE WHEN id = NEW.credit_account_id THEN posted ELSE 0 END,
            version = version + 1
        WHERE id IN (NEW.debit_account_id, NEW.credit_account_id);
        INSERT INTO ledger_entries (id, account_id, transfer_id, side, phase, amount, created_at)
        SELECT uuidv7(), e.account_id, NEW.id, e.side, e.phase, e.amount, now()
        FROM (VALUES (NEW.debit_account_id, 'debit', 'posted', posted),
                     (NEW.credit_account_id, 'credit', 'posted', posted),
                     (NEW.debit_account_id, 'debit', 'released', released),
                     (NEW.credit_account_id, 'credit', 'released', released))
             AS e(account_id, side, phase, amount)
        WHERE e.amount > 0;
    END IF;
    RETURN NULL;
END $$
"""

_IMMUTABLE_TRANSFERS = """
CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'pending' AND NEW.status <> 'pending'
       AND NEW.version = OLD.version + 1
       AND (NEW.id, NEW.debit_account_id, NEW.credit_account_id, NEW.currency, NEW.amount,
            NEW.pending, NEW.timeout_seconds, NEW.expires_at, NEW.reverses_id,
            NEW.conversion_id, NEW.code, NEW.reference, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.debit_account_id, OLD.credit_account_id, OLD.currency, OLD.amount,
            OLD.pending, OLD.timeout_seconds, OLD.expires_at, OLD.reverses_id,
            OLD.conversion_id, OLD.code, OLD.reference, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger transfer % is immutable: correct it with a reversing transfer',
        OLD.id USING ERRCODE = 'integrity_constraint_violation';
END $$
"""

_IMMUTABLE_ENTRIES = """
CREATE FUNCTION ledger_entries_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END $$
"""

_TRIGGERS = (
    _APPLY,
    "CREATE TRIGGER ledger_transfers_apply AFTER INSERT OR UPDATE OF status "
    "ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_apply_transfer()",
    _IMMUTABLE_TRANSFERS,
    "CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers "
    "FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()",
    _IMMUTABLE_ENTRIES,
    "CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entries_immutable()",
)


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("budget_id", sa.Uuid(), nullable=True),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("non_negative", sa.Boolean(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            (
                "kind IN ('external', 'fx', 'budget_pool', 'allocation', 'committed', "
                "'payable', 'paid')"
            ),
            name=op.f("ck_ledger_accounts_kind"),
        ),
        sa.CheckConstraint(
            "NOT non_negative OR credits_posted - debits_posted - debits_pending >= 0",
            name=op.f("ck_ledger_accounts_available_non_negative"),
        ),
        sa.CheckConstraint(
            (
                "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND "
                "credits_pending >= 0"
            ),
            name=op.f("ck_ledger_accounts_balances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("id", "currency", name="uq_ledger_accounts_id"),
        sa.UniqueConstraint(
            "kind",
            "currency",
            "budget_id",
            "partner_id",
            name="uq_ledger_accounts_kind",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_ledger_accounts_partner_id", "ledger_accounts", ["partner_id", "id"], unique=False
    )
    op.create_table(
        "ledger_fx_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("base", sa.CHAR(length=3), nullable=False),
        sa.Column("quote", sa.CHAR(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("base <> quote", name=op.f("ck_ledger_fx_rates_pair")),
        sa.CheckConstraint("rate > 0", name=op.f("ck_ledger_fx_rates_rate_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_fx_rates")),
        sa.UniqueConstraint("base", "quote", "effective_on", name="uq_ledger_fx_rates_base"),
    )
    op.create_table(
        "ledger_conversions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_account_id", sa.Uuid(), nullable=False),
        sa.Column("destination_account_id", sa.Uuid(), nullable=False),
        sa.Column("source_amount", sa.BigInteger(), nullable=False),
        sa.Column("source_currency", sa.CHAR(length=3), nullable=False),
        sa.Column("destination_amount", sa.BigInteger(), nullable=False),
        sa.Column("destination_currency", sa.CHAR(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source_amount > 0 AND destination_amount > 0",
            name=op.f("ck_ledger_conversions_amounts"),
        ),
        sa.CheckConstraint(
            "source_currency <> destination_currency", name=op.f("ck_ledger_conversions_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["destination_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_conversions_destination_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["source_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_conversions_source_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_conversions")),
    )
    op.create_table(
        "mdf_budgets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("programme", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pool_account_id", sa.Uuid(), nullable=False),
        sa.Column("auto_approve_below", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_mdf_budgets_amount_positive")),
        sa.CheckConstraint(
            "auto_approve_below IS NULL OR auto_approve_below > 0",
            name=op.f("ck_mdf_budgets_auto_approve_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["pool_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_mdf_budgets_pool_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_budgets")),
        sa.UniqueConstraint("programme", "period", "currency", name="uq_mdf_budgets_programme"),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("debit_account_id", sa.Uuid(), nullable=False),
        sa.Column("credit_account_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("posted_amount", sa.BigInteger(), nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("conversion_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.TIMESTAMP(timezone=True), nullable=True),
        sa.CheckConstraint(
            (
                "(status = 'pending' AND pending AND posted_amount IS NULL) OR (status = "
                "'posted' AND posted_amount > 0 AND posted_amount <= amount     AND (pending "
                "OR posted_amount = amount)) OR (status IN ('voided', 'expired') AND pending "
                "AND posted_amount = 0)"
            ),
            name=op.f("ck_ledger_transfers_resolution"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'posted', 'voided', 'expired')",
            name=op.f("ck_ledger_transfers_status"),
        ),
        sa.CheckConstraint(
            "(timeout_seconds IS NULL) = (expires_at IS NULL) AND (expires_at IS NULL OR pending)",
            name=op.f("ck_ledger_transfers_expiry_pending_only"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_transfers_amount_positive")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfers_two_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["ledger_conversions.id"],
            name=op.f("fk_ledger_transfers_conversion_id_ledger_conversions"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_transfers_credit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_transfers_debit_account_id_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_transfers_reverses_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
    )
    op.create_index(
        "ix_ledger_transfers_expires_at",
        "ledger_transfers",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND expires_at IS NOT NULL"),
    )
    op.create_index(
        "ix_ledger_transfers_reverses_id",
        "ledger_transfers",
        ["reverses_id"],
        unique=False,
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.create_table(
        "mdf_allocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("budget_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("allocation_account_id", sa.Uuid(), nullable=False),
        sa.Column("committed_account_id", sa.Uuid(), nullable=False),
        sa.Column("payable_account_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_mdf_allocations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["allocation_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_mdf_allocations_allocation_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["mdf_budgets.id"], name=op.f("fk_mdf_allocations_budget_id_mdf_budgets")
        ),
        sa.ForeignKeyConstraint(
            ["committed_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_mdf_allocations_committed_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["payable_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_mdf_allocations_payable_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_allocations")),
        sa.UniqueConstraint("budget_id", "partner_id", name="uq_mdf_allocations_budget_id"),
    )
    op.create_index(
        "ix_mdf_allocations_partner_id", "mdf_allocations", ["partner_id", "id"], unique=False
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("side", sa.String(length=6), nullable=False),
        sa.Column("phase", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "phase IN ('pending', 'posted', 'released')", name=op.f("ck_ledger_entries_phase")
        ),
        sa.CheckConstraint("side IN ('debit', 'credit')", name=op.f("ck_ledger_entries_side")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_entries_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_entries_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_entries_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_account_id", "ledger_entries", ["account_id", "id"], unique=False
    )
    op.create_index(
        "ix_ledger_entries_transfer_id", "ledger_entries", ["transfer_id"], unique=False
    )
    op.create_table(
        "mdf_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("budget_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("activity_type", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("planned_cost", sa.BigInteger(), nullable=False),
        sa.Column("expected_outcomes", sa.String(length=2000), nullable=False),
        sa.Column("expected_leads", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column("decision_due_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("claim_due_on", sa.Date(), nullable=True),
        sa.Column("approved_by", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            (
                "status IN ('submitted', 'changes_requested', 'approved', 'rejected', "
                "'expired', 'claimed', 'completed', 'closed')"
            ),
            name=op.f("ck_mdf_requests_status"),
        ),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_mdf_requests_dates")),
        sa.CheckConstraint("planned_cost > 0", name=op.f("ck_mdf_requests_planned_cost_positive")),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["mdf_allocations.id"],
            name=op.f("fk_mdf_requests_allocation_id_mdf_allocations"),
        ),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["mdf_budgets.id"], name=op.f("fk_mdf_requests_budget_id_mdf_budgets")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_mdf_requests_reservation_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_requests")),
    )
    op.create_index(
        "ix_mdf_requests_allocation_id", "mdf_requests", ["allocation_id", "id"], unique=False
    )
    op.create_index(
        "ix_mdf_requests_claim_due_on",
        "mdf_requests",
        ["claim_due_on"],
        unique=False,
        postgresql_where=sa.text("status = 'approved'"),
    )
    op.create_index(
        "ix_mdf_requests_decision_due_at",
        "mdf_requests",
        ["decision_due_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('submitted', 'changes_requested')"),
    )
    op.create_index(
        "ix_mdf_requests_partner_id", "mdf_requests", ["partner_id", "id"], unique=False
    )
    op.create_table(
        "mdf_claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("approved_amount", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("payable_transfer_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            (
                "(status = 'approved') = (approved_amount IS NOT NULL) AND (approved_amount "
                "IS NULL OR approved_amount BETWEEN 1 AND amount)"
            ),
            name=op.f("ck_mdf_claims_approved_amount"),
        ),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected')", name=op.f("ck_mdf_claims_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_mdf_claims_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payable_transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_mdf_claims_payable_transfer_id_ledger_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["mdf_requests.id"], name=op.f("fk_mdf_claims_request_id_mdf_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_claims")),
    )
    op.create_index("ix_mdf_claims_partner_id", "mdf_claims", ["partner_id", "id"], unique=False)
    op.create_index(
        "ix_mdf_claims_request_id",
        "mdf_claims",
        ["request_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('submitted', 'approved')"),
    )
    op.create_table(
        "mdf_proof_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("size = octet_length(content)", name=op.f("ck_mdf_proof_files_size")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["mdf_claims.id"], name=op.f("fk_mdf_proof_files_claim_id_mdf_claims")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_proof_files")),
    )
    op.create_index(
        "ix_mdf_proof_files_claim_id", "mdf_proof_files", ["claim_id", "id"], unique=False
    )
    for statement in _TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    # The tables' triggers go with them; the functions are dropped after.
    op.drop_table("mdf_proof_files")
    op.drop_table("mdf_claims")
    op.drop_table("mdf_requests")
    op.drop_table("ledger_entries")
    op.drop_table("mdf_allocations")
    op.drop_table("ledger_transfers")
    op.drop_table("mdf_budgets")
    op.drop_table("ledger_conversions")
    op.drop_table("ledger_fx_rates")
    op.drop_table("ledger_accounts")
    for function in (
        "ledger_apply_transfer",
        "ledger_transfers_immutable",
        "ledger_entries_immutable",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
