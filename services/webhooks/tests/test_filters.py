import pytest

from prm_webhooks.endpoints.filters import matches, normalise, wanted


@pytest.mark.parametrize(("pattern", "event_type", "expected"), [
    ("deal.*", "prm.deal.registered.v1", True),
    ("prm.deal.*", "prm.deal.registered.v1", True),
    ("deal.registered", "prm.deal.registered.v1", True),
    ("deal.registered.v1", "prm.deal.registered.v1", True),
    ("deal.registered.v2", "prm.deal.registered.v1", False),
    ("*.created", "prm.partner.created.v1", True),
    ("*.created", "prm.partner.updated.v1", False),
    ("mdf.*", "prm.mdf.request.submitted.v1", True),
    ("mdf.request.*", "prm.mdf.claim.submitted.v1", False),
    ("deal", "prm.deal.registered.v1", False),
    ("deal.*", "prm.deals.registered.v1", False),
    ("*", "prm.partner.created.v1", True),
])
def test_filters(pattern, event_type, expected):
    assert matches(normalise(pattern), event_type) is expected


def test_no_filter_is_every_type():
    assert wanted([], "prm.deal.won.v1")
    assert not wanted(["prm.partner.*"], "prm.deal.won.v1")
