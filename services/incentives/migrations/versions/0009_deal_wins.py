"""A deal accrues once, on the amount of the win that stands. ``deal_wins`` keeps, per deal,
the newest version of its win applied (or its reversal, which is final): a won event of that
version or an older one, whatever its event id, is not applied again. An accrual records the
version of the win it was computed from (``deal_version``; null for those made before); one of
an earlier win is ``superseded`` when a newer win of the deal arrives (its money moved back),
and the one of the newer win takes its place, so the (programme, deal) and (SPIFF, deal) keys
now hold among the accruals not superseded.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""CREATE TABLE deal_wins (
        deal_id uuid CONSTRAINT pk_deal_wins PRIMARY KEY,
        partner_id uuid NOT NULL,
        version integer NOT NULL,
        status varchar(20) NOT NULL CONSTRAINT ck_deal_wins_status
            CHECK (status IN ('won', 'win_reversed')),
        amount numeric(19, 4) NOT NULL,
        currency char(3) NOT NULL,
        closed_on date NOT NULL,
        updated_at timestamptz NOT NULL
    )""")
    op.execute("ALTER TABLE rebate_accruals ADD COLUMN deal_version integer, "
               "DROP CONSTRAINT ck_rebate_accruals_status, "
               "ADD CONSTRAINT ck_rebate_accruals_status CHECK (status IN ('accrued', "
               "'no_rebate', 'reversed', 'clawback', 'superseded'))")
    op.execute("DROP INDEX uq_rebate_accruals_deal")
    op.execute("CREATE UNIQUE INDEX uq_rebate_accruals_deal ON rebate_accruals "
               "(programme_id, deal_id) WHERE kind = 'deal' AND status <> 'superseded'")
    op.execute("ALTER TABLE spiff_accruals ADD COLUMN deal_version integer, "
               "DROP CONSTRAINT ck_spiff_accruals_status, "
               "ADD CONSTRAINT ck_spiff_accruals_status CHECK (status IN ('accrued', "
               "'capped', 'reversed', 'superseded')), "
               "DROP CONSTRAINT uq_spiff_accruals_deal")
    op.execute("CREATE UNIQUE INDEX uq_spiff_accruals_deal ON spiff_accruals "
               "(spiff_id, deal_id) WHERE status <> 'superseded'")


def downgrade() -> None:
    # A superseded accrual moved its money back, as a reversed one did. Refused while a deal
    # has accruals of two wins in one programme or SPIFF: the old keys cannot hold them.
    op.execute("UPDATE rebate_accruals SET status = 'reversed' WHERE status = 'superseded'")
    op.execute("UPDATE spiff_accruals SET status = 'reversed' WHERE status = 'superseded'")
    op.execute("DROP INDEX uq_spiff_accruals_deal")
    op.execute("ALTER TABLE spiff_accruals ADD CONSTRAINT uq_spiff_accruals_deal "
               "UNIQUE (spiff_id, deal_id), DROP CONSTRAINT ck_spiff_accruals_status, "
               "ADD CONSTRAINT ck_spiff_accruals_status CHECK (status IN ('accrued', "
               "'capped', 'reversed')), DROP COLUMN deal_version")
    op.execute("DROP INDEX uq_rebate_accruals_deal")
    op.execute("CREATE UNIQUE INDEX uq_rebate_accruals_deal ON rebate_accruals "
               "(programme_id, deal_id) WHERE kind = 'deal'")
    op.execute("ALTER TABLE rebate_accruals DROP CONSTRAINT ck_rebate_accruals_status, "
               "ADD CONSTRAINT ck_rebate_accruals_status CHECK (status IN ('accrued', "
               "'no_rebate', 'reversed', 'clawback')), DROP COLUMN deal_version")
    op.execute("DROP TABLE deal_wins")
