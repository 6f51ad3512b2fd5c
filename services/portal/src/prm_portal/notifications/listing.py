"""The list grammar (prm_platform.listing) of notifications."""

import dataclasses
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import StringConstraints

from prm_platform.listing import Filter, Listing, QueryTime, Range
from prm_portal.models import notification_marks as m
from prm_portal.models import notifications as n
from prm_portal.notifications.schemas import NotificationState

# A notification's kind (``deal.approved``) or a record's type (``mdf_request``).
Kind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80,
                                        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")]



def in_state(state: NotificationState) -> sa.ColumnElement[bool]:
    """The caller's marks (the list joins the caller's row of ``notification_marks``)."""
    if state is NotificationState.unread:
        return sa.and_(m.c.read_at.is_(None), m.c.dismissed_at.is_(None))
    if state is NotificationState.read:
        return sa.and_(m.c.read_at.is_not(None), m.c.dismissed_at.is_(None))
    if state is NotificationState.dismissed:
        return m.c.dismissed_at.is_not(None)
    return m.c.dismissed_at.is_(None)


@dataclasses.dataclass(frozen=True)
class StateFilter(Filter):
    """Where a notification is for the caller, from its marks rather than a column."""

    def condition(self, values: list[Any]) -> sa.ColumnElement[bool]:
        return sa.or_(*[in_state(NotificationState(v)) for v in values])


NOTIFICATIONS = Listing(
    n.c.id,
    StateFilter("state", m.c.read_at, NotificationState,
                "Which of the caller's notifications: `unread`, `read`, `dismissed`, or "
                "`active` (not dismissed; the default)."),
    Filter("kind", n.c.kind, Kind, "Only these kinds (e.g. `deal.approved`)."),
    Filter("subject_type", n.c.subject_type, Kind, "Only those about these kinds of record."),
    Filter("subject_id", n.c.subject_id, uuid.UUID, "Only those about these records."),
    Filter("partner_id", n.c.partner_id, uuid.UUID, "Only those concerning these partners."),
    Range("occurred_at", n.c.occurred_at, QueryTime, "When what it tells of happened"),
    sorts={"occurred_at": n.c.occurred_at},
    default_sort=(("occurred_at", True),),
)
