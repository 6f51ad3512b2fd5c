"""The arithmetic of the KPIs, apart from the database: conversion into the base currency,
exact ratios, and each partner's figures of a period gathered with the ids of the rows they
came from.

A cost or a payout is converted with the newest rate of its currency valid on its own date
(``prm_platform.money.convert_minor``, the platform's one conversion), rounded half-even to the
base currency's minor unit once per item (so a figure is the sum of the converted items its row
lists). Credits are converted once per rate: a partner's credits of one figure (sourced or
influenced revenue or pipeline) in one currency whose deals' dates fall where the same rate is
the newest valid (from its ``valid_on`` to the next rate's) are summed in minor units of their
currency, then converted and rounded half-even once; base-currency credits are summed as they
are. (The credit KPIs are read from sums, ``kpis.service``; the rule does not depend on how the
sums are stored.) Figures derived from several items (an activity's share
of a credit, an average) are kept exact as fractions and rounded half-even once at the end.
Ratios are decimal strings with 4 places, rounded half-even; null when the denominator is 0.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from prm_platform.money import convert_minor

# A row lists at most this many ids per kind of source row.
MAX_IDS = 200
COST_KINDS = ("mdf", "rebate", "spiff")


def round_half_even(value: Fraction) -> int:
    """The nearest integer, ties to even."""
    floor = value.numerator // value.denominator
    rest = value - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


def ratio(numerator: int | Fraction, denominator: int | Fraction, places: int = 4
          ) -> str | None:
    """``numerator / denominator`` as a decimal string of ``places`` decimals (half-even)."""
    if denominator == 0:
        return None
    scaled = round_half_even(Fraction(numerator) / Fraction(denominator) * 10 ** places)
    return f"{Decimal(scaled).scaleb(-places):.{places}f}"


class Converter:
    """Converts minor units into the base currency's, remembering the rates it used."""

    def __init__(self, rates: list[Any], base: str) -> None:
        self.base = base
        self.rates: dict[str, list[Any]] = {}
        for rate in rates:  # ordered by valid_on
            self.rates.setdefault(rate.currency, []).append(rate)
        self.used: dict[tuple[str, dt.date], Any] = {}

    def rate_on(self, currency: str, on: dt.date) -> Any | None:
        """The newest rate of ``currency`` valid on ``on``; None without one."""
        found = None
        for rate in self.rates.get(currency, []):
            if rate.valid_on > on:
                break
            found = rate
        return found

    def convert(self, minor: int, currency: str, on: dt.date) -> int | None:
        if currency == self.base:
            return minor
        rate = self.rate_on(currency, on)
        return None if rate is None else self.convert_at(minor, currency, rate)

    def convert_at(self, minor: int, currency: str, rate: Any) -> int:
        """``minor`` units of ``currency`` at ``rate`` (one of its rows), rounded half-even."""
        self.used[(currency, rate.valid_on)] = rate
        return convert_minor(minor, currency, self.base, rate.rate)

    def runs(self, start: dt.date, end: dt.date) -> list[tuple[Any, dt.date]]:
        """The rates applied somewhere in [start, end), each with the day the next rate of its
        currency takes over: the rate row applies to [its ``valid_on``, that day)."""
        found = []
        for rates in self.rates.values():
            for i, rate in enumerate(rates):
                until = rates[i + 1].valid_on if i + 1 < len(rates) else dt.date.max
                if rate.valid_on < end and until > start:
                    found.append((rate, until))
        return found

    def child(self) -> Converter:
        """A converter over the same rates with its own record of the rates used."""
        other = Converter([], self.base)
        other.rates = self.rates
        return other


def add_id(ids: list[uuid.UUID], value: uuid.UUID) -> None:
    if len(ids) < MAX_IDS and value not in ids:
        ids.append(value)


@dataclass
class PartnerFigures:
    """One partner's figures of a period, in base minor units, with their source rows."""

    partner_id: uuid.UUID
    name: str | None
    type: str | None
    tier: str | None
    country: str | None
    joined_at: dt.datetime | None
    activated_at: dt.datetime | None
    onboarded_at: dt.datetime | None
    converter: Converter
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("sourced_revenue", "influenced_revenue", "sourced_pipeline", "influenced_pipeline"),
        0))
    costs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COST_KINDS, 0))
    payouts_paid: int = 0
    deal_ids: list[uuid.UUID] = field(default_factory=list)
    unconverted_deal_ids: list[uuid.UUID] = field(default_factory=list)
    cost_ids: list[uuid.UUID] = field(default_factory=list)
    payout_batch_ids: list[uuid.UUID] = field(default_factory=list)
    unconverted_cost_ids: list[uuid.UUID] = field(default_factory=list)
    registrations: int = 0
    registrations_won: int = 0
    registrations_decided: int = 0
    first_win: dt.date | None = None
    certifications_earned: int = 0
    certification_ids: list[uuid.UUID] = field(default_factory=list)
    first_certification: dt.date | None = None

    @property
    def revenue(self) -> int:
        return self.sums["sourced_revenue"] + self.sums["influenced_revenue"]

    @property
    def pipeline(self) -> int:
        return self.sums["sourced_pipeline"] + self.sums["influenced_pipeline"]

    @property
    def programme_cost(self) -> int:
        return sum(self.costs.values())

    def joined_on(self) -> dt.date | None:
        return self.joined_at.date() if self.joined_at is not None else None

    def days_to(self, day: dt.date | None) -> int | None:
        joined = self.joined_on()
        return (day - joined).days if day is not None and joined is not None else None

    def days_to_first_value(self) -> int | None:
        """From the partner's readiness (its onboarding's completion, else its first
        activation) to its first won deal; never negative (a deal won while onboarding
        brought value at once)."""
        ready = self.onboarded_at or self.activated_at
        if ready is None or self.first_win is None:
            return None
        return max(0, (self.first_win - ready.date()).days)

    def add_credits(self, figure: str, minor: int, currency: str, rate: Any | None,
                    deal_ids: list[uuid.UUID]) -> None:
        """Credits of one figure in one currency that the same rate converts (``rate``: its
        row; None for the base currency, or when no rate is valid on their days, and then
        ``unconverted``), summed: converted once. ``deal_ids``: the first of their deals by
        id; ``finish_ids`` keeps the first ``MAX_IDS`` of all."""
        if currency != self.converter.base and rate is None:
            self.unconverted_deal_ids.extend(deal_ids)
            return
        self.sums[figure] += minor if rate is None else self.converter.convert_at(
            minor, currency, rate)
        self.deal_ids.extend(deal_ids)

    def finish_ids(self) -> None:
        """The credits' deal ids: the first ``MAX_IDS`` by id (a deal counts once per partner
        and model, so once)."""
        self.deal_ids = sorted(self.deal_ids)[:MAX_IDS]
        self.unconverted_deal_ids = sorted(self.unconverted_deal_ids)[:MAX_IDS]

    def add_cost(self, kind: str, cost_id: uuid.UUID, amount_minor: int, currency: str,
                 on: dt.date) -> None:
        converted = self.converter.convert(amount_minor, currency, on)
        if converted is None:
            add_id(self.unconverted_cost_ids, cost_id)
            return
        self.costs[kind] += converted
        add_id(self.cost_ids, cost_id)

    def add_payout(self, batch_id: uuid.UUID, total_minor: int, currency: str,
                   on: dt.date) -> None:
        converted = self.converter.convert(total_minor, currency, on)
        if converted is None:
            add_id(self.unconverted_cost_ids, batch_id)
            return
        self.payouts_paid += converted
        add_id(self.payout_batch_ids, batch_id)


def activity_share(credit_base_minor: int, linked_touches: int, partner_touches: int
                   ) -> Fraction:
    """An MDF activity's exact part of its partner's credit on a deal: the partner's touches on
    the deal that belong to the activity, over all the partner's touches on the deal."""
    if partner_touches == 0:
        return Fraction(0)
    return Fraction(credit_base_minor * linked_touches, partner_touches)


def roi(revenue: int | Fraction, cost: int | Fraction) -> str | None:
    """(revenue - cost) / cost: the return on every unit spent."""
    return ratio(Fraction(revenue) - Fraction(cost), cost)
