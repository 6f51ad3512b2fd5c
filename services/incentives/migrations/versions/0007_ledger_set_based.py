"""The ledger applies the transfers of one statement together.

Until now ``ledger_apply_transfer`` ran once per inserted transfer: two account updates and two
entries each, so a statement of 500 transfers updated the same accounts up to 1,000 times and
a hot account's row grew a chain of 500 versions within the transaction. Inserted transfers are
now applied by a statement-level trigger over the statement's new rows: the accounts are locked
in id order, each account is updated once with the sums of what the statement moves on it, and
the entries are appended in one insert. A single transfer is a statement of one, as before.

The guarantees are unchanged: both sides move in the same statement by the same amounts
(debits equal credits per currency), ``ck_ledger_accounts_available_non_negative`` checks each
account's balance as the statement leaves it (no transaction can see any other), and the
resolution of a pending transfer (an update) is still applied row by row by
``ledger_apply_transfer``.

Revision ID: 0007
Revises: 0006
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_APPLY_INSERTED = """
CREATE FUNCTION ledger_apply_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ledger_accounts
        WHERE id IN (SELECT debit_account_id FROM inserted
                     UNION SELECT credit_account_id FROM inserted)
        ORDER BY id FOR NO KEY UPDATE;
    UPDATE ledger_accounts a SET
        debits_posted = a.debits_posted + m.debits_posted,
        credits_posted = a.credits_posted + m.credits_posted,
        debits_pending = a.debits_pending + m.debits_pending,
        credits_pending = a.credits_pending + m.credits_pending,
        version = a.version + m.transfers
    FROM (
        SELECT s.account_id,
               coalesce(sum(s.amount) FILTER (WHERE s.side = 'debit' AND NOT s.pending), 0)
                   AS debits_posted,
               coalesce(sum(s.amount) FILTER (WHERE s.side = 'credit' AND NOT s.pending), 0)
                   AS credits_posted,
               coalesce(sum(s.amount) FILTER (WHERE s.side = 'debit' AND s.pending), 0)
                   AS debits_pending,
               coalesce(sum(s.amount) FILTER (WHERE s.side = 'credit' AND s.pending), 0)
                   AS credits_pending,
               count(*) AS transfers
        FROM inserted t CROSS JOIN LATERAL (VALUES
            (t.debit_account_id, 'debit', t.amount, t.status = 'pending'),
            (t.credit_account_id, 'credit', t.amount, t.status = 'pending'))
            AS s(account_id, side, amount, pending)
        GROUP BY s.account_id
    ) m
    WHERE a.id = m.account_id;
    -- Entries in the statement's order, debit then credit (uuidv7 ids grow in that order).
    INSERT INTO ledger_entries (id, account_id, transfer_id, side, phase, amount, created_at)
    SELECT uuidv7(), s.account_id, t.id, s.side, t.status, t.amount, now()
    FROM inserted t CROSS JOIN LATERAL (VALUES (t.debit_account_id, 'debit'),
                                               (t.credit_account_id, 'credit'))
        AS s(account_id, side);
    RETURN NULL;
END $$
"""

# The resolution of a pending transfer, as in 0002 (inserts no longer come here).
_APPLY_RESOLVED = """
CREATE OR REPLACE FUNCTION ledger_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    posted bigint;
    released bigint;
BEGIN
    IF OLD.status = 'pending' AND NEW.status <> 'pending' THEN
        PERFORM 1 FROM ledger_accounts
            WHERE id IN (NEW.debit_account_id, NEW.credit_account_id)
            ORDER BY id FOR NO KEY UPDATE;
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


def upgrade() -> None:
    op.execute("DROP TRIGGER ledger_transfers_apply ON ledger_transfers")
    op.execute(_APPLY_RESOLVED)
    op.execute("CREATE TRIGGER ledger_transfers_apply AFTER UPDATE OF status "
               "ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_apply_transfer()")
    op.execute(_APPLY_INSERTED)
    op.execute("CREATE TRIGGER ledger_transfers_apply_inserted AFTER INSERT ON ledger_transfers "
               "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
               "EXECUTE FUNCTION ledger_apply_inserted()")


def downgrade() -> None:
    spec = importlib.util.spec_from_file_location(
        "ledger_and_mdf", Path(__file__).with_name("0002_ledger_and_mdf.py"))
    assert spec is not None and spec.loader is not None
    earlier = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(earlier)
    op.execute("DROP TRIGGER ledger_transfers_apply_inserted ON ledger_transfers")
    op.execute("DROP FUNCTION ledger_apply_inserted()")
    op.execute("DROP TRIGGER ledger_transfers_apply ON ledger_transfers")
    op.execute("DROP FUNCTION ledger_apply_transfer()")
    op.execute(earlier._APPLY)
    op.execute("CREATE TRIGGER ledger_transfers_apply AFTER INSERT OR UPDATE OF status "
               "ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_apply_transfer()")
