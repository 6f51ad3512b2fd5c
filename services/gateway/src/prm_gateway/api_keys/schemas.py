import datetime as dt
import uuid
from enum import StrEnum
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from prm_platform.declaration import all_scopes
from prm_platform.security import ADMIN, PrincipalKind
from prm_platform.types import Name


class KeyStatus(StrEnum):
    """Whether a key still works."""

    active = "active"
    revoked = "revoked"
    expired = "expired"

# Every scope the declared services define, plus ``admin`` (all of them). One named enum in
# the contract, so generated clients get one type for it.
# (Built at import from the declarations, so mypy cannot list its members.)
Scope = StrEnum("Scope", [(ADMIN, ADMIN)] + [  # type: ignore[misc]
    (scope.name.replace(":", "_"), scope.name) for scope in all_scopes()])
Scope.__doc__ = "What a key may do; `admin` implies every other scope."

# A partner key acts for one partner org and holds only partner scopes, never admin; with the
# api_keys scopes it manages its own org's keys (no more powerful than itself).
PARTNER_SCOPES = frozenset(scope.name for scope in all_scopes() if scope.partner)
DEFAULT_PARTNER_SCOPES = sorted(scope.name for scope in all_scopes() if scope.partner_default)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"name": "Salesforce sync", "kind": "vendor",
             "scopes": ["partners:read", "deals:read"]},
            {"name": "Acme PSA", "kind": "partner",
             "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
             "expires_at": "2027-01-01T00:00:00Z"},
        ]},
    )

    name: Name = Field(description="What the key is for; shown in listings.")
    kind: PrincipalKind = PrincipalKind.vendor
    partner_id: uuid.UUID | None = Field(
        default=None, description="The partner org a `partner` key acts for (required then).")
    scopes: list[Scope] | None = Field(
        default=None, min_length=1, max_length=len(Scope),
        description="Required for vendor keys. Partner keys may hold only "
        f"{', '.join(sorted(PARTNER_SCOPES))} (default: {', '.join(DEFAULT_PARTNER_SCOPES)}). "
        "A caller can grant only scopes it holds.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (RFC 3339, in the future).")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "partner":
            if self.partner_id is None:
                raise ValueError("a partner key needs partner_id")
            self.scopes = self.scopes or [Scope(s) for s in DEFAULT_PARTNER_SCOPES]
            if extra := set(self.scopes) - PARTNER_SCOPES:
                raise ValueError(f"a partner key cannot hold {sorted(extra)}")
        else:
            if self.partner_id is not None:
                raise ValueError("partner_id is only for partner keys")
            if not self.scopes:
                raise ValueError("a vendor key needs scopes")
        self.scopes = sorted(set(self.scopes))
        if self.expires_at is not None and self.expires_at <= dt.datetime.now(dt.UTC):
            raise ValueError("expires_at must be in the future")
        return self


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{
            "id": "0193c1c2-9b40-7c1d-8e2f-3a4b5c6d7e8f", "name": "Acme PSA",
            "kind": "partner", "partner_id": "0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
            "scopes": ["deals:read", "deals:write", "partners:read"], "prefix": "prm_x4Qe9T2b",
            "status": "active", "created_by": "0193c1c2-1111-7222-8333-444455556666",
            "created_at": "2026-11-22T09:30:00Z", "expires_at": None, "revoked_at": None,
            "last_used_at": "2026-11-22T10:02:00Z",
        }]},
    )

    id: uuid.UUID
    name: str
    kind: PrincipalKind
    # Nullable fields default to None so that examples (whose nulls the contract generator
    # drops) still validate.
    partner_id: uuid.UUID | None = None
    scopes: list[str]
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    status: KeyStatus
    created_by: str | None = Field(default=None,
                                   description="Id of the key that created this one.")
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = Field(
        default=None, description="Last use, updated at most once a minute.")


class ApiKeyCreated(ApiKeyOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1c2-9b40-7c1d-8e2f-3a4b5c6d7e8f", "name": "Salesforce sync",
        "kind": "vendor", "scopes": ["deals:read", "partners:read"], "prefix": "prm_x4Qe9T2b",
        "status": "active", "created_by": "0193c1c2-1111-7222-8333-444455556666",
        "created_at": "2026-11-22T09:30:00Z",
        "key": "prm_x4Qe9T2bVn0c7Lr1sYk3Hw8uJd5Pz6Aa_Bo2Ci9Dg4E",
    }]})

    key: str | None = Field(
        default=None,
        description="The secret: send it as `Authorization: Bearer <key>`. Shown only in this "
        "response; the gateway keeps just its hash. It is null when this is an idempotent "
        "replay (`Idempotent-Replayed: true`): if the first response was lost, revoke the key "
        "and create another.",
        examples=["prm_x4Qe9T2bVn0c7Lr1sYk3Hw8uJd5Pz6Aa_Bo2Ci9Dg4E"])
