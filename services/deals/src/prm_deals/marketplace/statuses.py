"""Each marketplace's statuses, in its own words, mapped to one lifecycle:
draft -> published -> accepted -> active, and the ends expired, cancelled, replaced.

The words are the marketplaces' own: AWS Marketplace's offer states (DRAFT, RELEASED) and
agreement statuses (ACTIVE, ARCHIVED, CANCELLED, EXPIRED, RENEWED, REPLACED, ROLLED_BACK,
SUPERSEDED, TERMINATED); Azure's multiparty private offer states (draft, pending, live,
accepted, expired, withdrawn); Google Cloud Marketplace's private offer states and the
entitlement events of its Procurement API. A status is matched ignoring case."""

from typing import Literal

Marketplace = Literal["aws", "azure", "gcp"]
Status = Literal["draft", "published", "accepted", "active", "expired", "cancelled",
                 "replaced"]

MARKETPLACES: tuple[Marketplace, ...] = ("aws", "azure", "gcp")
STATUSES: tuple[Status, ...] = ("draft", "published", "accepted", "active", "expired",
                                "cancelled", "replaced")
# The kinds of offer each marketplace has.
KINDS: dict[str, Marketplace] = {
    "aws_cppo": "aws",
    "aws_resale_authorization": "aws",
    "azure_multiparty_private_offer": "azure",
    "gcp_private_offer": "gcp",
}

MAPPING: dict[Marketplace, dict[str, Status]] = {
    "aws": {
        # offer states
        "DRAFT": "draft",
        "RELEASED": "published",
        # agreement statuses
        "ACTIVE": "active",
        "ARCHIVED": "expired",
        "EXPIRED": "expired",
        "CANCELLED": "cancelled",
        "TERMINATED": "cancelled",
        "ROLLED_BACK": "cancelled",
        "REPLACED": "replaced",
        "SUPERSEDED": "replaced",
        "RENEWED": "replaced",
    },
    "azure": {
        "draft": "draft",
        # publishing in progress: not yet visible to the customer
        "pending": "draft",
        "live": "published",
        "accepted": "accepted",
        "expired": "expired",
        "withdrawn": "cancelled",
    },
    "gcp": {
        "DRAFT": "draft",
        "PUBLISHED": "published",
        "ACCEPTED": "accepted",
        "ACTIVE": "active",
        "EXPIRED": "expired",
        "CANCELLED": "cancelled",
        "REPLACED": "replaced",
        # the Procurement API's entitlement events
        "ENTITLEMENT_OFFER_ACCEPTED": "accepted",
        "ENTITLEMENT_ACTIVE": "active",
        "ENTITLEMENT_OFFER_ENDED": "expired",
        "ENTITLEMENT_CANCELLED": "cancelled",
    },
}
# What the vendor's own actions set, in each marketplace's words.
PUBLISHED = {"aws": "RELEASED", "azure": "live", "gcp": "PUBLISHED"}
CANCELLED = {"aws": "CANCELLED", "azure": "withdrawn", "gcp": "CANCELLED"}
DRAFT = {"aws": "DRAFT", "azure": "draft", "gcp": "DRAFT"}

# The customer accepted: the deal may be won.
ACCEPTANCE: frozenset[Status] = frozenset({"accepted", "active"})
ENDED: frozenset[Status] = frozenset({"expired", "cancelled", "replaced"})
# How far along the lifecycle a status is: a marketplace event never moves an offer back
# (feeds deliver out of order); the ends are all as far as it goes.
_RANK = {"draft": 0, "published": 1, "accepted": 2, "active": 3, "expired": 4,
         "cancelled": 4, "replaced": 4}


def mapped(marketplace: Marketplace, status: str) -> Status | None:
    """The lifecycle status of a marketplace's status, or None for one it does not know."""
    words = MAPPING[marketplace]
    return words.get(status.upper()) or words.get(status.lower())


def spelled(marketplace: Marketplace, status: str) -> str:
    """The marketplace's status as the marketplace writes it (AWS and GCP upper case)."""
    return status.lower() if marketplace == "azure" else status.upper()


def moves_forward(current: str, new: str) -> bool:
    """Whether an event's status is a step on from the offer's (not back, not an end after
    an end)."""
    return _RANK[new] > _RANK[current]
