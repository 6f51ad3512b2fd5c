"""Lead routing keeps each rule's pool members between leads, in process, for as long as the
partner directory has not changed what routing reads of it: a partner added or removed, or a
change of its status, tier, type, markets, languages, specialisations or certifications,
moves the directory's generation (a sequence's next value, so a rolled-back change never
hands its number to a later one); a routing reads the generation before the members. Paused
partners are read apart, through a partial index.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0024", "0023"

# What routing reads of a partner (routing.py's members query and weights).
ROUTED = ("status", "tier", "type", "markets", "languages", "specialisations",
          "certifications")


def upgrade() -> None:
    op.execute("CREATE SEQUENCE lead_directory_generations")
    op.create_table(
        "lead_directory_state",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_lead_directory_state_one_row"))
    op.execute("INSERT INTO lead_directory_state (id, generation) "
               "VALUES (1, nextval('lead_directory_generations'))")
    op.execute("""
        CREATE FUNCTION lead_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE lead_directory_state SET generation = nextval('lead_directory_generations')
            WHERE id = 1;
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER lead_directory_changed AFTER INSERT OR DELETE OR TRUNCATE "
               "ON partner_directory FOR EACH STATEMENT EXECUTE FUNCTION lead_directory_changed()")
    # A snapshot that changes none of these (a name, a contact, a stale one counted) keeps
    # the kept members.
    op.execute(f"""
        CREATE TRIGGER lead_directory_routing_changed AFTER UPDATE ON partner_directory
        FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in ROUTED)})
        EXECUTE FUNCTION lead_directory_changed()""")
    op.create_index("ix_lead_partner_settings_paused", "lead_partner_settings", ["partner_id"],
                    postgresql_where=sa.text("paused"))


def downgrade() -> None:
    op.drop_index("ix_lead_partner_settings_paused", "lead_partner_settings")
    op.execute("DROP TRIGGER lead_directory_routing_changed ON partner_directory")
    op.execute("DROP TRIGGER lead_directory_changed ON partner_directory")
    op.execute("DROP FUNCTION lead_directory_changed()")
    op.drop_table("lead_directory_state")
    op.execute("DROP SEQUENCE lead_directory_generations")
