"""Every event payload the contracts define is registered: a model missing from CONTRACTS
would be published and consumed by type name, yet be absent from the AsyncAPI document and
from typed reads of envelopes."""

import prm_contracts
from prm_contracts import CONTRACTS, EventPayload


def test_every_event_model_is_in_the_registry():
    defined = {value.event_type: value for value in vars(prm_contracts).values()
               if isinstance(value, type) and issubclass(value, EventPayload)
               and "event_type" in vars(value)}
    assert defined == CONTRACTS
