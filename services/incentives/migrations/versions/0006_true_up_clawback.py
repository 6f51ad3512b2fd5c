"""A period's true-up may take money back: when the band the whole period reached pays less
than what was accrued, the difference is reversed out of the period's accruals (status
``clawback``, ``amount`` what was taken back). Such a true-up moves money by reversals of the
deals' transfers, not by a transfer of its own.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE rebate_accruals DROP CONSTRAINT ck_rebate_accruals_status, "
               "ADD CONSTRAINT ck_rebate_accruals_status CHECK (status IN ('accrued', "
               "'no_rebate', 'reversed', 'clawback')), "
               "DROP CONSTRAINT ck_rebate_accruals_money_moved, "
               "ADD CONSTRAINT ck_rebate_accruals_money_moved CHECK (CASE WHEN status = "
               "'clawback' THEN kind = 'true_up' AND transfer_id IS NULL "
               "ELSE (amount > 0) = (transfer_id IS NOT NULL) END)")


def downgrade() -> None:
    op.execute("ALTER TABLE rebate_accruals DROP CONSTRAINT ck_rebate_accruals_status, "
               "ADD CONSTRAINT ck_rebate_accruals_status CHECK (status IN ('accrued', "
               "'no_rebate', 'reversed')), "
               "DROP CONSTRAINT ck_rebate_accruals_money_moved, "
               "ADD CONSTRAINT ck_rebate_accruals_money_moved CHECK ((amount > 0) = "
               "(transfer_id IS NOT NULL))")
