"""Validated value types used in API schemas."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

import email_validator
import langcodes
import pycountry
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema


def _country(value: str) -> str:
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_country),
    Field(description="ISO 3166-1 alpha-2 country code", examples=["DE"]),
]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a domain name such as example.com")
    if labels[-1].isdigit():
        raise ValueError("a domain name is expected, not an IP address")
    return value


DomainName = Annotated[
    str,
    StringConstraints(min_length=3, max_length=253),
    AfterValidator(_domain),
    Field(description="Internet domain name, lower-cased", examples=["acme.example"]),
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: object) -> object:
    """Only a calendar date written YYYY-MM-DD (pydantic would also take Unix timestamps)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("a calendar date written YYYY-MM-DD is expected")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date),
                    Field(description="Calendar date, ISO 8601 (YYYY-MM-DD)")]


# A day a query names (a period's bounds, "as of"): services compute with it (trailing
# windows, grace periods, terms), and Python's dates end at years 1 and 9999, so a day far out
# is refused by name (422) rather than failing half-way through (500).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


def _computable(day: dt.date) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()} is "
                         "expected")
    return day


QueryDate = Annotated[IsoDate, AfterValidator(_computable)]


def _iso_datetime(value: object) -> object:
    """Only a date and time written out (pydantic would also take Unix timestamps)."""
    if isinstance(value, dt.datetime | str):
        return value
    raise ValueError("a date and time in RFC 3339 (e.g. 2027-01-31T12:00:00Z) is expected")


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime),
                        Field(description="Date and time, RFC 3339")]


def _currency(value: str) -> str:
    from prm_platform.money import minor_units

    minor_units(value)  # raises ValueError for an unknown code or one without minor units
    return value


Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_currency),
    Field(description="ISO 4217 currency code", examples=["EUR"]),
]


def _language(value: str) -> str:
    if not langcodes.tag_is_valid(value):
        raise ValueError(f"{value!r} is not a BCP 47 language tag such as en or de-CH")
    return str(langcodes.standardize_tag(value))


LanguageTag = Annotated[
    str,
    StringConstraints(min_length=2, max_length=35),
    AfterValidator(_language),
    Field(description="BCP 47 language tag, normalised (en-gb -> en-GB)", examples=["en-GB"]),
]


def _email(value: str) -> str:
    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return str(checked.normalized)


EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(_email),
    Field(description="E-mail address (the domain part normalised)",
          examples=["priya@northwind.example"]),
]


def _decimal_text(value: object) -> object:
    """A decimal must arrive written as a string: a JSON number would pass through a float."""
    if isinstance(value, str | Decimal):
        return value
    raise ValueError('a decimal number written as a string is expected, e.g. "7.5"')


# A non-negative decimal written as a string in JSON (rates, weights, half-lives: not money,
# which is `Money`). Add bounds with Field(gt=, le=, max_digits=, decimal_places=).
DecimalText = Annotated[
    Decimal, BeforeValidator(_decimal_text),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$",
                    "examples": ["7.5"]}),
]


_URL_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f<>\"'`\\]")


def _https_url(value: str) -> str:
    if _URL_UNSAFE.search(value):
        raise ValueError("a URL has no spaces, quotes, angle brackets or control characters")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise ValueError("an https URL with a host (and no user or password) is expected")
    return value


# A link shown to people or followed by them: https only (never javascript: or data:), no
# credentials, nothing that could leave an HTML attribute.
HttpsUrl = Annotated[
    str,
    StringConstraints(min_length=9, max_length=2000),
    AfterValidator(_https_url),
    Field(description="An https URL", examples=["https://www.vendor.example/trial"]),
]
