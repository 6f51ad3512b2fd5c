"""Money, cursors, the signed principal and problem types: no infrastructure needed."""

import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from prm_platform.money import Money
from prm_platform.problems import (
    Unauthenticated,
    known_problem_types,
    problem_title,
)
from prm_platform.security import (
    Principal,
    PrincipalKind,
    sign_principal,
    verify_principal,
)

SECRET_A = "secret-a-0123456789abcdef0123456789"
SECRET_B = "secret-b-0123456789abcdef0123456789"


@pytest.mark.parametrize(("amount", "currency", "written"), [
    ("1234.5", "EUR", "1234.50"), ("1234", "JPY", "1234"), ("1.125", "KWD", "1.125"),
    ("0", "USD", "0.00"),
])
def test_money_respects_minor_units(amount, currency, written):
    money = Money(amount=amount, currency=currency)
    assert money.amount == written
    assert money.value == Decimal(written)


@pytest.mark.parametrize(("amount", "currency"), [
    ("1.5", "JPY"), ("1.001", "EUR"), ("-1", "EUR"), ("1e3", "EUR"), ("1.0", "XAU"),
    ("10", "ABC"), ("10", "eur"), ("1000000000000000", "EUR"),
])
def test_money_refuses_what_it_cannot_represent(amount, currency):
    with pytest.raises(ValidationError):
        Money(amount=amount, currency=currency)


def test_money_json_has_no_float():
    assert Money.of(Decimal("10"), "EUR").model_dump_json() == '{"amount":"10.00","currency":"EUR"}'


def test_principal_token_is_signed_and_short_lived():
    partner = uuid.uuid4()
    principal = Principal(subject="k1", kind=PrincipalKind.partner, partner_id=partner,
                          scopes=frozenset({"deals:read"}))
    token = sign_principal(principal, SECRET_A)
    assert verify_principal(token, SECRET_A) == principal
    with pytest.raises(Unauthenticated):
        verify_principal(token, SECRET_B)
    with pytest.raises(Unauthenticated):
        verify_principal(sign_principal(principal, SECRET_A, ttl=-1), SECRET_A)
    with pytest.raises(Unauthenticated):
        verify_principal(token[:-2] + "xx", SECRET_A)
    assert time.time()  # tokens carry iat/exp; expiry is checked above


def test_scopes_and_ownership():
    vendor = Principal(subject="v", kind=PrincipalKind.vendor, scopes=frozenset({"admin"}))
    assert vendor.has_scope("deals:write") and vendor.can_see_partner(uuid.uuid4())
    own = uuid.uuid4()
    partner = Principal(subject="p", kind=PrincipalKind.partner, partner_id=own,
                        scopes=frozenset({"deals:read"}))
    assert partner.can_see_partner(own) and not partner.can_see_partner(uuid.uuid4())
    assert not partner.has_scope("deals:write")


def test_every_problem_type_is_documented():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "problems.md").read_text()
    for slug in known_problem_types():
        assert f"| `/problems/{slug}` | {problem_title(slug)} |" in doc, (
            f"docs/problems.md does not document {slug} with its title")


def _token(secret: str, iat: float, exp: float) -> str:
    import jwt

    return jwt.encode({"iss": "prm-gateway", "aud": "prm-services", "iat": int(iat),
                       "exp": int(exp), "sub": "k", "kind": "vendor", "scopes": []},
                      secret, algorithm="HS256")


def test_principal_lifetime_is_bounded_and_skew_tolerated():
    now = time.time()
    # Correctly signed, but valid for ten years: refused.
    with pytest.raises(Unauthenticated):
        verify_principal(_token(SECRET_A, now, now + 10 * 365 * 86400), SECRET_A)
    # Signed by a host whose clock is 3 s ahead, or verified 3 s after expiry: accepted.
    assert verify_principal(_token(SECRET_A, now + 3, now + 63), SECRET_A).subject == "k"
    assert verify_principal(_token(SECRET_A, now - 63, now - 3), SECRET_A).subject == "k"
    # Beyond the leeway: refused.
    with pytest.raises(Unauthenticated):
        verify_principal(_token(SECRET_A, now + 30, now + 90), SECRET_A)
    with pytest.raises(Unauthenticated):
        verify_principal(_token(SECRET_A, now - 90, now - 30), SECRET_A)


@pytest.mark.parametrize("amount", ["١٢٣", "１２３", "12.٥0", "1e3", " 12"])
def test_money_takes_ascii_digits_only(amount):
    with pytest.raises(ValidationError):
        Money(amount=amount, currency="EUR")


@pytest.mark.parametrize("secret", ["short", "x" * 31, "CHANGE-ME-openssl-rand-hex-32-aaaaaaaa",
                                    "please_changeme_" + "a" * 30])
def test_weak_or_placeholder_internal_secrets_are_refused(secret):
    from prm_platform.settings import ServiceSettings

    with pytest.raises(ValidationError, match="PRM_INTERNAL_SECRET"):
        ServiceSettings(internal_secret=secret)
    assert ServiceSettings(internal_secret="a" * 32).internal_secret.get_secret_value()


def test_the_client_address_is_the_last_hop_before_the_trusted_proxies():
    from prm_platform.edge import client_address, trusted_networks

    proxies = trusted_networks(["10.0.0.0/8", "127.0.0.1/32"])

    def seen(peer: str, *forwarded: str) -> str:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        return client_address({"type": "http", "client": (peer, 1), "headers": headers},
                              proxies)

    assert seen("198.51.100.7") == "198.51.100.7"
    # An untrusted peer's header is ignored: it could write anything there.
    assert seen("198.51.100.7", "203.0.113.1") == "198.51.100.7"
    # Through the edge: what the client wrote sits left of what the edge saw.
    assert seen("10.1.2.3", "1.2.3.4, 198.51.100.7") == "198.51.100.7"
    assert seen("10.1.2.3", "1.2.3.4", "198.51.100.7, 10.9.9.9") == "198.51.100.7"
    assert seen("127.0.0.1", "garbage, 10.0.0.5") == "garbage"  # a name, not a proxy's
    assert seen("10.1.2.3", "10.0.0.9") == "10.1.2.3"  # only proxies: the peer
    assert client_address({"type": "http", "client": ("10.1.2.3", 1), "headers": [
        (b"x-forwarded-for", b"198.51.100.7")]}, []) == "10.1.2.3"
