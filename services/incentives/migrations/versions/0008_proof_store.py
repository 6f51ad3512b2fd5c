"""Proof files may live in an S3-compatible store: each row says which store holds the file
(``postgres``: its ``content`` column; ``s3``: the object ``object_key``), and keeps its
name, type, size and SHA-256 either way. Existing rows are PostgreSQL's; the column's default
keeps a writer that does not name the store (an older release during a rolling update) on
PostgreSQL, where it puts the content.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE mdf_proof_files "
               "ADD COLUMN store varchar(20) NOT NULL DEFAULT 'postgres', "
               "ADD COLUMN object_key varchar(1024), "
               "ALTER COLUMN content DROP NOT NULL, "
               "DROP CONSTRAINT ck_mdf_proof_files_size, "
               "ADD CONSTRAINT ck_mdf_proof_files_size CHECK (size >= 0), "
               "ADD CONSTRAINT ck_mdf_proof_files_stored CHECK ("
               "(store = 'postgres' AND content IS NOT NULL AND object_key IS NULL "
               "AND size = octet_length(content)) OR "
               "(store = 's3' AND content IS NULL AND object_key IS NOT NULL))")


def downgrade() -> None:
    # Refused while files are kept elsewhere: their content is not here to restore.
    op.execute("ALTER TABLE mdf_proof_files DROP CONSTRAINT ck_mdf_proof_files_stored, "
               "DROP CONSTRAINT ck_mdf_proof_files_size, "
               "ALTER COLUMN content SET NOT NULL, "
               "ADD CONSTRAINT ck_mdf_proof_files_size CHECK (size = octet_length(content)), "
               "DROP COLUMN object_key, DROP COLUMN store")
