"""The trail is the vendor's: every route refuses a partner's key (even one claiming the
trail's scope) and its users of every partner role, and a vendor key without `audit:read`."""

import uuid

import pytest

from prm_platform.declaration import PARTNER_ROLES
from prm_stack.testing import check_refused, guarded_routes, signing_in, vendor_headers

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def routes(app) -> list[tuple[str, str]]:
    found = sorted(guarded_routes(app, PUBLIC))
    assert found == [("GET", "/v1/audit-entries"), ("GET", "/v1/audit-entries/{entry_id}"),
                     ("POST", "/v1/audit-verifications")]
    return found


async def test_partner_keys_reach_no_route(client, app, consume, as_partner):
    from .conftest import claim_approved

    partner = uuid.uuid4()
    await consume(claim_approved(uuid.uuid4(), partner))
    for method, path in routes(app):
        await check_refused(client, app, method, path, as_partner(partner),
                            entry_id=str(uuid.uuid4()))


async def test_vendor_keys_without_the_scope_reach_no_route(client, app, prm_infra):
    lacking = vendor_headers(prm_infra.internal_secret, ["partners:read", "deals:read",
                                                          "incentives:read", "ledger:read"])
    for method, path in routes(app):
        await check_refused(client, app, method, path, lacking, entry_id=str(uuid.uuid4()))


@pytest.mark.parametrize("role", PARTNER_ROLES)
async def test_partner_users_reach_no_route(client, app, prm_issuer, role):
    with signing_in(app, prm_issuer):
        for method, path in routes(app):
            await check_refused(client, app, method, path,
                                prm_issuer.headers(role, partner_id=uuid.uuid4()),
                                entry_id=str(uuid.uuid4()))
