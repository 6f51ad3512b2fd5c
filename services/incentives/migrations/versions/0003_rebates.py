"""Rebate programmes and their accruals.

A programme's rules are kept as one JSON list (tried in order, the first match applies) so that
an accrual can copy the rule it used, whatever becomes of the programme later. An accrual is
unique per (programme, deal) and a true-up per (programme, partner, period): the deals topic
replayed, or a true-up run again, finds the row and moves no money.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = (
    """CREATE TABLE rebate_programmes (
        id uuid CONSTRAINT pk_rebate_programmes PRIMARY KEY,
        name varchar(200) NOT NULL,
        currency char(3) NOT NULL,
        basis varchar(10) NOT NULL CONSTRAINT ck_rebate_programmes_basis
            CHECK (basis IN ('tier', 'volume')),
        trailing_days integer NOT NULL CONSTRAINT ck_rebate_programmes_trailing_days
            CHECK (trailing_days BETWEEN 1 AND 731),
        starts_on date NOT NULL,
        ends_on date,
        rules jsonb NOT NULL,
        expense_account_id uuid NOT NULL
            CONSTRAINT fk_rebate_programmes_expense_account_id_ledger_accounts
            REFERENCES ledger_accounts (id),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT uq_rebate_programmes_name UNIQUE (name),
        CONSTRAINT ck_rebate_programmes_dates CHECK (ends_on IS NULL OR ends_on >= starts_on)
    )""",
    """CREATE TABLE rebate_accruals (
        id uuid CONSTRAINT pk_rebate_accruals PRIMARY KEY,
        programme_id uuid NOT NULL
            CONSTRAINT fk_rebate_accruals_programme_id_rebate_programmes
            REFERENCES rebate_programmes (id),
        partner_id uuid NOT NULL,
        kind varchar(10) NOT NULL CONSTRAINT ck_rebate_accruals_kind
            CHECK (kind IN ('deal', 'true_up')),
        deal_id uuid,
        closed_on date NOT NULL,
        period_from date,
        period_to date,
        deal_type varchar(40),
        tier varchar(40),
        currency char(3) NOT NULL,
        deal_amount bigint NOT NULL,
        lines jsonb NOT NULL,
        base_amount bigint NOT NULL,
        volume bigint NOT NULL,
        rate numeric(18, 6) NOT NULL,
        rule jsonb,
        rule_index integer,
        amount bigint NOT NULL,
        status varchar(10) NOT NULL CONSTRAINT ck_rebate_accruals_status
            CHECK (status IN ('accrued', 'no_rebate', 'reversed')),
        transfer_id uuid CONSTRAINT fk_rebate_accruals_transfer_id_ledger_transfers
            REFERENCES ledger_transfers (id),
        reversal_transfer_id uuid
            CONSTRAINT fk_rebate_accruals_reversal_transfer_id_ledger_transfers
            REFERENCES ledger_transfers (id),
        reason varchar(500),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT ck_rebate_accruals_amount CHECK (amount >= 0 AND base_amount >= 0),
        CONSTRAINT ck_rebate_accruals_money_moved CHECK ((amount > 0) = (transfer_id IS NOT NULL)),
        CONSTRAINT ck_rebate_accruals_keyed CHECK (
            (kind = 'deal' AND deal_id IS NOT NULL AND period_from IS NULL)
            OR (kind = 'true_up' AND deal_id IS NULL AND period_from IS NOT NULL
                AND period_to >= period_from))
    )""",
    "CREATE UNIQUE INDEX uq_rebate_accruals_deal ON rebate_accruals (programme_id, deal_id) "
    "WHERE kind = 'deal'",
    "CREATE UNIQUE INDEX uq_rebate_accruals_true_up ON rebate_accruals "
    "(programme_id, partner_id, period_from, period_to) WHERE kind = 'true_up'",
    "CREATE INDEX ix_rebate_accruals_partner ON rebate_accruals "
    "(programme_id, partner_id, closed_on)",
    "CREATE INDEX ix_rebate_accruals_partner_id ON rebate_accruals (partner_id, id)",
)


def upgrade() -> None:
    for statement in _TABLES:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("rebate_accruals")
    op.drop_table("rebate_programmes")
