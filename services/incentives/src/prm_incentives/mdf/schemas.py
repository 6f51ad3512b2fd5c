import base64
import binascii
import datetime as dt
import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from prm_incentives.money import PositiveMoney, money
from prm_platform.money import Money
from prm_platform.types import IsoDate

_ID = "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b"
_PARTNER = "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f"



class MdfActivityType(StrEnum):
    """The kind of marketing activity a fund request pays for."""

    event = "event"
    webinar = "webinar"
    digital_campaign = "digital_campaign"
    content = "content"
    training = "training"
    tradeshow = "tradeshow"
    telemarketing = "telemarketing"
    other = "other"


class ProofContentType(StrEnum):
    """What proof of performance may be: documents and pictures, nothing executable."""

    pdf = "application/pdf"
    png = "image/png"
    jpeg = "image/jpeg"
    csv = "text/csv"
    text = "text/plain"


PROOF_TYPES = tuple(t.value for t in ProofContentType)
MAX_PROOF_BYTES = 256 * 1024
MAX_PROOFS = 5
# What an upload's multipart body may hold besides the file: the parts' boundaries and
# headers, the file's name and the partner's id. The service's body limit is at least the sum.
MULTIPART_ALLOWANCE_BYTES = 16 * 1024
MAX_UPLOAD_BODY_BYTES = MAX_PROOF_BYTES + MULTIPART_ALLOWANCE_BYTES
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, examples=["Outside the programme's "
                                                                       "target segments"])]


class FundRequestStatus(StrEnum):
    """Where an MDF fund request is in its lifecycle."""

    submitted = "submitted"
    changes_requested = "changes_requested"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    claimed = "claimed"
    completed = "completed"
    closed = "closed"


class ClaimStatus(StrEnum):
    """Where an MDF claim is: `submitted`, then `approved` or `rejected`."""

    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"


class ProofUploadStatus(StrEnum):
    """`stored` once the service holds an uploaded file; `pending` while a presigned upload
    is not completed."""

    pending = "pending"
    stored = "stored"


def _amount(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else money(minor, currency)


def _partner_name() -> Any:
    return Field(default=None, description="The partner's name, from the partner directory "
                 "this service keeps (null if it does not know the partner yet).")


def _name_of(row: Any, partner_name: str | None) -> str | None:
    return partner_name or getattr(row, "partner_name", None)


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "programme": "emea-growth", "period": "2025-H1",
        "amount": {"amount": "250000.00", "currency": "EUR"},
        "auto_approve_below": {"amount": "1000.00", "currency": "EUR"}}]})

    programme: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
    period: Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,39}$",
                                 description="The budget's period, e.g. 2025, 2025-H1, 2025-Q3")]
    amount: PositiveMoney = Field(description="Funded from the external account at once.")
    auto_approve_below: PositiveMoney | None = Field(default=None, description="Fund requests "
                                                     "for less than this are approved at "
                                                     "submission.")

    @model_validator(mode="after")
    def _one_currency(self) -> "BudgetIn":
        if self.auto_approve_below is not None and (
                self.auto_approve_below.currency != self.amount.currency):
            raise ValueError("auto_approve_below must be in the budget's currency")
        return self


class BudgetOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "programme": "emea-growth", "period": "2025-H1",
        "amount": {"amount": "250000.00", "currency": "EUR"},
        "unallocated": {"amount": "240000.00", "currency": "EUR"},
        "auto_approve_below": {"amount": "1000.00", "currency": "EUR"},
        "pool_account_id": _ID, "version": 1, "created_at": "2025-01-06T09:00:00Z",
        "updated_at": "2025-01-06T09:00:00Z"}]})

    id: uuid.UUID
    programme: str
    period: str
    amount: Money
    unallocated: Money = Field(description="What the pool still holds for allocations.")
    auto_approve_below: Money | None
    pool_account_id: uuid.UUID
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When the budget itself last changed (what "
                                    "its pool holds changes with every allocation: see its "
                                    "ledger account)")

    @classmethod
    def of(cls, row: Any) -> "BudgetOut":
        c = row.currency
        return cls(id=row.id, programme=row.programme, period=row.period,
                   amount=money(row.amount, c), unallocated=money(row.pool_available, c),
                   auto_approve_below=_amount(row.auto_approve_below, c),
                   pool_account_id=row.pool_account_id, version=row.version,
                   created_at=row.created_at, updated_at=row.updated_at)


class AllocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "budget_id": _ID, "partner_id": _PARTNER,
        "amount": {"amount": "10000.00", "currency": "EUR"}}]})

    budget_id: uuid.UUID
    partner_id: uuid.UUID
    amount: PositiveMoney = Field(description="Moved from the budget's pool, in its currency.")


class AllocationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "budget_id": _ID, "partner_id": _PARTNER, "partner_name": "Acme Cloud GmbH",
        "amount": {"amount": "10000.00", "currency": "EUR"},
        "available": {"amount": "7500.00", "currency": "EUR"},
        "reserved": {"amount": "2500.00", "currency": "EUR"},
        "payable": {"amount": "0.00", "currency": "EUR"},
        "allocation_account_id": _ID, "committed_account_id": _ID, "payable_account_id": _ID,
        "version": 1, "created_at": "2025-01-06T09:00:00Z",
        "updated_at": "2025-01-06T09:00:00Z"}]})

    id: uuid.UUID
    budget_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = _partner_name()
    amount: Money = Field(description="What was allocated.")
    available: Money = Field(description="What new fund requests may still reserve.")
    reserved: Money = Field(description="Reserved by requests not claimed yet.")
    payable: Money = Field(description="Approved claims, owed to the partner.")
    allocation_account_id: uuid.UUID
    committed_account_id: uuid.UUID
    payable_account_id: uuid.UUID
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When the allocation itself last changed "
                                    "(what is available, reserved and payable changes with "
                                    "the partner's fund requests and claims)")

    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> "AllocationOut":
        c = row.currency
        return cls(id=row.id, budget_id=row.budget_id, partner_id=row.partner_id,
                   partner_name=_name_of(row, partner_name),
                   amount=money(row.amount, c), available=money(row.available, c),
                   reserved=money(row.reserved, c), payable=money(row.payable, c),
                   allocation_account_id=row.allocation_account_id,
                   committed_account_id=row.committed_account_id,
                   payable_account_id=row.payable_account_id, version=row.version,
                   created_at=row.created_at, updated_at=row.updated_at)


class FundRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "allocation_id": _ID, "activity_type": "webinar",
        "title": "Zero-trust webinar series for mid-market IT leads",
        "description": "Three live sessions with a vendor engineer.",
        "start_date": "2025-03-03", "end_date": "2025-03-31",
        "planned_cost": {"amount": "2500.00", "currency": "EUR"},
        "expected_outcomes": "300 registrations, 40 qualified leads, 5 opportunities",
        "expected_leads": 40}]})

    allocation_id: uuid.UUID
    activity_type: MdfActivityType
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text | None = None
    start_date: IsoDate
    end_date: IsoDate
    planned_cost: PositiveMoney = Field(description="Reserved from the allocation at "
                                        "submission.")
    expected_outcomes: Annotated[str, Field(min_length=1, max_length=2000)]
    expected_leads: Annotated[StrictInt | None, Field(ge=0, le=1_000_000)] = None

    @model_validator(mode="after")
    def _valid(self) -> "FundRequestIn":
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class FundRequestPatch(BaseModel):
    """The partner's answer to a request for changes: what it changes; the request is then
    submitted again."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "planned_cost": {"amount": "2000.00", "currency": "EUR"},
        "expected_outcomes": "300 registrations, 50 qualified leads"}]})

    activity_type: MdfActivityType | None = None
    title: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    description: Text | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    planned_cost: PositiveMoney | None = None
    expected_outcomes: Annotated[str | None, Field(min_length=1, max_length=2000)] = None
    expected_leads: Annotated[StrictInt | None, Field(ge=0, le=1_000_000)] = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Please split the cost between venue and catering."}]})

    reason: Reason


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Fits the Q1 plan."}]})

    reason: Reason | None = None


class FundRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "allocation_id": _ID, "budget_id": _ID, "partner_id": _PARTNER,
        "partner_name": "Acme Cloud GmbH", "activity_type": "webinar",
        "title": "Zero-trust webinar series", "description": None,
        "start_date": "2025-03-03", "end_date": "2025-03-31",
        "planned_cost": {"amount": "2500.00", "currency": "EUR"},
        "expected_outcomes": "300 registrations, 40 qualified leads", "expected_leads": 40,
        "status": "approved", "approved_by": "vendor", "reason": None,
        "reservation_id": _ID, "decision_due_at": "2025-02-05T09:00:00Z",
        "claim_due_on": "2025-05-30", "version": 2, "created_at": "2025-01-06T09:00:00Z",
        "updated_at": "2025-01-07T09:00:00Z"}]})

    id: uuid.UUID
    allocation_id: uuid.UUID
    budget_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = _partner_name()
    activity_type: str
    title: str
    description: str | None = None
    start_date: dt.date
    end_date: dt.date
    planned_cost: Money
    expected_outcomes: str
    expected_leads: int | None
    status: FundRequestStatus
    approved_by: str | None = Field(description="vendor or rule (auto-approval)")
    reason: str | None = Field(default=None, description="The reason given with the last decision")
    reservation_id: uuid.UUID = Field(description="The pending ledger transfer that reserves "
                                      "the planned cost")
    decision_due_at: dt.datetime = Field(description="Undecided by then, the request expires")
    claim_due_on: dt.date | None = Field(description="Once approved: claim by this day, or "
                                         "the request expires")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any, partner_name: str | None = None) -> "FundRequestOut":
        return cls(
            id=row.id, allocation_id=row.allocation_id, budget_id=row.budget_id,
            partner_id=row.partner_id, partner_name=_name_of(row, partner_name),
            activity_type=row.activity_type, title=row.title,
            description=row.description, start_date=row.start_date, end_date=row.end_date,
            planned_cost=money(row.planned_cost, row.currency),
            expected_outcomes=row.expected_outcomes, expected_leads=row.expected_leads,
            status=row.status, approved_by=row.approved_by, reason=row.reason,
            reservation_id=row.reservation_id, decision_due_at=row.decision_due_at,
            claim_due_on=row.claim_due_on, version=row.version, created_at=row.created_at,
            updated_at=row.updated_at)


# Any script, but no control character (C0 with CR, LF and tab, DEL, C1), no line or paragraph
# separator and no path separator: a name is sent back in a header and saved as one file.
FILE_NAME_PATTERN = r"^[^\x00-\x1F\x7F-\x9F/\\\u2028\u2029]+$"
MAX_FILE_NAME_BYTES = 255  # what common file systems take as a name, in UTF-8


_FILE_NAME = re.compile(FILE_NAME_PATTERN)


def _file_name(value: str) -> str:
    if not _FILE_NAME.fullmatch(value):  # not match: its $ would pass a final newline
        raise ValueError("control characters (CR, LF, tab ...), line separators and path "
                         "separators (/ \\) are not allowed in a file name")
    if value in (".", ".."):
        raise ValueError("a file name is not . or ..")
    if len(value.encode()) > MAX_FILE_NAME_BYTES:
        raise ValueError(f"at most {MAX_FILE_NAME_BYTES} bytes in UTF-8")
    return value


FileName = Annotated[str, Field(
    # The pattern is checked by _file_name, with a message that says what is wrong.
    min_length=1, max_length=200, json_schema_extra={"pattern": FILE_NAME_PATTERN},
    examples=["invoice-venue.pdf", "Rechnung März.pdf", "請求書.pdf"],
    description="The file's name, in any script (at most 200 characters and "
    f"{MAX_FILE_NAME_BYTES} bytes in UTF-8); no control characters (CR, LF, NUL, tab, other "
    "C0 and C1 controls), line separators or path separators (/ \\)."),
    AfterValidator(_file_name)]


class ProofIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: FileName
    content_type: ProofContentType
    # Base64 of at most MAX_PROOF_BYTES (the body limit caps the whole request as well).
    content_base64: Annotated[str, Field(min_length=4, max_length=(MAX_PROOF_BYTES + 2) // 3 * 4,
                                         examples=["JVBERi0xLjQK"])]

    @field_validator("content_base64")
    @classmethod
    def _decodes(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        return value

    @property
    def content(self) -> bytes:
        return base64.b64decode(self.content_base64, validate=True)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "request_id": _ID, "amount": {"amount": "2300.00", "currency": "EUR"},
        "description": "Three sessions held; 312 registrations, 44 qualified leads.",
        "proof_ids": [_ID]}]})

    request_id: uuid.UUID
    amount: PositiveMoney = Field(description="At most the request's planned cost.")
    description: Text
    proof_ids: Annotated[list[uuid.UUID], Field(
        max_length=MAX_PROOFS, description="Proof of performance (invoices, photos, attendee "
        "lists): files uploaded with `POST /v1/mdf/proofs` by or for the request's partner, "
        "not expired and in no other claim. With `proofs`, 1 to "
        f"{MAX_PROOFS} files in all.")] = []
    proofs: Annotated[list[ProofIn], Field(
        max_length=MAX_PROOFS, json_schema_extra={"deprecated": True},
        description="Deprecated: upload each file with `POST /v1/mdf/proofs` and name it in "
        "`proof_ids`. Files inline in base64 still work while the whole request stays within "
        "the body limit (1 MiB by default: about 760 KiB of files in all); above it the "
        "request is a 413.")] = []

    @model_validator(mode="after")
    def _some_proof(self) -> "ClaimIn":
        count = len(self.proof_ids) + len(self.proofs)
        if not 1 <= count <= MAX_PROOFS:
            raise ValueError(f"a claim has 1 to {MAX_PROOFS} proof files (proof_ids and "
                             f"proofs together), not {count}")
        if len(set(self.proof_ids)) != len(self.proof_ids):
            raise ValueError("proof_ids names a file twice")
        return self


class ClaimApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount": {"amount": "2000.00", "currency": "EUR"},
         "reason": "Catering is not eligible."}]})

    amount: PositiveMoney | None = Field(default=None, description="Approve this much of the "
                                         "claim (the rest of the reservation is released); "
                                         "all if absent.")
    reason: Reason | None = None


class ProofUploadIn(BaseModel):
    """The fields of an upload's multipart body besides the file, checked as a JSON body's
    would be (the same name rules as a claim's inline files)."""

    model_config = ConfigDict(extra="forbid")

    filename: FileName
    content_type: ProofContentType
    partner_id: uuid.UUID | None = None


_UPLOAD_EXAMPLE: dict[str, Any] = {
    "id": _ID, "partner_id": _PARTNER, "filename": "invoice-venue.pdf",
    "content_type": "application/pdf", "size": 48213, "sha256": "0" * 64, "status": "stored",
    "claim_id": None, "created_at": "2025-04-02T09:00:00Z",
    "expires_at": "2025-04-03T09:00:00Z"}


class ProofUploadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_UPLOAD_EXAMPLE]})

    id: uuid.UUID = Field(description="Name it in a claim's `proof_ids`.")
    partner_id: uuid.UUID = Field(description="The org the file belongs to: only a claim of "
                                  "this partner may name it.")
    filename: str
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str = Field(description="SHA-256 of the content, hex")
    status: ProofUploadStatus = Field(description="`stored` once the service holds "
                                                "the file; `pending` while a presigned "
                                                "upload is not completed (its size and SHA-256 "
                                                "are the ones announced).")
    claim_id: uuid.UUID | None = Field(default=None, description="The claim that names it; "
                                       "null until one does.")
    created_at: dt.datetime
    expires_at: dt.datetime | None = Field(description="Unless a claim names it by then, the "
                                           "file is deleted; null once a claim names it.")

    @classmethod
    def of(cls, row: Any, ttl: dt.timedelta) -> "ProofUploadOut":
        return cls(id=row.id, partner_id=row.partner_id, filename=row.filename,
                   content_type=row.content_type, size=row.size, sha256=row.sha256,
                   status=row.status, claim_id=row.claim_id, created_at=row.created_at,
                   expires_at=None if row.claim_id else row.created_at + ttl)


class PresignIn(BaseModel):
    """A file the client will send straight to the S3-compatible store."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "filename": "invoice-venue.pdf", "content_type": "application/pdf", "size": 48213,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]})

    filename: FileName
    content_type: ProofContentType
    size: Annotated[StrictInt, Field(ge=1, le=MAX_PROOF_BYTES, description="Bytes, exactly.")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$",
                                 description="SHA-256 of the content, hex (lower case).")]
    partner_id: uuid.UUID | None = Field(default=None, description="The partner the file is "
                                         "for: required with a vendor key.")


class PresignedUploadOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "proof": {**_UPLOAD_EXAMPLE, "status": "pending"},
        "method": "PUT",
        "url": "https://proofs.s3.eu-central-1.amazonaws.com/mdf-proofs/"
               "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b?X-Amz-Algorithm=AWS4-HMAC-SHA256&...",
        "headers": {"Content-Type": "application/pdf"},
        "url_expires_at": "2025-04-02T09:15:00Z"}]})

    proof: ProofUploadOut = Field(description="The file's record, `pending` until completed.")
    method: Literal["PUT"]
    url: str = Field(description="Send the file's bytes here, as the body of one request.")
    headers: dict[str, str] = Field(description="Headers the request must carry as they are "
                                    "(they are part of the signature).")
    url_expires_at: dt.datetime = Field(description="The URL works until then.")


class ProofOut(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str = Field(description="SHA-256 of the content, hex")
    created_at: dt.datetime


class ClaimOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _ID, "request_id": _ID, "partner_id": _PARTNER,
        "partner_name": "Acme Cloud GmbH", "amount": {"amount": "2300.00", "currency": "EUR"},
        "approved_amount": {"amount": "2000.00", "currency": "EUR"},
        "description": "Three sessions held.", "status": "approved",
        "reason": "Catering is not eligible.",
        "proofs": [{"id": _ID, "filename": "invoice-venue.pdf",
                    "content_type": "application/pdf", "size": 9,
                    "sha256": "0" * 64, "created_at": "2025-04-02T09:00:00Z"}],
        "version": 2, "created_at": "2025-04-02T09:00:00Z",
        "updated_at": "2025-04-03T09:00:00Z"}]})

    id: uuid.UUID
    request_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str | None = _partner_name()
    amount: Money
    approved_amount: Money | None
    description: str
    status: ClaimStatus
    reason: str | None
    proofs: list[ProofOut]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    request: FundRequestOut | None = Field(default=None, description="The fund request it "
                                           "claims, with `expand=request`; null otherwise.")
    allocation: AllocationOut | None = Field(default=None, description="The allocation the "
                                             "request draws on, with `expand=allocation`; "
                                             "null otherwise.")

    @classmethod
    def of(cls, row: Any, proofs: list[Any], partner_name: str | None = None) -> "ClaimOut":
        return cls(id=row.id, request_id=row.request_id, partner_id=row.partner_id,
                   partner_name=_name_of(row, partner_name),
                   amount=money(row.amount, row.currency),
                   approved_amount=_amount(row.approved_amount, row.currency),
                   description=row.description, status=row.status, reason=row.reason,
                   proofs=[ProofOut(id=p.id, filename=p.filename, content_type=p.content_type,
                                    size=p.size, sha256=p.sha256, created_at=p.created_at)
                           for p in proofs],
                   version=row.version, created_at=row.created_at, updated_at=row.updated_at)
