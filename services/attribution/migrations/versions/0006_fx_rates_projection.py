"""FX rates become a projection of the incentives ledger's (``prm.fx.rate_set.v1``; the ledger
is their one owner): nobody records them here any more, so who recorded one is the ledger's to
say, and the list of them (and its indexes) goes. The rows already here stay (a rate of the
ledger's for the same currency, base and day replaces one); the ledger announces the rates it
holds (its revision 0012), which fills the rest.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0006", "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_fx_rates_valid_on_id")
    op.execute("DROP INDEX ix_fx_rates_recorded_at")
    op.drop_column("fx_rates", "recorded_by")


def downgrade() -> None:
    op.add_column("fx_rates", sa.Column("recorded_by", sa.String(200), nullable=False,
                                        server_default="prm.incentives"))
    op.alter_column("fx_rates", "recorded_by", server_default=None)
    op.execute("CREATE INDEX ix_fx_rates_recorded_at ON fx_rates (recorded_at)")
    op.execute("CREATE INDEX ix_fx_rates_valid_on_id ON fx_rates (valid_on, id)")
