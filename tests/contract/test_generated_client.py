"""A Python client generated from the committed contract (openapi-python-client) drives a whole
scenario against the running stack: what a vendor's integration team would do first."""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def client_package(generated_client):
    # A clean contract generates without warnings (nothing skipped, no duplicate types:
    # test_named_types.py).
    assert "Warning" not in generated_client.output, generated_client.output
    out = str(generated_client.root)
    sys.path.insert(0, out)
    try:
        yield importlib.import_module("prm_client")
    finally:
        sys.path.remove(out)
        for name in [n for n in sys.modules if n == "prm_client" or n.startswith("prm_client.")]:
            del sys.modules[name]


def test_generated_client_scenario(client_package, prm_stack_processes):
    from prm_client import AuthenticatedClient
    from prm_client.api.api_keys import api_keys_create_api_key
    from prm_client.api.deals import deals_list_deals, deals_register_deal
    from prm_client.api.partners import partners_activate_partner, partners_create_partner
    from prm_client.models import (
        ApiKeyCreate,
        Customer,
        DealRegistration,
        DealStatus,
        Money,
        PartnerCreate,
        PartnerOut,
        PartnerStatus,
        PartnerType,
        PrincipalKind,
        Problem,
        StatusChange,
    )

    url = prm_stack_processes.gateway_url
    admin = AuthenticatedClient(base_url=url, token=prm_stack_processes.admin_key)

    created = partners_create_partner.sync_detailed(
        client=admin, idempotency_key=str(uuid.uuid4()),
        body=PartnerCreate(name="Generated Client GmbH", type_=PartnerType.MSP, country="DE"))
    assert created.status_code == 201, created.content
    partner = created.parsed
    assert isinstance(partner, PartnerOut) and partner.status is PartnerStatus.ONBOARDING

    # Activate with If-Match: the ETag of the create response.
    # (The body, a reason, is optional in the contract; this generator wants one sent.)
    activated = partners_activate_partner.sync_detailed(
        partner.id, client=admin, if_match=created.headers["etag"],
        body=StatusChange(reason="agreement signed"))
    assert activated.status_code == 200 and activated.parsed.status is PartnerStatus.ACTIVE
    stale = partners_activate_partner.sync_detailed(
        partner.id, client=admin, if_match=created.headers["etag"], body=StatusChange())
    assert stale.status_code == 412 and isinstance(stale.parsed, Problem)

    key = api_keys_create_api_key.sync_detailed(client=admin, body=ApiKeyCreate(
        name="generated client", kind=PrincipalKind.PARTNER, partner_id=partner.id))
    assert key.status_code == 201, key.content
    partner_client = AuthenticatedClient(base_url=url, token=key.parsed.key)

    registration = DealRegistration(
        # a customer of its own: another partner's registration of it would be a conflict
        customer=Customer(name=f"Tessera{uuid.uuid4().hex[:8]} Labs",
                          domain=f"tessera-{uuid.uuid4().hex[:8]}.example", country="US"),
        amount=Money(amount="5000.00", currency="USD"),
        expected_close_date=dt.date.today() + dt.timedelta(days=90))
    deal_ids = []
    for _ in range(3):
        idempotency_key = str(uuid.uuid4())
        deadline = time.monotonic() + 30
        while True:  # until the partner's events reached the deals service
            registered = deals_register_deal.sync_detailed(
                client=partner_client, body=registration, idempotency_key=idempotency_key)
            if registered.status_code != 422 or time.monotonic() > deadline:
                break
            assert registered.parsed.type_ == "/problems/partner-not-eligible"
            time.sleep(0.2)
        assert registered.status_code == 201, registered.content
        assert registered.parsed.status is DealStatus.SUBMITTED
        deal_ids.append(registered.parsed.id)

    seen, cursor = [], None
    while True:  # one per page, following next_cursor
        page = deals_list_deals.sync_detailed(client=partner_client, limit=1,
                                              **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.content
        seen += [deal.id for deal in page.parsed.items]
        cursor = page.parsed.next_cursor
        if not cursor:
            break
    assert seen == deal_ids

    # A partner's screen: its deals filtered (several statuses, a country), sorted, searched
    # (case and accents ignored), counted, each with its partner's name; then the same page
    # again with If-None-Match is a 304.
    word = registration.customer.name.split()[0]
    found = deals_list_deals.sync_detailed(
        client=partner_client, status=[DealStatus.SUBMITTED, DealStatus.IN_REVIEW],
        customer_country=["US"], sort="-expected_close_date,customer_name",
        q=word.upper(), include="total_count")
    assert found.status_code == 200, found.content
    # Ties are broken by id, in the direction of the first key (here descending).
    assert [deal.id for deal in found.parsed.items] == deal_ids[::-1]
    assert found.parsed.total_count == 3
    assert {deal.partner_name for deal in found.parsed.items} == {"Generated Client GmbH"}
    assert deals_list_deals.sync_detailed(
        client=partner_client, status=[DealStatus.WON], q=word).parsed.items == []
    again = deals_list_deals.sync_detailed(
        client=partner_client.with_headers({"If-None-Match": found.headers["etag"]}),
        status=[DealStatus.SUBMITTED, DealStatus.IN_REVIEW], customer_country=["US"],
        sort="-expected_close_date,customer_name", q=word.upper(), include="total_count")
    assert again.status_code == 304
