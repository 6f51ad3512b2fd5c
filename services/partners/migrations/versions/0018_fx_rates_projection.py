"""FX rates become a projection of the incentives ledger's (``prm.fx.rate_set.v1``; the ledger
is their one owner): the partners service no longer lists them, so the list grammar's indexes
go. The rows already here stay (a rate of the ledger's for the same pair and day replaces
one); the ledger announces the rates it holds (its revision 0012), which fills the rest.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# (name, definition)
_LIST_INDEXES = (
    ("ix_fx_rates_from_currency_id", "(from_currency, id)"),
    ("ix_fx_rates_to_currency_id", "(to_currency, id)"),
    ("ix_fx_rates_effective_on_id", "(effective_on, id)"),
    ("ix_fx_rates_created_at", "(created_at)"),
    ("ix_fx_rates_updated_at_id", "(updated_at, id)"),
)


def upgrade() -> None:
    for name, _ in _LIST_INDEXES:
        op.execute(f"DROP INDEX {name}")


def downgrade() -> None:
    for name, definition in _LIST_INDEXES:
        op.execute(f"CREATE INDEX {name} ON fx_rates {definition}")
