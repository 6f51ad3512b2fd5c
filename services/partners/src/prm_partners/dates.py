"""The days the service takes in query strings."""

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator

from prm_platform.types import IsoDate

# What the service computes from a day stays within the calendar: a tier's trailing window (up
# to 120 months back), a demotion's grace period (up to ten years on), an agreement's term.
# Python's dates end at years 1 and 9999, so a day far out is refused here, by name, rather than
# failing half-way through.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


def _computable(day: dt.date) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()} is "
                         "expected")
    return day


QueryDate = Annotated[IsoDate, AfterValidator(_computable)]
