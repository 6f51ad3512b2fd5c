"""Account mapping: each side's populations of accounts (the vendor's and each partner's), the
partnerships of the vendor with partners for mapping (double opt-in, sharing levels per
population), and the overlaps the matcher finds between them.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision, down_revision = "0022", "0021"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE mapped_accounts (
            id uuid PRIMARY KEY, owner varchar(36) NOT NULL, population varchar(20) NOT NULL,
            crm_id varchar(100) NOT NULL, name varchar(200) NOT NULL, domain varchar(253),
            country varchar(2), name_key varchar(200) NOT NULL, domain_key varchar(253),
            keys varchar(300)[] NOT NULL, created_at timestamptz NOT NULL,
            removed_at timestamptz,
            CONSTRAINT ck_mapped_accounts_population
                CHECK (population IN ('customers', 'opportunities', 'prospects')))""")
    op.execute("CREATE UNIQUE INDEX uq_mapped_accounts_owner ON mapped_accounts "
               "(owner, population, crm_id) WHERE removed_at IS NULL")
    op.execute("CREATE INDEX ix_mapped_accounts_owner_population_id ON mapped_accounts "
               "(owner, population, id)")
    op.execute("CREATE INDEX ix_mapped_accounts_owner_id ON mapped_accounts (owner, id)")
    op.execute("CREATE INDEX ix_mapped_accounts_keys ON mapped_accounts USING gin (keys) "
               "WITH (fastupdate = off)")
    op.execute("CREATE INDEX ix_mapped_accounts_removed_at ON mapped_accounts (removed_at) "
               "WHERE removed_at IS NOT NULL")
    op.execute("""
        CREATE TABLE mapping_partnerships (
            partner_id uuid PRIMARY KEY, vendor_opted_in_at timestamptz,
            partner_opted_in_at timestamptz, vendor_sharing jsonb NOT NULL,
            partner_sharing jsonb NOT NULL, mapped_at timestamptz, version integer NOT NULL,
            updated_at timestamptz NOT NULL)""")
    op.execute("""
        CREATE TABLE account_overlaps (
            id uuid PRIMARY KEY,
            vendor_account_id uuid NOT NULL REFERENCES mapped_accounts (id) ON DELETE CASCADE,
            partner_account_id uuid NOT NULL REFERENCES mapped_accounts (id) ON DELETE CASCADE,
            partner_id uuid NOT NULL, score double precision NOT NULL,
            basis varchar(40) NOT NULL,
            CONSTRAINT uq_account_overlaps_vendor_account_id
                UNIQUE (vendor_account_id, partner_account_id))""")
    op.execute("CREATE INDEX ix_account_overlaps_partner_account_id ON account_overlaps "
               "(partner_account_id)")
    op.execute("CREATE INDEX ix_account_overlaps_partner_id_id ON account_overlaps "
               "(partner_id, id)")


def downgrade() -> None:
    op.execute("DROP TABLE account_overlaps")
    op.execute("DROP TABLE mapping_partnerships")
    op.execute("DROP TABLE mapped_accounts")
