"""The data-driven models on the whole history: Markov on the full absorbing chain, Shapley
over the documented win-count game.

Every rules version published so far computed both on the deal being credited (partners outside
it merged into one Markov state; each won deal's partners cut down to the deal's for Shapley):
they now say so (``markov_chain``/``shapley_game``: ``deal``), so their stored results stay
reproducible, and lose the sampling parameters (the Shapley values are computed in closed
form, exact at any size). A new version, the newest with ``full``/``history``, is published;
the scheduled recompute then brings every open deal and every deal won in its window up to date
under it, and the results of earlier versions stay as they were.

Revision ID: 0004
Revises: 0003
"""

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEW_VERSION_ID = uuid.UUID("0193c1d0-0000-7000-8000-000000000004")
SAMPLING = ("shapley_exact_up_to", "shapley_samples", "shapley_seed")


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE attribution_rules SET rules = (rules - CAST(:sampling AS text[])) "
        "|| jsonb_build_object('markov_chain', 'deal', 'shapley_game', 'deal')"
    ).bindparams(sampling=list(SAMPLING)))
    op.execute(sa.text(
        "INSERT INTO attribution_rules (id, version, rules, notes, published_by, published_at) "
        "SELECT :id, version + 1, rules || jsonb_build_object('markov_chain', 'full', "
        "'markov_exact_up_to', 40, 'shapley_game', 'history'), :notes, 'migration', :at "
        "FROM attribution_rules ORDER BY version DESC LIMIT 1"
    ).bindparams(id=NEW_VERSION_ID, at=dt.datetime.now(dt.UTC), notes=(
        "The newest version's rules with the data-driven models on the whole history: Markov "
        "on the full absorbing chain, Shapley over the documented win-count game.")))


def downgrade() -> None:
    params = {"id": NEW_VERSION_ID}
    op.execute(sa.text(
        "DELETE FROM attribution_credits WHERE rules_version = "
        "(SELECT version FROM attribution_rules WHERE id = :id)").bindparams(**params))
    op.execute(sa.text(
        "DELETE FROM attribution_results WHERE rules_version = "
        "(SELECT version FROM attribution_rules WHERE id = :id)").bindparams(**params))
    op.execute(sa.text(
        "DELETE FROM datadriven_runs WHERE rules_version = "
        "(SELECT version FROM attribution_rules WHERE id = :id)").bindparams(**params))
    op.execute(sa.text("DELETE FROM attribution_rules WHERE id = :id").bindparams(**params))
    # The sampling parameters come back with their defaults.
    op.execute(sa.text(
        "UPDATE attribution_rules SET rules = rules - 'markov_chain' - 'markov_exact_up_to' "
        "- 'shapley_game' || jsonb_build_object('shapley_exact_up_to', 12, "
        "'shapley_samples', 1000, 'shapley_seed', 1)"))
