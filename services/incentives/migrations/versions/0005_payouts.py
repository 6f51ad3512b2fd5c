"""Payout batches: a partner's payable amounts of a period and currency, approved, exported to
the finance system and paid (payable -> paid on the ledger).

A line is one transfer that credited a payable account (a rebate or SPIFF accrual, an approved
MDF claim, ...); ``uq_payout_lines_transfer_id`` pays each at most once. A payment reference
pays one batch (``uq_payout_batches_payment_reference``): a confirmation sent again is a no-op.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = (
    """CREATE TABLE payout_batches (
        id uuid CONSTRAINT pk_payout_batches PRIMARY KEY,
        partner_id uuid NOT NULL,
        currency char(3) NOT NULL,
        period_from date NOT NULL,
        period_to date NOT NULL,
        total bigint NOT NULL,
        lines integer NOT NULL,
        status varchar(10) NOT NULL CONSTRAINT ck_payout_batches_status
            CHECK (status IN ('draft', 'approved', 'exported', 'paid')),
        approved_at timestamptz,
        exported_at timestamptz,
        paid_at timestamptz,
        paid_on date,
        payment_reference varchar(200),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT uq_payout_batches_payment_reference UNIQUE (payment_reference),
        CONSTRAINT ck_payout_batches_total CHECK (total > 0 AND lines > 0),
        CONSTRAINT ck_payout_batches_period CHECK (period_to >= period_from),
        CONSTRAINT ck_payout_batches_paid
            CHECK ((status = 'paid') = (payment_reference IS NOT NULL))
    )""",
    "CREATE INDEX ix_payout_batches_partner_id ON payout_batches (partner_id, id)",
    """CREATE TABLE payout_lines (
        id uuid CONSTRAINT pk_payout_lines PRIMARY KEY,
        batch_id uuid NOT NULL CONSTRAINT fk_payout_lines_batch_id_payout_batches
            REFERENCES payout_batches (id),
        transfer_id uuid NOT NULL CONSTRAINT fk_payout_lines_transfer_id_ledger_transfers
            REFERENCES ledger_transfers (id),
        payable_account_id uuid NOT NULL
            CONSTRAINT fk_payout_lines_payable_account_id_ledger_accounts
            REFERENCES ledger_accounts (id),
        source varchar(20) NOT NULL,
        source_id uuid,
        earned_on date NOT NULL,
        amount bigint NOT NULL CONSTRAINT ck_payout_lines_amount CHECK (amount > 0),
        paid_transfer_id uuid CONSTRAINT fk_payout_lines_paid_transfer_id_ledger_transfers
            REFERENCES ledger_transfers (id),
        CONSTRAINT uq_payout_lines_transfer_id UNIQUE (transfer_id)
    )""",
    "CREATE INDEX ix_payout_lines_batch_id ON payout_lines (batch_id, id)",
)


def upgrade() -> None:
    for statement in _TABLES:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("payout_lines")
    op.drop_table("payout_batches")
