"""A won deal can be reversed by the vendor (a booking cancelled, refunded or entered in
error): the terminal status ``win_reversed``.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision, down_revision = "0014", "0013"

_BEFORE = "'submitted', 'in_review', 'approved', 'rejected', 'won', 'lost', 'expired'"


def upgrade() -> None:
    op.drop_constraint("ck_deals_status", "deals")
    op.create_check_constraint("ck_deals_status", "deals",
                               f"status IN ({_BEFORE}, 'win_reversed')")


def downgrade() -> None:
    # A reversed win was a win until then; the old statuses cannot say more.
    op.execute("UPDATE deals SET status = 'won' WHERE status = 'win_reversed'")
    op.drop_constraint("ck_deals_status", "deals")
    op.create_check_constraint("ck_deals_status", "deals", f"status IN ({_BEFORE})")
