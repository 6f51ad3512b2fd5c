"""Proof files may be uploaded on their own (``POST /v1/mdf/proofs``) and named by a claim
later: a file then belongs to its partner's org (``partner_id``) and to no claim until one
names it, and one that no claim names expires. Existing files are their claim's partner's.
``partner_id`` stays nullable for rows an older release writes with their claim during a
rolling update (its claim says whose they are); a file is the claim's or the org's, never
neither. With an S3-compatible store a client may send the file straight to the bucket with a
presigned URL: its row is ``pending`` (the size and SHA-256 announced) until the service has
read the object back and found them, then ``stored`` like any other; rows written before, or
by an older release, are ``stored``.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE mdf_proof_files ADD COLUMN partner_id uuid, "
               "ADD COLUMN status varchar(10) NOT NULL DEFAULT 'stored', "
               "ADD CONSTRAINT ck_mdf_proof_files_status CHECK (status IN ('pending', 'stored')), "
               "ALTER COLUMN claim_id DROP NOT NULL")
    op.execute("UPDATE mdf_proof_files f SET partner_id = c.partner_id FROM mdf_claims c "
               "WHERE c.id = f.claim_id")
    op.execute("ALTER TABLE mdf_proof_files ADD CONSTRAINT ck_mdf_proof_files_owned "
               "CHECK (claim_id IS NOT NULL OR partner_id IS NOT NULL)")
    op.execute("CREATE INDEX ix_mdf_proof_files_unclaimed ON mdf_proof_files (created_at) "
               "WHERE claim_id IS NULL")


def downgrade() -> None:
    # Uploads no claim names have nowhere to go in the older schema: they are dropped (their
    # objects in an S3-compatible store are then swept as orphans).
    op.execute("DELETE FROM mdf_proof_files WHERE claim_id IS NULL")
    op.execute("DROP INDEX ix_mdf_proof_files_unclaimed")
    op.execute("ALTER TABLE mdf_proof_files DROP CONSTRAINT ck_mdf_proof_files_owned, "
               "ALTER COLUMN claim_id SET NOT NULL, DROP COLUMN partner_id, DROP COLUMN status")
