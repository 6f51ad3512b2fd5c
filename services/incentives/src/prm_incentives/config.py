from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from prm_incentives.mdf.schemas import MAX_UPLOAD_BODY_BYTES
from prm_platform.settings import ServiceSettings

SCHEMA = "incentives"
EVENT_SOURCE = "/prm/incentives"


class Settings(ServiceSettings):
    """Read from ``PRM_INCENTIVES_*``, falling back to ``PRM_*``."""

    model_config = SettingsConfigDict(env_prefix="PRM_INCENTIVES_", extra="ignore")

    # A fund request not decided within this many days of its submission expires, and its
    # reservation goes back to the allocation (``PRM_INCENTIVES_REQUEST_DECISION_DAYS``).
    request_decision_days: int = Field(default=30, ge=1, le=365)
    # An approved request must be claimed within this many days after its activity ended.
    claim_window_days: int = Field(default=60, ge=1, le=730)
    # A volume programme's partners are trued up this many days after its period ended, so
    # that wins recorded late are in (``PRM_INCENTIVES_TRUE_UP_DELAY_DAYS``).
    true_up_delay_days: int = Field(default=7, ge=0, le=90)

    # Where claims' proof files are kept: "postgres" (in the service's schema, the default) or
    # "s3" (an S3-compatible store; the metadata and SHA-256 stay in PostgreSQL either way).
    # A file is always read from the store its row names, so switching keeps old files readable
    # as long as the bucket settings stay.
    proof_store: Literal["postgres", "s3"] = "postgres"
    proof_s3_bucket: str | None = None
    # Leave unset for AWS; MinIO, Ceph, R2 and the like need their URL.
    proof_s3_endpoint_url: str | None = None
    proof_s3_region: str = "us-east-1"
    # Unset: the default credential chain (AWS_* variables, profile, instance or pod role).
    proof_s3_access_key_id: str | None = None
    proof_s3_secret_access_key: SecretStr | None = None
    # Prepended to every object key, e.g. "prm/"; objects are "<prefix>mdf-proofs/<proof id>".
    proof_s3_key_prefix: str = Field(default="", max_length=200)
    # Unset: path style with an endpoint URL (what S3-compatible servers expect), virtual-host
    # style on AWS.
    proof_s3_addressing_style: Literal["path", "virtual"] | None = None
    # Bound on one call to the store (connect and read), so an outage is a quick 503.
    proof_s3_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Presigned uploads (POST /v1/mdf/proofs/presigned) send the file straight to the bucket:
    # the URL is signed for this endpoint (the one clients reach, if not the service's own
    # PROOF_S3_ENDPOINT_URL, e.g. a public MinIO address) and valid for so many seconds.
    proof_s3_presign_endpoint_url: str | None = None
    proof_presign_seconds: int = Field(default=900, ge=60, le=3600)
    # A proof file uploaded on its own (POST /v1/mdf/proofs) that no claim names within this
    # many hours expires: a claim can no longer name it, and the worker deletes it. At most a
    # day, so that its object in an S3-compatible store is still within the orphan sweep's
    # look-back once its row is gone.
    proof_upload_ttl_hours: int = Field(default=24, ge=1, le=24)

    @model_validator(mode="after")
    def _proof_upload_fits(self) -> Self:
        # A proof file of the largest size must fit in an upload's body, or the contract's
        # promise could not be kept (the edges' limits are larger still: docs/incentives.md).
        if self.max_body_bytes < MAX_UPLOAD_BODY_BYTES:
            raise ValueError(f"PRM_MAX_BODY_BYTES ({self.max_body_bytes}) must be at least "
                             f"{MAX_UPLOAD_BODY_BYTES}: a proof file upload takes that much")
        return self

    @model_validator(mode="after")
    def _proof_store_complete(self) -> Self:
        if self.proof_store == "s3" and not self.proof_s3_bucket:
            raise ValueError("PRM_INCENTIVES_PROOF_S3_BUCKET is required with "
                             "PRM_INCENTIVES_PROOF_STORE=s3")
        if (self.proof_s3_access_key_id is None) != (self.proof_s3_secret_access_key is None):
            raise ValueError("set PRM_INCENTIVES_PROOF_S3_ACCESS_KEY_ID and "
                             "PRM_INCENTIVES_PROOF_S3_SECRET_ACCESS_KEY together")
        return self
