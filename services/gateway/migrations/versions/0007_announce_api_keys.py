"""Announce the API keys that exist already on prm.api-keys, so that the key directory of every
service that checks keys itself starts complete (new keys and revocations are announced as they
happen).

Revision ID: 0007
Revises: 0006
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from alembic import op

    op.execute("""
        INSERT INTO outbox (event_id, topic, key, event_type, envelope)
        SELECT k.event_id, 'prm.api-keys', k.id::text, 'prm.api_key.issued.v1',
               jsonb_strip_nulls(jsonb_build_object(
                   'specversion', '1.0', 'id', k.event_id, 'source', '/prm/gateway',
                   'type', 'prm.api_key.issued.v1', 'subject', k.id::text,
                   'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   'datacontenttype', 'application/json', 'partnerid', k.partner_id::text,
                   'data', jsonb_build_object(
                       'key_id', k.id, 'secret_hash', k.secret_hash, 'kind', k.kind,
                       'partner_id', k.partner_id, 'scopes', to_jsonb(k.scopes),
                       'expires_at', k.expires_at)))
        FROM (SELECT *, gen_random_uuid() AS event_id FROM api_keys
              WHERE revoked_at IS NULL ORDER BY id) k
    """)


def downgrade() -> None:
    pass  # announcements already sent cannot be taken back
