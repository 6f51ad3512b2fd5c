"""Announce the FX rates the ledger holds already as ``prm.fx.rate_set.v1`` on prm.fx-rates:
the ledger is the one owner of the programme's exchange rates, and the projections of the
partners' tiers and the attribution KPIs start from what it knew (new rates are announced as
they are recorded).

Revision ID: 0012
Revises: 0011
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_UTC = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"


def upgrade() -> None:
    from alembic import op

    op.execute(f"""
        INSERT INTO outbox (event_id, topic, key, event_type, envelope)
        SELECT r.event_id, 'prm.fx-rates', r.id::text, 'prm.fx.rate_set.v1',
               jsonb_build_object(
                   'specversion', '1.0', 'id', r.event_id, 'source', '/prm/incentives',
                   'type', 'prm.fx.rate_set.v1', 'subject', r.id::text,
                   'time', to_char(now() AT TIME ZONE 'UTC', {_UTC}),
                   'datacontenttype', 'application/json',
                   'data', jsonb_build_object(
                       'rate_id', r.id, 'base', r.base, 'quote', r.quote,
                       'rate', rtrim(rtrim(r.rate::text, '0'), '.'),
                       'effective_on', r.effective_on,
                       'recorded_at', to_char(r.created_at AT TIME ZONE 'UTC', {_UTC})))
        FROM (SELECT *, gen_random_uuid() AS event_id FROM ledger_fx_rates
              ORDER BY effective_on, id) r
    """)


def downgrade() -> None:
    pass  # announcements already sent cannot be taken back
