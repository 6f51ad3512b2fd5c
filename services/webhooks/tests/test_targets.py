"""SSRF: internal addresses are refused when an endpoint is saved (literal addresses) and at
connection time (names, whatever they resolve to, and literal addresses again), and redirects
are never followed."""

import ipaddress
import uuid

import pytest
from sqlalchemy import text

from prm_webhooks.delivery.targets import TargetRefused, check_url, refusal

REFUSED = ["127.0.0.1", "127.1.2.3", "10.0.0.5", "172.16.0.1", "192.168.1.1",
           "169.254.169.254", "100.64.0.1", "100.100.100.200", "224.0.0.1", "0.0.0.0",
           "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
           "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
           "64:ff9b::a00:1", "2002:a00:1::1", "198.18.0.1"]
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address):
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_loopback_only_when_configured():
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert refusal(ipaddress.ip_address(address), allow_loopback=True) is None
    for address in ("10.0.0.1", "169.254.169.254"):
        assert refusal(ipaddress.ip_address(address), allow_loopback=True) is not None


def test_https_only_unless_configured():
    with pytest.raises(TargetRefused):
        check_url("http://hooks.example.com/x", allow_http=False, allow_loopback=False)
    check_url("https://hooks.example.com/x", allow_http=False, allow_loopback=False)
    check_url("http://hooks.example.com/x", allow_http=True, allow_loopback=False)
    with pytest.raises(TargetRefused):
        check_url("https://user:pw@hooks.example.com/x", allow_http=False, allow_loopback=False)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://10.0.0.5/hook", "http://169.254.169.254/latest",
    "http://[::1]/hook", "http://localhost/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://100.64.1.1/hook", "ftp://hooks.example.com/x"])
async def test_api_refuses_internal_targets(strict_client, vendor, url):
    response = await strict_client.post("/v1/webhook-endpoints", headers=vendor,
                                        json={"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["type"] in ("/problems/webhook-target-refused",
                                       "/problems/validation-error")


async def test_names_resolving_inside_are_refused_at_connection(
        live, vendor, consume, dispatcher, sessionmaker, receiver, create_endpoint, deal_event,
        settle):
    """Names pass when saved; every attempt resolves them and refuses internal answers, so
    nothing is ever sent there, even loopback where a receiver listens."""
    listening = receiver()
    names = {"internal.example": "10.0.0.5", "metadata.example": "169.254.169.254",
             "loop.example": "127.0.0.1", "v6.example": "::1",
             "mapped.example": "::ffff:127.0.0.1"}

    async def resolver(host, port):
        return [ipaddress.ip_address(names[host])]

    for host in names:
        await create_endpoint(live, vendor, f"http://{host}:{listening.port}/hooks")
    await consume(deal_event(uuid.uuid4()))
    sender = dispatcher(resolver=resolver, allow_loopback=False,
                        retry_schedule_seconds=[0.01])
    await settle(sender)
    async with sessionmaker() as session:
        errors = (await session.execute(text(
            "SELECT error FROM webhook_attempts"))).scalars().all()
    assert len(errors) == 2 * len(names)
    assert all(e.startswith("target refused") for e in errors), errors
    assert listening.received == []


async def test_the_checked_address_is_used_with_the_original_host(
        live, vendor, consume, dispatcher, receiver, create_endpoint, deal_event, settle):
    listening = receiver()

    async def resolver(host, port):
        assert host == "hooks.partner.example"
        return [ipaddress.ip_address("127.0.0.1")]

    await create_endpoint(live, vendor, f"http://hooks.partner.example:{listening.port}/in")
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher(resolver=resolver))
    [request] = listening.received
    assert request.headers["host"] == f"hooks.partner.example:{listening.port}"


async def test_redirects_are_not_followed(live, vendor, consume, dispatcher, sessionmaker,
                                          receiver, create_endpoint, deal_event, settle):
    inside = receiver()
    redirecting = receiver(lambda r, q: (302, {"Location": inside.url}, b""))
    await create_endpoint(live, vendor, redirecting.url)
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher(retry_schedule_seconds=[0.01]))
    assert len(redirecting.received) == 2  # tried, retried, each a failure
    assert inside.received == []
    async with sessionmaker() as session:
        statuses = (await session.execute(text(
            "SELECT response_status, outcome FROM webhook_attempts"))).all()
    assert {tuple(s) for s in statuses} == {(302, "failed")}


async def test_a_literal_address_is_checked_at_connection_too(
        live, vendor, consume, dispatcher, sessionmaker, receiver, create_endpoint, deal_event,
        settle):
    """A URL naming an address is not resolved, so the resolver never sees it: the socket's
    own check refuses it (here loopback, saved while it was allowed)."""
    listening = receiver()
    await create_endpoint(live, vendor, listening.url)  # http://127.0.0.1:port/hooks
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher(allow_loopback=False, retry_schedule_seconds=[0.01]))
    async with sessionmaker() as session:
        errors = (await session.execute(text(
            "SELECT error FROM webhook_attempts"))).scalars().all()
    assert errors == ["target refused: 127.0.0.1 is a loopback address"] * 2
    assert listening.received == []


async def test_a_name_with_one_internal_address_among_public_ones_is_refused(
        live, vendor, consume, dispatcher, sessionmaker, receiver, create_endpoint, deal_event,
        settle):
    """Every address of the answer is checked, not only the one that would be used first."""
    listening = receiver()

    async def resolver(host, port):
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]

    await create_endpoint(live, vendor, f"http://mixed.example:{listening.port}/hooks")
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher(resolver=resolver, allow_loopback=False,
                            retry_schedule_seconds=[0.01]))
    async with sessionmaker() as session:
        errors = (await session.execute(text(
            "SELECT error FROM webhook_attempts"))).scalars().all()
    assert errors == ["target refused: mixed.example resolves to 127.0.0.1, "
                      "a loopback address"] * 2
    assert listening.received == []


async def test_a_name_is_resolved_for_every_new_connection(
        live, vendor, consume, dispatcher, receiver, create_endpoint, deal_event, settle):
    """No DNS cache: once the receiver closes its connection, the next delivery resolves the
    name again (an answer that changed to an internal address would be refused)."""
    listening = receiver(lambda r, q: (204, {"Connection": "close"}, b""))
    asked: list[str] = []

    async def resolver(host, port):
        asked.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    await create_endpoint(live, vendor, f"http://hooks.partner.example:{listening.port}/in")
    sender = dispatcher(resolver=resolver)
    for _ in range(3):
        await consume(deal_event(uuid.uuid4()))
        await settle(sender)
    assert len(listening.received) == 3
    assert asked == ["hooks.partner.example"] * 3
