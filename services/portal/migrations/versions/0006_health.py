"""Partner health: the dated facts it is computed from, the partners due for scoring, the
health model's versions (the default as version 1), each partner's score now and by day, and
the early-warning estimators trained from the history.

Revision ID: 0006
Revises: 0005
"""

import orjson
import sqlalchemy as sa
from alembic import op

from prm_portal.health.model import DEFAULT

revision, down_revision = "0006", "0005"

_TABLES = {
    "health_facts": """
        kind text NOT NULL, ref_id uuid NOT NULL, partner_id uuid NOT NULL,
        occurred_on date NOT NULL, value numeric, currency text, event_id uuid NOT NULL,
        recorded_at timestamptz NOT NULL, PRIMARY KEY (kind, ref_id)""",
    "health_due": "partner_id uuid PRIMARY KEY, since timestamptz NOT NULL",
    "health_models": """
        version integer PRIMARY KEY, spec jsonb NOT NULL, created_at timestamptz NOT NULL,
        created_by text""",
    "partner_health": """
        partner_id uuid PRIMARY KEY, score numeric(5, 2), band text,
        model_version integer NOT NULL, computed_on date NOT NULL,
        computed_at timestamptz NOT NULL, pillars jsonb NOT NULL,
        previous_score numeric(5, 2), previous_band text, trend numeric(6, 2),
        churn_risk numeric(5, 4), churn_drivers jsonb, growth numeric(5, 4),
        growth_drivers jsonb, risk_raised boolean NOT NULL DEFAULT false,
        partner_type text, partner_tier text, partner_country text,
        score_rank numeric(5, 2) NOT NULL GENERATED ALWAYS AS (coalesce(score, -1)) STORED,
        churn_rank numeric(5, 4) NOT NULL GENERATED ALWAYS AS (coalesce(churn_risk, -1)) STORED,
        version integer NOT NULL""",
    "health_history": """
        partner_id uuid NOT NULL, computed_on date NOT NULL, score numeric(5, 2), band text,
        model_version integer NOT NULL, pillars jsonb NOT NULL, churn_risk numeric(5, 4),
        growth numeric(5, 4), PRIMARY KEY (partner_id, computed_on)""",
    "health_estimators": """
        target text PRIMARY KEY, model jsonb NOT NULL, trained_at timestamptz NOT NULL""",
}

_INDEXES = (
    "CREATE INDEX ix_health_facts_partner_id_occurred_on ON health_facts "
    "(partner_id, occurred_on)",
    "CREATE INDEX ix_partner_health_score_rank ON partner_health (score_rank, partner_id)",
    "CREATE INDEX ix_partner_health_churn_rank ON partner_health (churn_rank, partner_id)",
    "CREATE INDEX ix_partner_health_band ON partner_health (band)",
    "CREATE INDEX ix_partner_health_partner_type ON partner_health (partner_type)",
    "CREATE INDEX ix_partner_health_partner_tier ON partner_health (partner_tier)",
    "CREATE INDEX ix_partner_health_partner_country ON partner_health (partner_country)",
    "CREATE INDEX ix_partner_health_computed_on ON partner_health (computed_on)",
)


def upgrade() -> None:
    for table, columns in _TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
    for index in _INDEXES:
        op.execute(index)
    op.execute(sa.text(
        "INSERT INTO health_models (version, spec, created_at, created_by) "
        "VALUES (1, CAST(:spec AS jsonb), now(), 'default')").bindparams(
        spec=orjson.dumps(DEFAULT.model_dump(mode="json")).decode()))


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f"DROP TABLE {table}")
