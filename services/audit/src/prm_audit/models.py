"""The trail's tables (the migrations make them; ``alembic check`` proves both agree). Written
as SQL text by the recorder; the lists build on these objects."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB

from prm_audit.db import Base

_TS = sa.TIMESTAMP(timezone=True)
_M = Base.metadata

# One row per event, in its service's chain: ``seq`` numbers the chain without a gap and
# ``hash`` is SHA-256 over the previous entry's hash and this entry's canonical encoding
# (``prm_audit.trail.chain``).
audit_entries = sa.Table(
    "audit_entries", _M,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
    sa.Column("service", sa.Text(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("occurred_at", _TS, nullable=False),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column("record", sa.Text(), nullable=True),
    # Every record it names (``trail.chain.records_of``): what the ``record`` filter reads.
    sa.Column("records", ARRAY(sa.Text()), nullable=False),
    sa.Column("partner_id", sa.Uuid(), nullable=True),
    sa.Column("actor", sa.Text(), nullable=True),
    sa.Column("request_id", sa.Text(), nullable=True),
    sa.Column("data", JSONB(), nullable=False),
    sa.Column("data_digest", BYTEA(), nullable=False),
    sa.Column("facts_digest", BYTEA(), nullable=False),
    sa.Column("hash", BYTEA(), nullable=False),
    # The erasure (its event id) that replaced this entry's personal data with a pseudonym.
    sa.Column("erased_by", sa.Uuid(), nullable=True),
    sa.UniqueConstraint("service", "seq"),
    sa.Index("ix_audit_entries_actor_id", "actor", "id"),
    sa.Index("ix_audit_entries_records", "records", postgresql_using="gin"),
    sa.Index("ix_audit_entries_type_id", "type", "id"),
    sa.Index("ix_audit_entries_service_id", "service", "id"),
    sa.Index("ix_audit_entries_partner_id_id", "partner_id", "id"),
    sa.Index("ix_audit_entries_request_id", "request_id"),
    sa.Index("ix_audit_entries_occurred_at_id", "occurred_at", "id"),
    sa.Index("ix_audit_entries_contact_id", sa.text("(data ->> 'contact_id')"),
             postgresql_where=sa.text("data ? 'contact_id'")),
)

# Each service's chain: its head (the last entry's seq and hash: what the next entry follows)
# and its anchor (the last entry retention deleted, where verification starts; seq 0 and the
# genesis hash before any was deleted).
audit_chains = sa.Table(
    "audit_chains", _M,
    sa.Column("service", sa.Text(), primary_key=True),
    sa.Column("head_seq", sa.BigInteger(), nullable=False),
    sa.Column("head_hash", BYTEA(), nullable=False),
    sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
    sa.Column("anchor_hash", BYTEA(), nullable=False),
    sa.Column("anchored_at", _TS, nullable=True),
)
