"""The library's files: what a file is (its content type sniffed from its bytes, never taken
from the client), and where it is kept (``prm_platform.objects``, folder ``enablement/``)."""

from __future__ import annotations

import io
import zipfile

from prm_partners.config import Settings
from prm_platform.objects import ObjectStoreConfig, ObjectStores, object_stores

MAX_FILE_BYTES = 25 * 1024 * 1024
# The prefix's body limit: a file of the largest size, with room to spare.
MAX_BODY_BYTES = MAX_FILE_BYTES + 64 * 1024
KEY_FOLDER = "enablement/"
TABLE = "enablement_files"

FILE_TYPES = ("application/pdf", "image/png", "image/jpeg", "video/mp4", "text/plain",
              "text/csv",
              "application/vnd.openxmlformats-officedocument.presentationml.presentation",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_OFFICE = {"ppt/": FILE_TYPES[6], "word/": FILE_TYPES[7], "xl/": FILE_TYPES[8]}


def sniff(content: bytes, filename: str, declared: str | None) -> str | None:
    """The file's content type as its bytes show it, or None if it is none of ``FILE_TYPES``.
    Plain text is CSV when its name or declared type says so."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(content) >= 12 and content[4:8] == b"ftyp":
        return "video/mp4"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" not in names:
            return None
        for folder, media_type in _OFFICE.items():
            if any(name.startswith(folder) for name in names):
                return media_type
        return None
    if not content or b"\x00" in content:
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    declared_type = (declared or "").partition(";")[0].strip().lower()
    return "text/csv" if filename.lower().endswith(".csv") or declared_type == "text/csv" \
        else "text/plain"


def store_config(settings: Settings) -> ObjectStoreConfig:
    return ObjectStoreConfig(
        folder=KEY_FOLDER, label="enablement file", store=settings.enablement_store,
        bucket=settings.enablement_s3_bucket, endpoint_url=settings.enablement_s3_endpoint_url,
        region=settings.enablement_s3_region,
        access_key_id=settings.enablement_s3_access_key_id,
        secret_access_key=settings.enablement_s3_secret_access_key,
        key_prefix=settings.enablement_s3_key_prefix,
        addressing_style=settings.enablement_s3_addressing_style,
        timeout_seconds=settings.enablement_s3_timeout_seconds)


def stores(settings: Settings) -> ObjectStores:
    return object_stores(store_config(settings))
