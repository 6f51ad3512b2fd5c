"""Every event names its actor and the request at its origin (``prm_platform.cause``): the
caller of an API request, a scheduled job, or, for an event a consumer publishes while applying
another, the actor of that other event."""

import datetime as dt
import uuid

from sqlalchemy import text

from prm_contracts import PartnerSnapshot, PartnerUpdatedV1
from prm_events.consumer import EventConsumer
from prm_events.envelope import CloudEvent, new_event
from prm_platform import cause
from prm_platform.db import make_sessionmaker
from prm_platform.scheduler import Job
from prm_stack.testing import scratch_schema

CAUSES = "CREATE TABLE causes (applied uuid NOT NULL, actor text, requestid text)"


def updated(name: str = "Acme") -> CloudEvent:
    snapshot = PartnerSnapshot(id=uuid.uuid4(), name=name, type="msp", country="DE",
                               status="active", version=1)
    return new_event(PartnerUpdatedV1(partner=snapshot, changed=["name"]), source="/test",
                     subject=str(snapshot.id))


def test_an_event_made_outside_any_request_names_its_service():
    event = updated()
    assert (event.actor, event.requestid) == ("service:/test", None)


def test_an_event_names_the_cause_it_was_made_under_and_the_cause_ends_with_its_block():
    with cause.acting(cause.Cause("key:3f1c", "req-42")):
        inside = updated()
        with cause.acting(cause.job("tier-review")):
            nested = updated()
        after_nested = updated()
    outside = updated()
    assert (inside.actor, inside.requestid) == ("key:3f1c", "req-42")
    assert (nested.actor, nested.requestid) == ("job:tier-review", None)
    assert (after_nested.actor, after_nested.requestid) == ("key:3f1c", "req-42")
    assert outside.actor == "service:/test"
    # it survives the round trip through the broker's bytes
    assert CloudEvent.from_json(inside.to_json()).caused_by() == cause.Cause("key:3f1c", "req-42")


async def record_follow_up(session, event: CloudEvent) -> None:
    """A handler that publishes a follow-up event, as projections that notify do."""
    follow_up = updated("follow-up")
    await session.execute(text("INSERT INTO causes VALUES (:id, :actor, :rid)"),
                          {"id": event.id, "actor": follow_up.actor,
                           "rid": follow_up.requestid})


async def test_events_a_consumer_publishes_name_the_actor_of_the_event_it_applies(prm_infra):
    with cause.acting(cause.Cause("user:ada@example.com", "req-7")):
        by_a_person = updated()
    with cause.acting(cause.job("purge")):
        by_a_job = updated()
    unattributed = updated().model_copy(update={"actor": None})  # made before actors existed
    async with scratch_schema(prm_infra, CAUSES) as (engine, _):
        runner = EventConsumer("test-causes", ["t"], {PartnerUpdatedV1.event_type:
                                                      record_follow_up},
                               make_sessionmaker(engine), producer=None)  # type: ignore[arg-type]
        assert await runner.apply(by_a_person)
        assert await runner.apply_batch([by_a_job, unattributed]) == 2
        async with engine.connect() as c:
            found = {row.applied: (row.actor, row.requestid) for row in await c.execute(
                text("SELECT * FROM causes"))}
    assert found == {by_a_person.id: ("user:ada@example.com", "req-7"),
                     by_a_job.id: ("job:purge", None),
                     unattributed.id: ("service:/test", None)}


async def test_a_scheduled_job_acts_as_itself(prm_infra):
    seen: list[str | None] = []

    async def run(session) -> int:
        seen.append(updated().actor)
        return 0

    job = Job("weekly-digest", dt.timedelta(days=7), run)
    with cause.acting(cause.Cause("key:leaked", "req-1")):
        await job.perform(None)  # type: ignore[arg-type]
    assert seen == ["job:weekly-digest"]
