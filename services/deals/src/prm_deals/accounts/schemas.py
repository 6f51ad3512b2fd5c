import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from prm_platform.types import CountryCode, DomainName, Name

MAX_ALIASES = 50
MAX_IMPORT = 5000
ExternalId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,100}$")]
Owner = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

_EXAMPLE: dict[str, Any] = {"external_id": "0015g00000XyZ12", "name": "Bayerische Motoren Werke AG",
            "domain": "bmw.com", "country": "DE", "owner": "jane.doe@vendor.example",
            "aliases": ["BMW", "BMW Group"]}


def _distinct_aliases(aliases: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for alias in aliases:
        seen.setdefault(alias, None)
    return list(seen)


class DirectAccountIn(BaseModel):
    """A named account owned by the vendor's direct sales: a partner registering its customer
    is a channel conflict."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [dict(_EXAMPLE)]})

    external_id: ExternalId | None = Field(
        default=None, description="The account's id in the vendor's CRM; unique. Imports "
        "upsert by it.")
    name: Name
    domain: DomainName | None = None
    country: CountryCode | None = Field(
        default=None, description="Where the account is named; leave out for a global account "
        "(named in every country).")
    owner: Owner | None = Field(default=None, description="Who owns it in direct sales.")
    aliases: list[Name] = Field(
        default_factory=list, max_length=MAX_ALIASES,
        description="Other names the customer goes by (`BMW` for `Bayerische Motoren Werke`), "
        "in any script; the conflict check matches them like the name.")

    _aliases = field_validator("aliases")(_distinct_aliases)


class DirectAccountPatch(BaseModel):
    """Only the fields sent change; `null` clears an optional one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"owner": "sam.lee@vendor.example", "aliases": ["BMW", "BMW Group", "BMW AG"]}]})

    name: Name | None = None
    domain: DomainName | None = None
    country: CountryCode | None = None
    owner: Owner | None = None
    aliases: list[Name] | None = Field(default=None, max_length=MAX_ALIASES)

    _aliases = field_validator("aliases")(
        lambda aliases: None if aliases is None else _distinct_aliases(aliases))


class DirectAccountOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0193c1d0-1b2c-7e3f-8a9b-0c1d2e3f4a5b", **_EXAMPLE, "version": 1,
        "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"}]})

    id: uuid.UUID
    external_id: str | None
    name: str
    domain: str | None
    country: str | None
    owner: str | None
    aliases: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> "DirectAccountOut":
        return cls.model_validate(row, from_attributes=True)


class DirectAccountImport(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"accounts": [_EXAMPLE, {"external_id": "0015g00000XyZ13", "name": "Globex Corporation",
                                 "domain": "globex.example", "country": "US"}]}]})

    accounts: list[DirectAccountIn] = Field(min_length=1, max_length=MAX_IMPORT)

    @field_validator("accounts")
    @classmethod
    def _keyed_once(cls, accounts: list[DirectAccountIn]) -> list[DirectAccountIn]:
        seen: set[str] = set()
        for i, account in enumerate(accounts):
            if account.external_id is None:
                raise ValueError(f"account {i} has no external_id: an import upserts by it")
            if account.external_id in seen:
                raise ValueError(f"external_id {account.external_id!r} appears twice")
            seen.add(account.external_id)
        return accounts


class ImportResult(BaseModel):
    created: int
    updated: int
