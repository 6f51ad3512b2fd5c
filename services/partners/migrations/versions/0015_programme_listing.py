"""The programme's lists speak the list grammar: name searches (applications, contacts,
certification types, agreements, onboarding templates), sorts, change feeds, ranges and filters,
each served by an index; onboarding tasks and signatures get the times a change feed orders by;
a deleted contact stays as a tombstone the change feed shows.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

from prm_platform.migrations import search_column

revision, down_revision = "0015", "0014"

# Where onboarding tasks without a due date sort (prm_partners.onboarding.models.NO_DUE_DATE).
_NO_DUE_DATE = "'9999-12-31 00:00:00+00'::timestamptz"

_COLUMNS = (
    # Onboarding tasks: when each was written (created with its plan, then once when done).
    "ALTER TABLE onboarding_tasks ADD COLUMN created_at timestamptz, "
    "ADD COLUMN updated_at timestamptz",
    "UPDATE onboarding_tasks t SET created_at = p.created_at, "
    "updated_at = greatest(p.created_at, coalesce(t.completed_at, p.created_at)) "
    "FROM onboarding_plans p WHERE p.id = t.plan_id",
    "ALTER TABLE onboarding_tasks ALTER COLUMN created_at SET NOT NULL, "
    "ALTER COLUMN updated_at SET NOT NULL",
    "ALTER TABLE onboarding_tasks ADD COLUMN due_order timestamptz NOT NULL "
    f"GENERATED ALWAYS AS (coalesce(due_at, {_NO_DUE_DATE})) STORED",
    # Signatures: an erasure blanks the signer's name; the change feed says when.
    "ALTER TABLE agreement_signatures ADD COLUMN updated_at timestamptz",
    "UPDATE agreement_signatures SET updated_at = created_at",
    "ALTER TABLE agreement_signatures ALTER COLUMN updated_at SET NOT NULL",
    # Contacts: deleted ones stay as tombstones; erased ones sort first by name.
    "ALTER TABLE contacts ADD COLUMN deleted_at timestamptz",
    "ALTER TABLE contacts ADD COLUMN sort_name text NOT NULL "
    "GENERATED ALWAYS AS (coalesce(name, '')) STORED",
)

_SEARCHES = (
    ("partner_applications", "company_name || ' ' || coalesce(website_domain, '')"),
    ("contacts", "coalesce(name, '') || ' ' || coalesce(email, '')"),
    ("certification_types", "code || ' ' || name"),
    ("agreements", "code || ' ' || title"),
    ("onboarding_templates", "name"),
)

# (name, table, what it indexes)
_INDEXES = (
    ("ix_partner_applications_type_id", "partner_applications", "(type, id)"),
    ("ix_partner_applications_country_id", "partner_applications", "(country, id)"),
    ("ix_partner_applications_partner_id", "partner_applications",
     "(partner_id) WHERE partner_id IS NOT NULL"),
    ("ix_partner_applications_countries_served", "partner_applications",
     "USING gin (countries_served)"),
    ("ix_partner_applications_specialisations", "partner_applications",
     "USING gin (specialisations)"),
    ("ix_partner_applications_fit_score_id", "partner_applications", "(fit_score, id)"),
    ("ix_partner_applications_company_name_id", "partner_applications", "(company_name, id)"),
    ("ix_partner_applications_created_at", "partner_applications", "(created_at)"),
    ("ix_partner_applications_decided_at", "partner_applications",
     "(decided_at) WHERE decided_at IS NOT NULL"),
    ("ix_partner_applications_updated_at_id", "partner_applications", "(updated_at, id)"),
    ("ix_onboarding_templates_partner_types", "onboarding_templates",
     "USING gin (partner_types)"),
    ("ix_onboarding_templates_activates_partner_id", "onboarding_templates",
     "(activates_partner, id)"),
    ("ix_onboarding_templates_name_id", "onboarding_templates", "(name, id)"),
    ("ix_onboarding_templates_created_at", "onboarding_templates", "(created_at)"),
    ("ix_onboarding_templates_updated_at_id", "onboarding_templates", "(updated_at, id)"),
    ("ix_onboarding_tasks_completed_at_due_at", "onboarding_tasks", "(completed_at, due_at)"),
    ("ix_onboarding_tasks_kind_id", "onboarding_tasks", "(kind, id)"),
    ("ix_onboarding_tasks_key_id", "onboarding_tasks", "(key, id)"),
    ("ix_onboarding_tasks_due_at", "onboarding_tasks", "(due_at) WHERE due_at IS NOT NULL"),
    ("ix_onboarding_tasks_due_order_id", "onboarding_tasks", "(due_order, id)"),
    ("ix_onboarding_tasks_created_at", "onboarding_tasks", "(created_at)"),
    ("ix_onboarding_tasks_updated_at_id", "onboarding_tasks", "(updated_at, id)"),
    ("ix_certification_types_required_id", "certification_types", "(required, id)"),
    ("ix_certification_types_name_id", "certification_types", "(name, id)"),
    ("ix_certification_types_created_at", "certification_types", "(created_at)"),
    ("ix_certification_types_updated_at_id", "certification_types", "(updated_at, id)"),
    ("ix_certifications_partner_id_code_id", "certifications", "(partner_id, code, id)"),
    ("ix_certifications_type_id", "certifications", "(type_id)"),
    ("ix_certifications_partner_id_source_id", "certifications", "(partner_id, source, id)"),
    ("ix_certifications_earned_on_id", "certifications", "(earned_on, id)"),
    ("ix_certifications_expires_on", "certifications",
     "(expires_on) WHERE expires_on IS NOT NULL"),
    ("ix_certifications_created_at", "certifications", "(created_at)"),
    ("ix_certifications_updated_at_id", "certifications", "(updated_at, id)"),
    ("ix_agreements_required_id", "agreements", "(required, id)"),
    ("ix_agreements_title_id", "agreements", "(title, id)"),
    ("ix_agreements_created_at", "agreements", "(created_at)"),
    ("ix_agreements_updated_at_id", "agreements", "(updated_at, id)"),
    ("ix_agreement_signatures_partner_id_code_id", "agreement_signatures",
     "(partner_id, code, id)"),
    ("ix_agreement_signatures_agreement_id", "agreement_signatures", "(agreement_id)"),
    ("ix_agreement_signatures_signed_on_id", "agreement_signatures", "(signed_on, id)"),
    ("ix_agreement_signatures_expires_on", "agreement_signatures",
     "(expires_on) WHERE expires_on IS NOT NULL"),
    ("ix_agreement_signatures_created_at", "agreement_signatures", "(created_at)"),
    ("ix_agreement_signatures_updated_at_id", "agreement_signatures", "(updated_at, id)"),
    ("ix_contacts_roles", "contacts", "USING gin (roles)"),
    ("ix_contacts_sort_name_id", "contacts", "(sort_name, id)"),
    ("ix_contacts_created_at", "contacts", "(created_at)"),
    ("ix_contacts_updated_at_id", "contacts", "(updated_at, id)"),
    ("ix_tiers_rank_id", "tiers", "(rank, id)"),
    ("ix_tiers_created_at", "tiers", "(created_at)"),
    ("ix_tiers_updated_at_id", "tiers", "(updated_at, id)"),
    ("ix_fx_rates_effective_on_id", "fx_rates", "(effective_on, id)"),
    ("ix_fx_rates_created_at", "fx_rates", "(created_at)"),
    ("ix_fx_rates_updated_at_id", "fx_rates", "(updated_at, id)"),
    ("ix_partner_tier_history_partner_id_direction_id", "partner_tier_history",
     "(partner_id, direction, id)"),
    ("ix_partner_tier_history_partner_id_to_tier_id", "partner_tier_history",
     "(partner_id, to_tier, id)"),
    ("ix_partner_tier_history_as_of_id", "partner_tier_history", "(as_of, id)"),
    ("ix_partner_tier_history_changed_at", "partner_tier_history", "(changed_at)"),
)


def _create(name: str, table: str, what: str) -> str:
    if what.startswith("USING"):
        return f"CREATE INDEX {name} ON {table} {what}"
    columns, _, where = what.partition(" WHERE ")
    return f"CREATE INDEX {name} ON {table} {columns}" + (f" WHERE {where}" if where else "")


def upgrade() -> None:
    for statement in _COLUMNS:
        op.execute(statement)
    for table, expression in _SEARCHES:
        for statement in search_column(table, expression):
            op.execute(statement)
    for name, table, what in _INDEXES:
        op.execute(_create(name, table, what))
    # The status filter's index (completed_at, due_at) serves what this one did.
    op.execute("DROP INDEX ix_onboarding_tasks_open_id")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_onboarding_tasks_open_id ON onboarding_tasks (id) "
               "WHERE completed_at IS NULL")
    for name, _, _ in reversed(_INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for table, _ in _SEARCHES:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search_text")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text")
    op.execute("ALTER TABLE contacts DROP COLUMN sort_name, DROP COLUMN deleted_at")
    op.execute("ALTER TABLE agreement_signatures DROP COLUMN updated_at")
    op.execute("ALTER TABLE onboarding_tasks DROP COLUMN due_order, DROP COLUMN updated_at, "
               "DROP COLUMN created_at")
