"""Where claims' proof-of-performance files are kept: the platform's object store
(``prm_platform.objects``) as the incentives service's settings configure it.

Two stores: PostgreSQL (the file in its ``mdf_proof_files`` row, the default) and an
S3-compatible object store (``PRM_INCENTIVES_PROOF_STORE=s3``), objects under
``<prefix>mdf-proofs/<proof id>``. The row, with the name, media type, size, SHA-256, store and
object key, is in PostgreSQL in both cases, so listing a claim's files never touches the store.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm_incentives.config import Settings
from prm_platform import objects
from prm_platform.objects import (
    RETRY_AFTER_SECONDS,
    ObjectIntegrityError,
    ObjectStore,
    ObjectStoreConfig,
    ObjectStores,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    PostgresObjectStore,
    S3ObjectStore,
    verified,
)
from prm_platform.scheduler import Job

KEY_FOLDER = "mdf-proofs/"
TABLE = "mdf_proof_files"

# The names this service has always used for the platform's store.
ProofStoreUnavailable = ObjectStoreUnavailable
ProofIntegrityError = ObjectIntegrityError
ProofStore = ObjectStore
PostgresProofStore = PostgresObjectStore
S3ProofStore = S3ObjectStore
ProofStores = ObjectStores

__all__ = [
    "KEY_FOLDER", "RETRY_AFTER_SECONDS", "ObjectTooLarge", "PostgresProofStore",
    "ProofIntegrityError", "ProofStore", "ProofStoreUnavailable", "ProofStores",
    "S3ProofStore", "content_disposition", "proof_jobs", "proof_store_config", "proof_stores",
    "sweep_orphans", "verified",
]


def proof_store_config(settings: Settings) -> ObjectStoreConfig:
    return ObjectStoreConfig(
        folder=KEY_FOLDER, label="proof file", store=settings.proof_store,
        bucket=settings.proof_s3_bucket, endpoint_url=settings.proof_s3_endpoint_url,
        region=settings.proof_s3_region, access_key_id=settings.proof_s3_access_key_id,
        secret_access_key=settings.proof_s3_secret_access_key,
        key_prefix=settings.proof_s3_key_prefix,
        addressing_style=settings.proof_s3_addressing_style,
        timeout_seconds=settings.proof_s3_timeout_seconds,
        presign_endpoint_url=settings.proof_s3_presign_endpoint_url)


def proof_stores(settings: Settings) -> ProofStores:
    return objects.object_stores(proof_store_config(settings))


def content_disposition(filename: str, proof_id: uuid.UUID) -> str:
    return objects.content_disposition(filename, proof_id, "proof")


async def sweep_orphans(session: AsyncSession, *, store: S3ProofStore,
                        grace: dt.timedelta, lookback: dt.timedelta) -> int:
    """Deletes the proof objects no ``mdf_proof_files`` row names (``objects.sweep_orphans``)."""
    return await objects.sweep_orphans(session, store=store, table=TABLE, grace=grace,
                                       lookback=lookback)


# An upload whose claim has not committed within this is taken for failed: far longer than any
# request lasts (the API's timeouts are seconds).
ORPHAN_GRACE = dt.timedelta(hours=1)
# How far back each sweep looks; an orphan is looked at by every hourly run within it, so a
# worker stopped for less than this still finds every one.
ORPHAN_LOOKBACK = dt.timedelta(days=2)


def proof_jobs(settings: Settings) -> list[Job]:
    """The worker's sweep of orphaned objects, when an S3-compatible store is configured."""
    if not settings.proof_s3_bucket:
        return []
    return [Job("sweep-orphaned-proof-objects", dt.timedelta(hours=1),
                functools.partial(sweep_orphans, store=S3ProofStore(proof_store_config(settings)),
                                  grace=ORPHAN_GRACE, lookback=ORPHAN_LOOKBACK))]
