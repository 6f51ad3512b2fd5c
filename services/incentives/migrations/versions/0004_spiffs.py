"""SPIFFs: time-boxed bonuses on won deals, paid from a funded pool.

The SPIFF's cap is its pool: a non-negative ledger account funded when the SPIFF is created,
so no accrual can overspend it. An accrual is unique per (SPIFF, deal).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = (
    """CREATE TABLE spiffs (
        id uuid CONSTRAINT pk_spiffs PRIMARY KEY,
        name varchar(200) NOT NULL,
        currency char(3) NOT NULL,
        starts_on date NOT NULL,
        ends_on date NOT NULL,
        bonus_kind varchar(10) NOT NULL CONSTRAINT ck_spiffs_bonus_kind
            CHECK (bonus_kind IN ('fixed', 'percent')),
        fixed_amount bigint,
        rate numeric(18, 6),
        sku_prefixes jsonb NOT NULL,
        deal_types jsonb NOT NULL,
        fund bigint NOT NULL,
        partner_cap bigint,
        pool_account_id uuid NOT NULL CONSTRAINT fk_spiffs_pool_account_id_ledger_accounts
            REFERENCES ledger_accounts (id),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT uq_spiffs_name UNIQUE (name),
        CONSTRAINT ck_spiffs_dates CHECK (ends_on >= starts_on),
        CONSTRAINT ck_spiffs_bonus CHECK (
            (bonus_kind = 'fixed' AND fixed_amount > 0 AND rate IS NULL)
            OR (bonus_kind = 'percent' AND rate > 0 AND fixed_amount IS NULL)),
        CONSTRAINT ck_spiffs_caps CHECK (fund > 0 AND (partner_cap IS NULL OR partner_cap > 0))
    )""",
    """CREATE TABLE spiff_accruals (
        id uuid CONSTRAINT pk_spiff_accruals PRIMARY KEY,
        spiff_id uuid NOT NULL CONSTRAINT fk_spiff_accruals_spiff_id_spiffs
            REFERENCES spiffs (id),
        partner_id uuid NOT NULL,
        deal_id uuid NOT NULL,
        closed_on date NOT NULL,
        deal_type varchar(40) NOT NULL,
        currency char(3) NOT NULL,
        deal_amount bigint NOT NULL,
        base_amount bigint NOT NULL,
        bonus bigint NOT NULL,
        amount bigint NOT NULL,
        capped_by varchar(10) CONSTRAINT ck_spiff_accruals_capped_by
            CHECK (capped_by IN ('partner', 'spiff')),
        status varchar(10) NOT NULL CONSTRAINT ck_spiff_accruals_status
            CHECK (status IN ('accrued', 'capped', 'reversed')),
        transfer_id uuid CONSTRAINT fk_spiff_accruals_transfer_id_ledger_transfers
            REFERENCES ledger_transfers (id),
        reversal_transfer_id uuid
            CONSTRAINT fk_spiff_accruals_reversal_transfer_id_ledger_transfers
            REFERENCES ledger_transfers (id),
        reason varchar(500),
        version integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT uq_spiff_accruals_deal UNIQUE (spiff_id, deal_id),
        CONSTRAINT ck_spiff_accruals_amount CHECK (0 <= amount AND amount <= bonus),
        CONSTRAINT ck_spiff_accruals_money_moved CHECK ((amount > 0) = (transfer_id IS NOT NULL))
    )""",
    "CREATE INDEX ix_spiff_accruals_partner ON spiff_accruals (spiff_id, partner_id)",
    "CREATE INDEX ix_spiff_accruals_partner_id ON spiff_accruals (partner_id, id)",
)


def upgrade() -> None:
    for statement in _TABLES:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("spiff_accruals")
    op.drop_table("spiffs")
