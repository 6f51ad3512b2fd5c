"""Every list of the service speaks the one list grammar (prm_platform.listing): an index for
each filter, range, sort, search and change feed it offers.

- Ledger accounts get ``updated_at`` (their balances change with every transfer): the end of
  the second they last changed in, kept by the trigger ``ledger_accounts_touch``, for their
  change feed; existing accounts start at their creation. A second's resolution keeps a busy
  account's balance updates HOT: its index entry changes at most once a second.
- Transfers are listed by status (an index of the few that are not posted), currency and
  amount, code, conversion, creation and resolution time (by account: through the entries);
  the payable credits of a partner (payout batches, statements) are found by their credit
  account instead of a scan of every transfer.
- Budgets (programme and period), fund requests (title), rebate programmes and SPIFFs (name)
  are searched by name: a folded ``search_text`` and its trigram index (the platform's
  ``search`` step first).
- Amount ranges are served by (currency, amount) indexes: a decimal amount is compared in each
  currency's minor units.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from prm_platform.migrations import platform_step, search_column

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_search_up, _search_down = platform_step("search")

_SEARCHED = {
    "mdf_budgets": "programme || ' ' || period",
    "mdf_requests": "title",
    "rebate_programmes": "name",
    "spiffs": "name",
}

# The end of the statement's second, and never backwards: while an account's value stays the
# same, its updates write no index entry (HOT), however busy it is; rounded up, a change is
# never before a time a sync asks from that preceded it.
_SECOND = "date_trunc('second', statement_timestamp()) + interval '1 second'"
_TOUCH = f"""
CREATE FUNCTION ledger_accounts_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := greatest(OLD.updated_at, {_SECOND});
    RETURN NEW;
END $$
"""

# (name, table, definition)
_INDEXES = (
    ("ix_ledger_accounts_currency_id", "ledger_accounts", "(currency, id)"),
    ("ix_ledger_accounts_created_at", "ledger_accounts", "(created_at)"),
    ("ix_ledger_accounts_updated_at_id", "ledger_accounts", "(updated_at, id)"),
    ("ix_ledger_transfers_credit_account_id", "ledger_transfers", "(credit_account_id, id)"),
    ("ix_ledger_transfers_status_id", "ledger_transfers",
     "(status, id) WHERE status <> 'posted'"),
    ("ix_ledger_transfers_currency_amount", "ledger_transfers", "(currency, amount)"),
    ("ix_ledger_transfers_code_id", "ledger_transfers", "(code, id)"),
    ("ix_ledger_transfers_created_at_id", "ledger_transfers", "(created_at, id)"),
    ("ix_ledger_transfers_conversion_id", "ledger_transfers",
     "(conversion_id) WHERE conversion_id IS NOT NULL"),
    ("ix_ledger_transfers_resolved_at", "ledger_transfers",
     "(resolved_at) WHERE resolved_at IS NOT NULL"),
    ("ix_ledger_fx_rates_effective_on_id", "ledger_fx_rates", "(effective_on, id)"),
    ("ix_ledger_fx_rates_created_at", "ledger_fx_rates", "(created_at)"),
    ("ix_mdf_budgets_programme_id", "mdf_budgets", "(programme, id)"),
    ("ix_mdf_budgets_period_id", "mdf_budgets", "(period, id)"),
    ("ix_mdf_budgets_currency_amount", "mdf_budgets", "(currency, amount)"),
    ("ix_mdf_budgets_created_at", "mdf_budgets", "(created_at)"),
    ("ix_mdf_budgets_updated_at_id", "mdf_budgets", "(updated_at, id)"),
    ("ix_mdf_allocations_currency_amount", "mdf_allocations", "(currency, amount)"),
    ("ix_mdf_allocations_created_at", "mdf_allocations", "(created_at)"),
    ("ix_mdf_allocations_updated_at_id", "mdf_allocations", "(updated_at, id)"),
    ("ix_mdf_requests_budget_id_id", "mdf_requests", "(budget_id, id)"),
    ("ix_mdf_requests_status_id", "mdf_requests", "(status, id)"),
    ("ix_mdf_requests_activity_type_id", "mdf_requests", "(activity_type, id)"),
    ("ix_mdf_requests_currency_planned_cost", "mdf_requests", "(currency, planned_cost)"),
    ("ix_mdf_requests_start_date_id", "mdf_requests", "(start_date, id)"),
    ("ix_mdf_requests_end_date_id", "mdf_requests", "(end_date, id)"),
    ("ix_mdf_requests_title_id", "mdf_requests", "(title, id)"),
    ("ix_mdf_requests_claim_due_on_id", "mdf_requests",
     "(claim_due_on, id) WHERE claim_due_on IS NOT NULL"),
    ("ix_mdf_requests_created_at", "mdf_requests", "(created_at)"),
    ("ix_mdf_requests_updated_at_id", "mdf_requests", "(updated_at, id)"),
    ("ix_mdf_claims_request_id_id", "mdf_claims", "(request_id, id)"),
    ("ix_mdf_claims_status_id", "mdf_claims", "(status, id)"),
    ("ix_mdf_claims_currency_amount", "mdf_claims", "(currency, amount)"),
    ("ix_mdf_claims_created_at", "mdf_claims", "(created_at)"),
    ("ix_mdf_claims_updated_at_id", "mdf_claims", "(updated_at, id)"),
    ("ix_rebate_programmes_basis_id", "rebate_programmes", "(basis, id)"),
    ("ix_rebate_programmes_currency_id", "rebate_programmes", "(currency, id)"),
    ("ix_rebate_programmes_name_id", "rebate_programmes", "(name, id)"),
    ("ix_rebate_programmes_starts_on_id", "rebate_programmes", "(starts_on, id)"),
    ("ix_rebate_programmes_ends_on", "rebate_programmes",
     "(ends_on) WHERE ends_on IS NOT NULL"),
    ("ix_rebate_programmes_created_at", "rebate_programmes", "(created_at)"),
    ("ix_rebate_programmes_updated_at_id", "rebate_programmes", "(updated_at, id)"),
    ("ix_rebate_accruals_deal_id", "rebate_accruals", "(deal_id) WHERE deal_id IS NOT NULL"),
    ("ix_rebate_accruals_status_id", "rebate_accruals", "(status, id)"),
    ("ix_rebate_accruals_kind_id", "rebate_accruals", "(kind, id)"),
    ("ix_rebate_accruals_currency_amount", "rebate_accruals", "(currency, amount)"),
    ("ix_rebate_accruals_closed_on_id", "rebate_accruals", "(closed_on, id)"),
    ("ix_rebate_accruals_created_at", "rebate_accruals", "(created_at)"),
    ("ix_rebate_accruals_updated_at_id", "rebate_accruals", "(updated_at, id)"),
    ("ix_spiffs_bonus_kind_id", "spiffs", "(bonus_kind, id)"),
    ("ix_spiffs_currency_fund", "spiffs", "(currency, fund)"),
    ("ix_spiffs_name_id", "spiffs", "(name, id)"),
    ("ix_spiffs_starts_on_id", "spiffs", "(starts_on, id)"),
    ("ix_spiffs_ends_on_id", "spiffs", "(ends_on, id)"),
    ("ix_spiffs_created_at", "spiffs", "(created_at)"),
    ("ix_spiffs_updated_at_id", "spiffs", "(updated_at, id)"),
    ("ix_spiff_accruals_deal_id", "spiff_accruals", "(deal_id)"),
    ("ix_spiff_accruals_status_id", "spiff_accruals", "(status, id)"),
    ("ix_spiff_accruals_currency_amount", "spiff_accruals", "(currency, amount)"),
    ("ix_spiff_accruals_closed_on_id", "spiff_accruals", "(closed_on, id)"),
    ("ix_spiff_accruals_created_at", "spiff_accruals", "(created_at)"),
    ("ix_spiff_accruals_updated_at_id", "spiff_accruals", "(updated_at, id)"),
    ("ix_payout_batches_status_id", "payout_batches", "(status, id)"),
    ("ix_payout_batches_currency_total", "payout_batches", "(currency, total)"),
    ("ix_payout_batches_period_from_id", "payout_batches", "(period_from, id)"),
    ("ix_payout_batches_period_to_id", "payout_batches", "(period_to, id)"),
    ("ix_payout_batches_paid_on", "payout_batches", "(paid_on) WHERE paid_on IS NOT NULL"),
    ("ix_payout_batches_created_at", "payout_batches", "(created_at)"),
    ("ix_payout_batches_updated_at_id", "payout_batches", "(updated_at, id)"),
)


def upgrade() -> None:
    _search_up()
    op.execute("ALTER TABLE ledger_accounts ADD COLUMN updated_at timestamptz")
    op.execute("UPDATE ledger_accounts "
               "SET updated_at = date_trunc('second', created_at) + interval '1 second'")
    op.execute("ALTER TABLE ledger_accounts ALTER COLUMN updated_at SET NOT NULL, "
               f"ALTER COLUMN updated_at SET DEFAULT {_SECOND}")
    op.execute(_TOUCH)
    op.execute("CREATE TRIGGER ledger_accounts_touch BEFORE UPDATE ON ledger_accounts "
               "FOR EACH ROW EXECUTE FUNCTION ledger_accounts_touch()")
    for table, expression in _SEARCHED.items():
        for statement in search_column(table, expression):
            op.execute(statement)
    for name, table, definition in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} {definition}")


def downgrade() -> None:
    for name, _, _ in reversed(_INDEXES):
        op.execute(f"DROP INDEX {name}")
    for table in _SEARCHED:
        op.execute(f"DROP INDEX ix_{table}_search_text")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text")
    op.execute("DROP TRIGGER ledger_accounts_touch ON ledger_accounts")
    op.execute("DROP FUNCTION ledger_accounts_touch()")
    op.execute("ALTER TABLE ledger_accounts DROP COLUMN updated_at")
    _search_down()
