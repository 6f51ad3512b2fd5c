"""Where claims' proof-of-performance files are kept.

Two stores: PostgreSQL (the file in its ``mdf_proof_files`` row, the default) and an
S3-compatible object store (``PRM_INCENTIVES_PROOF_STORE=s3``). The row, with the name, media
type, size, SHA-256, store and object key, is in PostgreSQL in both cases, so listing a claim's
files never touches the store.

An object is written before the claim's transaction commits, under a key made of a new UUIDv7
(``<prefix>mdf-proofs/<proof id>``): if the transaction then fails, the object is left without
a row. ``sweep_orphans`` (a job of the worker) deletes such objects once they are older than
any request can last; since the ids sort by time, it lists only the recent ones.

A file is read from the store its row names (not the configured one) and is checked against
its SHA-256 as it streams: the last chunk is held back until the digest matches, so a file
changed in the store never reaches a client whole (the connection is cut short instead).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_incentives.config import Settings
from prm_platform.problems import ServiceUnavailable
from prm_platform.scheduler import Job

log = logging.getLogger("prm.incentives.proofs")

# Seconds a client is told to wait after the store failed (RFC 9110 Retry-After).
RETRY_AFTER_SECONDS = 30
CHUNK_BYTES = 64 * 1024
KEY_FOLDER = "mdf-proofs/"


class ProofStoreUnavailable(ServiceUnavailable):
    """The store could not be reached or refused the call: a 503 the client may retry."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class ObjectTooLarge(Exception):
    """An object in the store is larger than any proof file may be."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object holds {size} bytes")
        self.size = size


class ProofIntegrityError(Exception):
    """A stored file no longer matches the SHA-256 recorded when it was uploaded."""


@dataclass(frozen=True)
class Placed:
    """What the ``mdf_proof_files`` row records of where a file went."""

    store: str
    object_key: str | None
    content: bytes | None


class ProofStore(Protocol):
    name: str

    async def put(self, proof_id: uuid.UUID, content: bytes, content_type: str,
                  sha256: str) -> Placed: ...

    async def open(self, row: Any) -> AsyncIterator[bytes]:
        """The file's bytes in chunks; raises ``ProofStoreUnavailable`` before the first
        chunk if the store cannot serve it."""
        ...


class PostgresProofStore:
    """The file is a column of its own row, written in the claim's transaction."""

    name = "postgres"

    async def put(self, proof_id: uuid.UUID, content: bytes, content_type: str,
                  sha256: str) -> Placed:
        return Placed(store=self.name, object_key=None, content=content)

    async def open(self, row: Any) -> AsyncIterator[bytes]:
        content = bytes(row.content)

        async def chunks() -> AsyncIterator[bytes]:
            yield content
        return chunks()


def _is_outage(exc: BaseException) -> bool:
    # aiobotocore wraps connection failures in botocore's errors; OSError and TimeoutError
    # cover the rest of the transport.
    return isinstance(exc, BotoCoreError | ClientError | OSError | TimeoutError)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


class S3ProofStore:
    """An S3-compatible bucket, through one aiobotocore client opened on first use."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        assert settings.proof_s3_bucket, "a bucket is required"  # checked by Settings
        self.bucket = settings.proof_s3_bucket
        self.prefix = settings.proof_s3_key_prefix
        self._timeout = settings.proof_s3_timeout_seconds
        style = settings.proof_s3_addressing_style or (
            "path" if settings.proof_s3_endpoint_url else "virtual")
        secret = settings.proof_s3_secret_access_key
        self._client_args: dict[str, Any] = {
            "endpoint_url": settings.proof_s3_endpoint_url,
            "region_name": settings.proof_s3_region,
            "aws_access_key_id": settings.proof_s3_access_key_id,
            "aws_secret_access_key": secret.get_secret_value() if secret else None,
            "config": AioConfig(
                connect_timeout=self._timeout, read_timeout=self._timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": style},
                # Content-MD5 rather than the newer default checksums, which not every
                # S3-compatible server accepts; the SHA-256 is ours to check on reading.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required"),
        }
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        # Presigned URLs name the endpoint clients reach: signed by a client of its own when
        # that is not the service's (signing needs no connection).
        presign_url = settings.proof_s3_presign_endpoint_url
        self._presign_args = None if presign_url in (None, settings.proof_s3_endpoint_url) \
            else {**self._client_args, "endpoint_url": presign_url}
        self._presigner: Any = None

    def key(self, proof_id: uuid.UUID) -> str:
        return f"{self.prefix}{KEY_FOLDER}{proof_id}"

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client("s3", **self._client_args))
                self._stack = stack
            return self._client

    async def _signer(self) -> Any:
        if self._presign_args is None:
            return await self._s3()
        async with self._lock:
            if self._presigner is None:
                stack = self._stack or contextlib.AsyncExitStack()
                self._presigner = await stack.enter_async_context(
                    get_session().create_client("s3", **self._presign_args))
                self._stack = stack
            return self._presigner

    async def close(self) -> None:
        async with self._lock:
            if self._stack is not None:
                await self._stack.aclose()
            self._client = self._presigner = self._stack = None

    @contextlib.asynccontextmanager
    async def _call(self, what: str) -> AsyncIterator[None]:
        """Turns the store's failures into a 503 naming them, within the time bound."""
        try:
            async with asyncio.timeout(self._timeout * 3):
                yield
        except ProofStoreUnavailable:
            raise
        except Exception as exc:
            if not _is_outage(exc):
                raise
            log.warning("proof store: %s failed: %r", what, exc)
            raise ProofStoreUnavailable(
                f"the proof file store is unavailable ({what}: {_error_code(exc)})") from None

    async def put(self, proof_id: uuid.UUID, content: bytes, content_type: str,
                  sha256: str) -> Placed:
        key = self.key(proof_id)
        async with self._call("upload"):
            s3 = await self._s3()
            await s3.put_object(
                Bucket=self.bucket, Key=key, Body=content, ContentType=content_type,
                ContentMD5=base64.b64encode(hashlib.md5(content).digest()).decode(),
                Metadata={"sha256": sha256})
        return Placed(store=self.name, object_key=key, content=None)

    async def open(self, row: Any) -> AsyncIterator[bytes]:
        async with self._call("download"):
            s3 = await self._s3()
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=row.object_key)
            except ClientError as exc:
                if _error_code(exc) in ("NoSuchKey", "404"):
                    log.error("proof file %s: object %s is missing from bucket %s", row.id,
                              row.object_key, self.bucket)
                    raise ProofStoreUnavailable(
                        "the proof file's object is missing from the store") from None
                raise
        body = answer["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            async with body:
                async for chunk in body.iter_chunks(CHUNK_BYTES):
                    yield chunk
        return chunks()

    async def presign_put(self, proof_id: uuid.UUID, content_type: str, seconds: int) -> str:
        """A URL that lets its holder PUT the file's object, with this Content-Type, for
        ``seconds``; what arrives is checked by ``fetch`` before it counts."""
        async with self._call("presigning"):
            s3 = await self._signer()
            url: str = await s3.generate_presigned_url("put_object", Params={
                "Bucket": self.bucket, "Key": self.key(proof_id), "ContentType": content_type},
                ExpiresIn=seconds)
        return url

    async def fetch(self, key: str, limit: int) -> bytes | None:
        """The object's bytes, or None if there is none. An object larger than ``limit`` is
        not read: ``ObjectTooLarge`` says its size."""
        async with self._call("download"):
            s3 = await self._s3()
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            async with answer["Body"] as body:
                size = int(answer.get("ContentLength", 0))
                if size > limit:
                    raise ObjectTooLarge(size)
                content = bytearray()
                async for chunk in body.iter_chunks(CHUNK_BYTES):
                    content.extend(chunk)
                    if len(content) > limit:
                        raise ObjectTooLarge(len(content))
        return bytes(content)

    async def delete_one(self, key: str) -> None:
        async with self._call("deletion"):
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.bucket, Key=key)

    async def keys_after(self, start_after: str) -> tuple[list[str], bool]:
        """Up to 1,000 keys of proof objects sorting after ``start_after``, and whether more
        follow."""
        async with self._call("listing"):
            s3 = await self._s3()
            answer = await s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + KEY_FOLDER,
                                              StartAfter=start_after, MaxKeys=1000)
        return [item["Key"] for item in answer.get("Contents", [])], bool(answer.get(
            "IsTruncated"))

    async def delete(self, keys: list[str]) -> None:
        async with self._call("deletion"):
            s3 = await self._s3()
            for start in range(0, len(keys), 1000):
                answer = await s3.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": key} for key in keys[start:start + 1000]],
                    "Quiet": True})
                if answer.get("Errors"):
                    log.warning("proof store: %d orphans not deleted, first: %r",
                                len(answer["Errors"]), answer["Errors"][0])


# What an ASCII fallback name keeps as it is: letters, digits and punctuation that needs no
# quoting in a quoted-string and means nothing to a file system or a shell.
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+,=-]")
# RFC 8187 attr-char, less ALPHA, DIGIT and what urllib.parse.quote always leaves (_ . - ~).
_ATTR_CHARS = "!#$&+^`|"


def _ascii(text_: str) -> str:
    # Letters with accents keep their base letter (é -> e); anything else unsafe becomes _.
    folded = "".join(c for c in unicodedata.normalize("NFKD", text_)
                     if not unicodedata.combining(c))
    return re.sub(r"_+", "_", _FALLBACK_UNSAFE.sub("_", folded))


def content_disposition(filename: str, proof_id: uuid.UUID) -> str:
    """``attachment`` with the name twice (RFC 6266): ``filename*`` carries it exactly, in
    UTF-8 and percent-encoded (RFC 8187), so that any script downloads intact; ``filename`` is
    an ASCII fallback for the clients that do not read ``filename*``. Whatever the stored name
    holds (a row older than the checks on upload too), the header is printable ASCII."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    stem = _ascii(stem).strip(" ._")
    extension = _ascii(extension).strip(" ._")
    if not any(c.isalnum() for c in stem):
        stem = f"proof-{proof_id}"
    fallback = f"{stem}.{extension}" if extension and len(extension) <= 16 else stem
    encoded = urllib.parse.quote(filename, safe=_ATTR_CHARS, encoding="utf-8")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _id_floor(moment: dt.datetime) -> str:
    """The start of the UUIDv7 text of ``moment``'s millisecond: every id made at or after
    it sorts after this string (the first 48 bits of a UUIDv7 are its Unix time in ms)."""
    hex_ms = f"{int(moment.timestamp() * 1000):012x}"
    return f"{hex_ms[:8]}-{hex_ms[8:]}"


def _id_time(proof_id: uuid.UUID) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(proof_id.hex[:12], 16) / 1000, dt.UTC)


@dataclass
class ProofStores:
    """The store new files go to, and every store a row may name."""

    writer: ProofStore
    readers: dict[str, ProofStore]
    s3: S3ProofStore | None

    async def open(self, row: Any) -> AsyncIterator[bytes]:
        store = self.readers.get(row.store)
        if store is None:
            raise ProofStoreUnavailable(
                f"proof files in the {row.store} store cannot be read: it is not configured")
        return verified(await store.open(row), row.sha256, row.id)

    async def close(self) -> None:
        if self.s3 is not None:
            await self.s3.close()


def proof_stores(settings: Settings) -> ProofStores:
    postgres = PostgresProofStore()
    # Files already in S3 stay readable after switching back to PostgreSQL, while the bucket
    # is still configured.
    s3 = S3ProofStore(settings) if settings.proof_s3_bucket else None
    readers: dict[str, ProofStore] = {postgres.name: postgres}
    if s3 is not None:
        readers[s3.name] = s3
    writer: ProofStore = s3 if settings.proof_store == "s3" and s3 is not None else postgres
    return ProofStores(writer=writer, readers=readers, s3=s3)


async def verified(chunks: AsyncIterator[bytes], sha256: str, proof_id: uuid.UUID
                   ) -> AsyncIterator[bytes]:
    """Passes the chunks on, holding the last one back until the whole file's digest is
    known: on a mismatch it raises instead, and the client gets a short answer (less than the
    Content-Length) rather than a wrong file."""
    digest = hashlib.sha256()
    held: bytes | None = None
    async for chunk in chunks:
        if not chunk:
            continue
        digest.update(chunk)
        if held is not None:
            yield held
        held = chunk
    if digest.hexdigest() != sha256:
        log.error("proof file %s does not match its SHA-256 %s (got %s)", proof_id, sha256,
                  digest.hexdigest())
        raise ProofIntegrityError(f"proof file {proof_id} does not match its SHA-256")
    if held is not None:
        yield held


async def sweep_orphans(session: AsyncSession, *, store: S3ProofStore,
                        grace: dt.timedelta, lookback: dt.timedelta) -> int:
    """Deletes the objects written between ``lookback`` and ``grace`` ago that no proof row
    names: files of claims whose transaction failed after the upload. ``grace`` is longer than
    any request lasts, so an upload whose claim may still commit is never taken."""
    now = dt.datetime.now(dt.UTC)
    until = now - grace
    folder = store.prefix + KEY_FOLDER
    start_after = folder + _id_floor(now - lookback)
    deleted = 0
    more = True
    while more:
        keys, more = await store.keys_after(start_after)
        if not keys:
            break
        start_after = keys[-1]
        ids: dict[uuid.UUID, str] = {}
        for key in keys:
            try:
                proof_id = uuid.UUID(key.removeprefix(folder))
            except ValueError:
                continue  # not one of ours
            if _id_time(proof_id) >= until:
                more = False  # the rest is younger still
                break
            ids[proof_id] = key
        if ids:
            known = set((await session.execute(text(
                "SELECT id FROM mdf_proof_files WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": list(ids)})).scalars())
            orphans = [key for proof_id, key in ids.items() if proof_id not in known]
            if orphans:
                await store.delete(orphans)
                log.info("proof store: deleted %d orphaned objects", len(orphans))
                deleted += len(orphans)
    return deleted


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
                functools.partial(sweep_orphans, store=S3ProofStore(settings),
                                  grace=ORPHAN_GRACE, lookback=ORPHAN_LOOKBACK))]
