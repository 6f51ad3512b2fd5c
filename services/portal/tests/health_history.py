"""A generated history of partners with known churners and growers, for the early-warning
backtest (test_health_risk.py) and benchmarks: deterministic for a seed.

Each partner lives week by week. Its engagement (the log of its weekly registrations) drifts
and reverts to its own level; a multiplier moves it in episodes that follow hazards, not a
logistic form:

- a decline starts with a weekly hazard that is higher for small partners, for unhappy ones
  (low PSAT base), for new ones and for a frail few (a gamma-distributed frailty); it runs fast
  (half-life 2 to 5 weeks) or slow (8 to 20 weeks) while registrations, MDF requests and win
  rates fall, certifications lapse without renewal and survey answers drop and thin out; when
  the multiplier falls below the partner's own threshold (0.12 to 0.6: some leave while still
  busy) the partner leaves (no fact after) four times in five, or recovers over 8 to 20 weeks;
- a sudden exit, with no warning at all, has a small constant hazard;
- growth starts with a hazard higher for young partners: registrations and MDF requests rise
  first, then wins (a deal closes 3 to 17 weeks after its registration), and new
  certifications come.

Partners already there at START start half a year before it (BURN_IN: their pipeline and
certifications are under way when the history's main three years begin); the others join over
the three years, with an onboarding_completed fact. A registration closes won or lost (or
never, one in ten), an MDF request gets its claim approved two to four months later (three in
five), a certification lasts two years and is renewed in the month before it expires while the
partner is healthy (one in twenty lapses anyway), PSAT (1 to 5) is asked quarterly and NPS
(0 to 10) twice a year.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal

from prm_portal.health.risk import Fact

START = dt.date(2023, 1, 2)
WEEKS = 156  # three years
END = START + dt.timedelta(weeks=WEEKS) - dt.timedelta(days=1)
SPLIT = START + dt.timedelta(weeks=104)  # after two years
BURN_IN = 26  # weeks of the partners already there before START that the history holds


@dataclass(frozen=True)
class SimulatedPartner:
    id: uuid.UUID
    facts: tuple[Fact, ...]
    joined_on: dt.date
    story: str                        # steady, grower, decliner, recovered, sudden
    left_on: dt.date | None           # the day it stopped (no fact after), if it did
    decline_started_on: dt.date | None


def _below(rng: random.Random, n: int) -> int:
    """0 to n - 1 (random.randrange's checks are most of the generator's time)."""
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + _below(rng, high - low + 1)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _partner(rng: random.Random) -> SimulatedPartner:
    partner_id = uuid.UUID(int=rng.getrandbits(128))
    existing = rng.random() < 0.55
    join_week = -BURN_IN if existing else int(rng.random() ** 1.4 * (WEEKS - 20))
    base = rng.gauss(-0.5, 0.8)         # log of weekly registrations when healthy
    level = base + rng.gauss(0, 0.3)
    skill = min(max(rng.gauss(0.45, 0.12), 0.1), 0.85)
    psat_base = min(max(rng.gauss(3.9, 0.6), 1.5), 5.0)
    nps_base = min(max(rng.gauss(7.2, 1.5), 1.0), 10.0)
    frailty = rng.gammavariate(2.0, 0.5)
    tenure_before = rng.uniform(0, 4) if existing else 0.0  # years in the programme already
    psat_week, nps_week = _below(rng, 13), _below(rng, 26)

    facts: list[Fact] = []
    day0 = START + dt.timedelta(weeks=join_week)
    if not existing:
        facts.append(Fact("onboarding_completed", day0 + dt.timedelta(days=_between(rng, 7, 45))))
    # certifications: (expires on); existing partners' fall due at any time in the next two years
    certs = [day0 + dt.timedelta(days=_between(rng, 20, 730) if existing
                                 else 730 + _between(rng, 0, 60))
             for _ in range(1 + _poisson(rng, 1.2))]
    if not existing:
        facts += [Fact("certification_earned", expires - dt.timedelta(days=730))
                  for expires in certs]

    state, multiplier, speed, target, recover_weeks = "normal", 1.0, 0.0, 1.0, 0
    quit_below = 0.12
    story, left_on, decline_started_on = "steady", None, None
    for week in range(join_week, WEEKS):
        monday = START + dt.timedelta(weeks=week)
        tenure = tenure_before + (week - join_week) / 52
        # the episodes
        if state == "normal":
            hazard = 0.0022 * frailty
            hazard *= 1.8 if psat_base < 3.4 else 1.0
            hazard *= 1.7 if base < -0.8 else 1.0
            hazard *= 1.6 if tenure < 1 else (0.6 if tenure > 3 else 1.0)
            if rng.random() < hazard:
                quit_below = rng.uniform(0.12, 0.6)
                state, speed = "declining", math.log(2) / (
                    rng.uniform(2, 5) if rng.random() < 0.4 else rng.uniform(8, 20))
                story, decline_started_on = "decliner", monday
            elif rng.random() < 0.001:
                story, left_on = "sudden", monday + dt.timedelta(days=_below(rng, 7))
                break
            elif rng.random() < (0.006 if tenure < 1.5 else 0.0025):
                state, target = "growing", rng.uniform(1.6, 3.2)
                speed = math.log(target) / rng.uniform(8, 30)
                story = "grower" if story == "steady" else story
        elif state == "declining":
            multiplier *= math.exp(-speed)
            if multiplier < quit_below:
                if rng.random() < 0.8:
                    left_on = monday + dt.timedelta(days=_below(rng, 7))
                    break
                state, story, recover_weeks = "recovering", "recovered", _between(rng, 8, 20)
                speed = math.log(1 / multiplier) / recover_weeks
        elif state == "recovering":
            multiplier = min(1.0, multiplier * math.exp(speed))
            if multiplier >= 1.0:
                state = "normal"
        elif state == "growing":
            multiplier = min(target, multiplier * math.exp(speed))
            if multiplier >= target:
                base, multiplier, state = base + math.log(target), 1.0, "normal"
                level += math.log(target)
        level += 0.08 * (base - level) + rng.gauss(0, 0.07)
        rate = math.exp(level) * multiplier
        healthy = state in ("normal", "growing")
        sad = 0.0 if state != "declining" else 1.0 - multiplier

        def on(days: int, _monday: dt.date = monday) -> dt.date:
            return _monday + dt.timedelta(days=days)

        for _ in range(_poisson(rng, rate)):
            day = on(_below(rng, 7))
            facts.append(Fact("deal_registered", day))
            if rng.random() < 0.9:
                closes = day + dt.timedelta(days=_between(rng, 21, 120))
                won = rng.random() < skill * (0.55 + 0.45 * min(multiplier, 1.0))
                amount = Decimal(_between(rng, 20, 400) * 100) if won else None
                facts.append(Fact("deal_won" if won else "deal_lost", closes, amount))
        mdf_rate = 0.12 * math.exp(0.7 * level) * multiplier ** (1.4 if state == "growing"
                                                                  else 1.0)
        for _ in range(_poisson(rng, mdf_rate)):
            day = on(_below(rng, 7))
            facts.append(Fact("mdf_requested", day))
            if rng.random() < 0.6:
                facts.append(Fact("claim_approved",
                                  day + dt.timedelta(days=_between(rng, 60, 120))))
        # certifications falling due this week
        for i, expires in enumerate(certs):
            if not monday <= expires < monday + dt.timedelta(days=7):
                continue
            if healthy and rng.random() > 0.05:
                facts.append(Fact("certification_earned",
                                  expires - dt.timedelta(days=_between(rng, 0, 30))))
                certs[i] = expires + dt.timedelta(days=730)
            else:
                facts.append(Fact("certification_expired", expires))
                certs[i] = dt.date.max
        if state == "growing" and rng.random() < 0.03 or (
                state == "recovering" and rng.random() < 0.05):
            earned = on(_below(rng, 7))
            facts.append(Fact("certification_earned", earned))
            certs.append(earned + dt.timedelta(days=730))
        # surveys
        answer = 0.4 * (0.3 + 0.7 * min(multiplier, 1.0))
        if week % 13 == psat_week and rng.random() < answer:
            score = round(min(max(rng.gauss(psat_base - 2.2 * sad + 0.2 * (state == "growing"),
                                            0.6), 1), 5))
            facts.append(Fact("survey_psat", on(_below(rng, 7)), Decimal(score)))
        if week % 26 == nps_week and rng.random() < answer:
            score = round(min(max(rng.gauss(nps_base - 4.5 * sad, 1.3), 0), 10))
            facts.append(Fact("survey_nps", on(_below(rng, 7)), Decimal(score)))

    if left_on is not None:
        facts = [fact for fact in facts if fact.occurred_on <= left_on]
    facts = [fact for fact in facts if fact.occurred_on <= END]
    facts.sort(key=lambda fact: fact.occurred_on)
    return SimulatedPartner(partner_id, tuple(facts), day0, story, left_on, decline_started_on)


def simulated_history(seed: int = 20261207, partners: int = 600) -> list[SimulatedPartner]:
    """``partners`` partners over three years from START (the same for the same seed)."""
    rng = random.Random(seed)
    return [_partner(rng) for _ in range(partners)]


def histories(partners: list[SimulatedPartner]) -> dict[uuid.UUID, tuple[Fact, ...]]:
    return {partner.id: partner.facts for partner in partners}
