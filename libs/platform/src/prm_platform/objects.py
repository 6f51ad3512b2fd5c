"""Files kept for a service: in PostgreSQL (the bytes in the file's own row, the default) or in
an S3-compatible object store.

One piece of code serves every use; a use names itself by its ``ObjectStoreConfig``: the folder
its objects go to under the configured prefix (``mdf-proofs/``, ``enablement/``), and the words
its errors speak of ("proof file"). The row that records a file (name, media type, size,
SHA-256, store, object key) is the using service's own, in PostgreSQL in both cases, so listing
files never touches the store.

An object is written before the writer's transaction commits, under a key made of a new UUIDv7
(``<prefix><folder><file id>``): if the transaction then fails, the object is left without a
row. ``sweep_orphans`` (a job of the worker) deletes such objects once they are older than any
request can last; since the ids sort by time, it lists only the recent ones.

A file is read from the store its row names (not the configured one) and is checked against
its SHA-256 as it streams: the last chunk is held back until the digest matches, so a file
changed in the store never reaches a client whole (the connection is cut short instead).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import logging
import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
)
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_platform.problems import ServiceUnavailable

log = logging.getLogger("prm.objects")


@dataclass(frozen=True)
class ObjectStoreConfig:
    """One use of the store, from the using service's settings: where new files go
    (``store``), the bucket if any, the folder of this use's objects and what its errors call
    a file."""

    folder: str  # "mdf-proofs/": objects are "<key_prefix><folder><file id>"
    label: str = "file"  # "proof file": "the proof file store is unavailable"
    store: Literal["postgres", "s3"] = "postgres"
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    key_prefix: str = ""
    addressing_style: Literal["path", "virtual"] | None = None
    timeout_seconds: float = 10.0
    presign_endpoint_url: str | None = None

# Seconds a client is told to wait after the store failed (RFC 9110 Retry-After).
RETRY_AFTER_SECONDS = 30
CHUNK_BYTES = 64 * 1024


class ObjectStoreUnavailable(ServiceUnavailable):
    """The store could not be reached or refused the call: a 503 the client may retry."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class ObjectTooLarge(Exception):
    """An object in the store is larger than the caller may take."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object holds {size} bytes")
        self.size = size


class ObjectIntegrityError(Exception):
    """A stored file no longer matches the SHA-256 recorded when it was uploaded."""


@dataclass(frozen=True)
class Placed:
    """What the file's row records of where a file went."""

    store: str
    object_key: str | None
    content: bytes | None


class ObjectStore(Protocol):
    name: str

    async def put(self, object_id: uuid.UUID, content: bytes, content_type: str,
                  sha256: str) -> Placed: ...

    async def open(self, row: Any) -> AsyncIterator[bytes]:
        """The file's bytes in chunks; raises ``ObjectStoreUnavailable`` before the first
        chunk if the store cannot serve it."""
        ...


class PostgresObjectStore:
    """The file is a column of its own row, written in the writer's transaction."""

    name = "postgres"

    async def put(self, object_id: uuid.UUID, content: bytes, content_type: str,
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


class S3ObjectStore:
    """An S3-compatible bucket, through one aiobotocore client opened on first use."""

    name = "s3"

    def __init__(self, config: ObjectStoreConfig) -> None:
        assert config.bucket, "a bucket is required"  # checked by the service's Settings
        self.bucket = config.bucket
        self.prefix = config.key_prefix
        self.folder = config.folder
        self.label = config.label
        self._timeout = config.timeout_seconds
        style = config.addressing_style or ("path" if config.endpoint_url else "virtual")
        secret = config.secret_access_key
        self._client_args: dict[str, Any] = {
            "endpoint_url": config.endpoint_url,
            "region_name": config.region,
            "aws_access_key_id": config.access_key_id,
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
        presign_url = config.presign_endpoint_url
        self._presign_args = None if presign_url in (None, config.endpoint_url) \
            else {**self._client_args, "endpoint_url": presign_url}
        self._presigner: Any = None

    def key(self, object_id: uuid.UUID) -> str:
        return f"{self.prefix}{self.folder}{object_id}"

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
        except ObjectStoreUnavailable:
            raise
        except Exception as exc:
            if not _is_outage(exc):
                raise
            log.warning("%s store: %s failed: %r", self.label, what, exc)
            raise ObjectStoreUnavailable(
                f"the {self.label} store is unavailable ({what}: {_error_code(exc)})") from None

    async def put(self, object_id: uuid.UUID, content: bytes, content_type: str,
                  sha256: str) -> Placed:
        key = self.key(object_id)
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
                    log.error("%s %s: object %s is missing from bucket %s", self.label, row.id,
                              row.object_key, self.bucket)
                    raise ObjectStoreUnavailable(
                        f"the {self.label}'s object is missing from the store") from None
                raise
        body = answer["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            async with body:
                async for chunk in body.iter_chunks(CHUNK_BYTES):
                    yield chunk
        return chunks()

    async def presign_put(self, object_id: uuid.UUID, content_type: str, seconds: int) -> str:
        """A URL that lets its holder PUT the file's object, with this Content-Type, for
        ``seconds``; what arrives is checked by ``fetch`` before it counts."""
        async with self._call("presigning"):
            s3 = await self._signer()
            url: str = await s3.generate_presigned_url("put_object", Params={
                "Bucket": self.bucket, "Key": self.key(object_id), "ContentType": content_type},
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
        """Up to 1,000 keys of this use's objects sorting after ``start_after``, and whether more
        follow."""
        async with self._call("listing"):
            s3 = await self._s3()
            answer = await s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + self.folder,
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
                    log.warning("%s store: %d orphans not deleted, first: %r", self.label,
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


def content_disposition(filename: str, object_id: uuid.UUID, stem_prefix: str = "file") -> str:
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
        stem = f"{stem_prefix}-{object_id}"
    fallback = f"{stem}.{extension}" if extension and len(extension) <= 16 else stem
    encoded = urllib.parse.quote(filename, safe=_ATTR_CHARS, encoding="utf-8")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _id_floor(moment: dt.datetime) -> str:
    """The start of the UUIDv7 text of ``moment``'s millisecond: every id made at or after
    it sorts after this string (the first 48 bits of a UUIDv7 are its Unix time in ms)."""
    hex_ms = f"{int(moment.timestamp() * 1000):012x}"
    return f"{hex_ms[:8]}-{hex_ms[8:]}"


def _id_time(object_id: uuid.UUID) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(object_id.hex[:12], 16) / 1000, dt.UTC)


@dataclass
class ObjectStores:
    """The store new files go to, and every store a row may name."""

    writer: ObjectStore
    readers: dict[str, ObjectStore]
    s3: S3ObjectStore | None
    label: str = "file"

    async def open(self, row: Any) -> AsyncIterator[bytes]:
        store = self.readers.get(row.store)
        if store is None:
            raise ObjectStoreUnavailable(
                f"{self.label}s in the {row.store} store cannot be read: it is not configured")
        return verified(await store.open(row), row.sha256, row.id, self.label)

    async def close(self) -> None:
        if self.s3 is not None:
            await self.s3.close()


def object_stores(config: ObjectStoreConfig) -> ObjectStores:
    postgres = PostgresObjectStore()
    # Files already in S3 stay readable after switching back to PostgreSQL, while the bucket
    # is still configured.
    s3 = S3ObjectStore(config) if config.bucket else None
    readers: dict[str, ObjectStore] = {postgres.name: postgres}
    if s3 is not None:
        readers[s3.name] = s3
    writer: ObjectStore = s3 if config.store == "s3" and s3 is not None else postgres
    return ObjectStores(writer=writer, readers=readers, s3=s3, label=config.label)


async def verified(chunks: AsyncIterator[bytes], sha256: str, object_id: uuid.UUID,
                   label: str = "file") -> AsyncIterator[bytes]:
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
        log.error("%s %s does not match its SHA-256 %s (got %s)", label, object_id, sha256,
                  digest.hexdigest())
        raise ObjectIntegrityError(f"{label} {object_id} does not match its SHA-256")
    if held is not None:
        yield held


async def sweep_orphans(session: AsyncSession, *, store: S3ObjectStore, table: str,
                        grace: dt.timedelta, lookback: dt.timedelta) -> int:
    """Deletes the objects of ``store``'s folder written between ``lookback`` and ``grace`` ago
    whose id no row of ``table`` holds: files of writes whose transaction failed after the
    upload. ``grace`` is longer than any request lasts, so an upload whose row may still commit
    is never taken."""
    now = dt.datetime.now(dt.UTC)
    until = now - grace
    folder = store.prefix + store.folder
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
                object_id = uuid.UUID(key.removeprefix(folder))
            except ValueError:
                continue  # not one of ours
            if _id_time(object_id) >= until:
                more = False  # the rest is younger still
                break
            ids[object_id] = key
        if ids:
            known = set((await session.execute(text(
                f"SELECT id FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": list(ids)})).scalars())
            orphans = [key for object_id, key in ids.items() if object_id not in known]
            if orphans:
                await store.delete(orphans)
                log.info("%s store: deleted %d orphaned objects", store.label, len(orphans))
                deleted += len(orphans)
    return deleted
