"""Early warning of partner health: the chance a partner goes quiet (churn) and the chance its
won deals grow, each from the partner's trajectory, with the features that moved it named.

A partner's history is a list of dated facts (``Fact``) taken from the portal's projections.
``features`` turns the facts up to a day into a trajectory (trends of registrations, wins and MDF
requests against the 90 days before, days since the last fact, certifications lapsing, PSAT and
NPS moving); ``churned`` and ``grew`` label a snapshot from what happened after it;
``training_samples`` takes snapshots whose label is already known on a day (no look-ahead);
``fit`` learns an L2-regularised logistic regression on standardised features (Newton's method,
deterministic); ``estimate`` gives a ``Decimal`` probability and the four features that pushed it
most, each with a short English phrase. ``auc`` and ``brier`` score estimates against outcomes.

Pure Python and numpy: no I/O (docs/partner-health.md, "Early warning").
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

FACT_KINDS = ("deal_registered", "deal_won", "deal_lost", "certification_earned",
              "certification_expired", "survey_psat", "survey_nps", "mdf_requested",
              "claim_approved", "onboarding_completed")

# The trajectory on a day, each a float (docs/partner-health.md lists what each one means).
FEATURES: tuple[str, ...] = (
    "activity_trend",          # log((facts in the last 90 days + 1) / (a third of the facts in
                               # the 270 days before + 1)): every kind of fact, a steadier trend
    "registrations_trend",     # log((regs in the last 90 days + 1) / (regs in the 90 before + 1))
    "registrations_recent",    # log(1 + regs in the last 90 days)
    "wins_trend",              # the same log ratio for won deals
    "wins_recent",             # log(1 + deals won in the last 180 days)
    "losses_share",            # lost / (won + lost + 1) of the deals closed in the last 180 days
    "mdf_trend",               # the same log ratio for MDF requests
    "days_since_last_fact",    # days since the partner's last fact, capped at 180
    "silence_vs_usual",        # log((days since the last fact + 1) / (usual gap + 1)), the usual
                               # gap being 365 / (facts in the 365 days up to the day + 1)
    "certifications_lapsed",   # expired in the last 90 days less earned in them, at least 0
    "certifications_active",   # earned less expired up to the day, at least 0
    "psat_change",             # mean PSAT of the last 180 days less the mean of the 365 before
    "psat_known",              # 1 when both windows hold a PSAT answer (else psat_change is 0)
    "nps_change",              # the same for NPS (0-10), over the same windows
    "nps_known",
    "onboarded_recently",      # 1 when the partner completed onboarding in the last 365 days
)

TARGETS = ("churn", "growth")
HORIZONS = {"churn": 120, "growth": 180}
ACTIVE_DAYS = 180        # a partner with a fact in the 180 days up to a day is active on it
RECENT_DAYS = 90         # the recent window of the trends
SLOW_DAYS = 180          # the recent window of wins, closes and surveys
EARLIER_DAYS = 365       # the window before it that surveys are compared with
DAYS_CAP = 180

# Below these ``fit`` refuses: a model of a few dozen snapshots or a handful of churners says
# more about noise than about partners.
MIN_SAMPLES = 200
MIN_POSITIVES = 20

_PLACES = Decimal("0.0001")
_DRIVERS = 4
_Z_CAP = 50.0  # standard deviations: a value beyond is garbage or an outlier, not more evidence


class InsufficientHistory(ValueError):
    """Too few snapshots, or too few positive ones, to fit a model."""


@dataclass(frozen=True)
class Fact:
    """One dated thing that happened to a partner, from the portal's projections."""

    kind: str
    occurred_on: dt.date
    value: Decimal | None = None  # the score of survey_psat / survey_nps; amount for deal_won


class _Timeline:
    """A partner's facts up to a day, as sorted day ordinals per kind (bisect instead of scans)."""

    def __init__(self, facts: Sequence[Fact], through: dt.date | None = None) -> None:
        limit = through.toordinal() if through is not None else None
        days: dict[str, list[int]] = {kind: [] for kind in FACT_KINDS}
        scores: dict[str, list[tuple[int, float]]] = {"survey_psat": [], "survey_nps": []}
        every: list[int] = []
        for fact in facts:
            day = fact.occurred_on.toordinal()
            if limit is not None and day > limit:
                continue
            days.setdefault(fact.kind, []).append(day)
            every.append(day)
            if fact.kind in scores and fact.value is not None:
                scores[fact.kind].append((day, float(fact.value)))
        for values in days.values():
            values.sort()
        for answers in scores.values():
            answers.sort()
        every.sort()
        self.days = days
        self.every = every
        self.scores = scores

    def count(self, kind: str, after: int, through: int) -> int:
        """Facts of ``kind`` on days in (after, through]."""
        values = self.days.get(kind)
        if not values:
            return 0
        return bisect_right(values, through) - bisect_right(values, after)

    def count_all(self, after: int, through: int) -> int:
        return bisect_right(self.every, through) - bisect_right(self.every, after)

    def any_in(self, after: int, through: int) -> bool:
        return bisect_right(self.every, through) > bisect_right(self.every, after)

    def last_on_or_before(self, day: int) -> int | None:
        i = bisect_right(self.every, day)
        return self.every[i - 1] if i else None

    def mean_score(self, kind: str, after: int, through: int) -> float | None:
        answers = self.scores[kind]
        lo = bisect_right(answers, (after, math.inf))
        hi = bisect_right(answers, (through, math.inf))
        if hi <= lo:
            return None
        return sum(score for _, score in answers[lo:hi]) / (hi - lo)

    def features(self, as_of: dt.date) -> dict[str, float]:
        t = as_of.toordinal()
        recent, before = t - RECENT_DAYS, t - 2 * RECENT_DAYS

        def trend(kind: str) -> float:
            return math.log((self.count(kind, recent, t) + 1) / (self.count(kind, before, recent)
                                                                 + 1))

        regs = self.count("deal_registered", recent, t)
        won = self.count("deal_won", t - SLOW_DAYS, t)
        lost = self.count("deal_lost", t - SLOW_DAYS, t)
        last = self.last_on_or_before(t)
        silent = DAYS_CAP if last is None else min(t - last, DAYS_CAP)
        earned_ever = self.count("certification_earned", -1, t)
        expired_ever = self.count("certification_expired", -1, t)
        lapsed = (self.count("certification_expired", recent, t)
                  - self.count("certification_earned", recent, t))
        out = {
            "activity_trend": math.log((self.count_all(recent, t) + 1)
                                       / (self.count_all(t - 4 * RECENT_DAYS, recent) / 3 + 1)),
            "registrations_trend": trend("deal_registered"),
            "registrations_recent": math.log1p(regs),
            "wins_trend": trend("deal_won"),
            "wins_recent": math.log1p(won),
            "losses_share": lost / (won + lost + 1),
            "mdf_trend": trend("mdf_requested"),
            "days_since_last_fact": float(silent),
            "silence_vs_usual": math.log((silent + 1) / (365 / (self.count_all(t - 365, t) + 1)
                                                         + 1)),
            "certifications_lapsed": float(max(lapsed, 0)),
            "certifications_active": float(max(earned_ever - expired_ever, 0)),
            "onboarded_recently": 1.0 if self.count("onboarding_completed", t - 365, t) else 0.0,
        }
        for kind, name in (("survey_psat", "psat"), ("survey_nps", "nps")):
            now = self.mean_score(kind, t - SLOW_DAYS, t)
            then = self.mean_score(kind, t - SLOW_DAYS - EARLIER_DAYS, t - SLOW_DAYS)
            known = now is not None and then is not None
            out[f"{name}_change"] = (now - then) if now is not None and then is not None else 0.0
            out[f"{name}_known"] = 1.0 if known else 0.0
        return {name: out[name] for name in FEATURES}

    def active(self, as_of: dt.date) -> bool:
        t = as_of.toordinal()
        return self.any_in(t - ACTIVE_DAYS, t)

    def churned(self, as_of: dt.date, horizon_days: int) -> bool | None:
        if not self.active(as_of):
            return None
        t = as_of.toordinal()
        return not self.any_in(t, t + horizon_days)

    def grew(self, as_of: dt.date, horizon_days: int) -> bool | None:
        if not self.active(as_of):
            return None
        t = as_of.toordinal()
        before = self.count("deal_won", t - horizon_days, t)
        after = self.count("deal_won", t, t + horizon_days)
        return after >= 1.25 * before and after >= before + 2


def features(facts: Sequence[Fact], as_of: dt.date) -> dict[str, float]:
    """The partner's trajectory on ``as_of`` from the facts up to and including ``as_of`` (later
    facts are ignored)."""
    return _Timeline(facts, as_of).features(as_of)


def churned(facts: Sequence[Fact], as_of: dt.date, horizon_days: int = 120) -> bool | None:
    """A partner active on ``as_of`` (a fact in the 180 days up to it) with no fact in
    (as_of, as_of + horizon] churned; ``None`` when it was not active (not a sample)."""
    return _Timeline(facts).churned(as_of, horizon_days)


def grew(facts: Sequence[Fact], as_of: dt.date, horizon_days: int = 180) -> bool | None:
    """A partner active on ``as_of`` grew when it won at least 1.25 times as many deals in
    (as_of, as_of + horizon] as in (as_of - horizon, as_of], and at least 2 more; ``None`` when it
    was not active."""
    return _Timeline(facts).grew(as_of, horizon_days)


def training_samples(histories: Mapping[Any, Sequence[Fact]], through: dt.date, target: str,
                     step_days: int = 30, *, since: dt.date | None = None,
                     ) -> list[tuple[dict[str, float], bool]]:
    """Snapshots of every partner every ``step_days`` whose label's horizon ends by ``through``:
    the last on ``through - horizon``, then back to the partner's first fact (or to ``since``:
    the snapshots of a later period, to test a model trained before it). Facts after
    ``through`` are never read. Only snapshots of active partners are samples."""
    horizon = _horizon(target)
    last = through - dt.timedelta(days=horizon)
    samples: list[tuple[dict[str, float], bool]] = []
    for facts in histories.values():
        timeline = _Timeline(facts, through)
        if not timeline.every:
            continue
        first = dt.date.fromordinal(timeline.every[0])
        if since is not None:
            first = max(first, since)
        as_of = last
        while as_of >= first:
            label = (timeline.churned(as_of, horizon) if target == "churn"
                     else timeline.grew(as_of, horizon))
            if label is not None:
                samples.append((timeline.features(as_of), label))
            as_of -= dt.timedelta(days=step_days)
    return samples


def _horizon(target: str) -> int:
    if target not in HORIZONS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    return HORIZONS[target]


@dataclass(frozen=True)
class Driver:
    """A feature's push on an estimate: ``contribution`` is its term of the logit (positive
    raises the probability); ``says`` puts the feature's value in words."""

    feature: str
    value: float
    contribution: float
    says: str


@dataclass(frozen=True)
class Estimate:
    """``probability`` with four places; ``drivers`` the four features that pushed the logit
    most, largest first; ``rest`` the summed push of the others, so that the model's intercept
    plus every driver's contribution plus ``rest`` is the logit."""

    probability: Decimal
    drivers: list[Driver]
    rest: float = 0.0


@dataclass(frozen=True)
class Model:
    """A logistic regression on standardised features: logit = intercept + sum of
    coefficient * (value - mean) / scale."""

    target: str
    intercept: float
    coefficients: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]
    samples: int
    positives: int
    trained_through: dt.date
    features: tuple[str, ...] = field(default=FEATURES)

    def contributions(self, feats: Mapping[str, float]) -> dict[str, float]:
        """Each feature's term of the logit; a feature missing from ``feats`` sits at its mean,
        and one further than ``_Z_CAP`` standard deviations from it counts as that far."""
        terms = {}
        for name in self.features:
            value = float(feats.get(name, self.means[name]))
            z = (value - self.means[name]) / self.scales[name]
            terms[name] = self.coefficients[name] * max(-_Z_CAP, min(_Z_CAP, z))
        return terms

    def logit(self, feats: Mapping[str, float]) -> float:
        return self.intercept + math.fsum(self.contributions(feats).values())

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "intercept": self.intercept,
                "coefficients": dict(self.coefficients), "means": dict(self.means),
                "scales": dict(self.scales), "samples": self.samples,
                "positives": self.positives, "trained_through": self.trained_through.isoformat(),
                "features": list(self.features)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        return cls(target=data["target"], intercept=float(data["intercept"]),
                   coefficients={k: float(v) for k, v in data["coefficients"].items()},
                   means={k: float(v) for k, v in data["means"].items()},
                   scales={k: float(v) for k, v in data["scales"].items()},
                   samples=int(data["samples"]), positives=int(data["positives"]),
                   trained_through=dt.date.fromisoformat(data["trained_through"]),
                   features=tuple(data.get("features", FEATURES)))


def fit(samples: Sequence[tuple[Mapping[str, float], bool]], target: str,
        trained_through: dt.date, l2: float = 1.0, *,
        features: Sequence[str] = FEATURES) -> Model:
    """L2-regularised logistic regression (the intercept unpenalised) on features standardised to
    mean 0 and standard deviation 1, by Newton's method. Refuses (``InsufficientHistory``) below
    ``MIN_SAMPLES`` snapshots or ``MIN_POSITIVES`` positive (or negative) ones. ``features``
    narrows the model to some of FEATURES (a baseline of one feature, say)."""
    names = tuple(features)
    _horizon(target)
    n = len(samples)
    positives = sum(1 for _, label in samples if label)
    if n < MIN_SAMPLES or min(positives, n - positives) < MIN_POSITIVES:
        raise InsufficientHistory(
            f"{n} samples with {positives} positive: at least {MIN_SAMPLES} samples and "
            f"{MIN_POSITIVES} of each outcome are needed")
    x = np.array([[float(feats[name]) for name in names] for feats, _ in samples])
    y = np.array([1.0 if label else 0.0 for _, label in samples])
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-9] = 1.0
    design = np.hstack([np.ones((n, 1)), (x - means) / scales])
    penalty = np.full(design.shape[1], float(l2))
    penalty[0] = 0.0
    beta = np.zeros(design.shape[1])
    beta[0] = math.log(positives / (n - positives))
    objective = _penalised_likelihood(design, y, beta, penalty)
    for _ in range(100):
        p = _sigmoid_array(design @ beta)
        gradient = design.T @ (y - p) - penalty * beta
        hessian = (design.T * (p * (1 - p))) @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        # Newton's step, halved until the penalised likelihood rises (it may overshoot when
        # some snapshots are all but certain)
        for _ in range(30):
            candidate = beta + step
            value = _penalised_likelihood(design, y, candidate, penalty)
            if value >= objective - 1e-12:
                break
            step = step / 2
        else:
            break
        beta, objective = candidate, value
        if float(np.max(np.abs(step))) < 1e-9:
            break
    return Model(target=target, intercept=float(beta[0]),
                 coefficients={name: float(b) for name, b in zip(names, beta[1:], strict=True)},
                 means={name: float(m) for name, m in zip(names, means, strict=True)},
                 scales={name: float(s) for name, s in zip(names, scales, strict=True)},
                 samples=n, positives=positives, trained_through=trained_through,
                 features=names)


def _penalised_likelihood(design: np.ndarray, y: np.ndarray, beta: np.ndarray,
                          penalty: np.ndarray) -> float:
    z = design @ beta
    # log(1 + e^z) without overflow
    return float(np.sum(y * z - np.logaddexp(0.0, z)) - 0.5 * np.sum(penalty * beta * beta))


def _sigmoid_array(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for any finite z."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def estimate(model: Model, feats: Mapping[str, float]) -> Estimate:
    """The probability of ``model``'s target for a partner whose trajectory is ``feats``, with the
    four features that pushed it most."""
    contributions = model.contributions(feats)
    z = model.intercept + math.fsum(contributions.values())
    ranked = sorted(model.features, key=lambda name: (-abs(contributions[name]),
                                                      model.features.index(name)))
    drivers = [Driver(name, float(feats.get(name, model.means[name])), contributions[name],
                      says(name, float(feats.get(name, model.means[name]))))
               for name in ranked[:_DRIVERS]]
    rest = math.fsum(contributions[name] for name in ranked[_DRIVERS:])
    probability = Decimal(repr(sigmoid(z))).quantize(_PLACES)
    return Estimate(probability=probability, drivers=drivers, rest=rest)


def _change(value: float) -> str:
    """A log ratio of smoothed counts as a percentage change."""
    ratio = math.exp(max(min(value, 50.0), -50.0)) - 1
    if abs(ratio) < 0.05:
        return "held level"
    word = "rose" if ratio > 0 else "fell"
    return f"{word} {min(abs(ratio) * 100, 9999):.0f} %"


def _count(value: float) -> int:
    return round(math.expm1(max(min(value, 50.0), -50.0)))


def _plural(n: float, one: str, many: str) -> str:
    return f"{n:g} {one if n == 1 else many}"


# The phrases of the trend features (a log ratio of counts) and of the counts (log(1 + n)).
_TRENDS = {"activity_trend": "activity {} against the 270 days before",
           "registrations_trend": "registrations {} against the previous 90 days",
           "wins_trend": "won deals {} against the previous 90 days",
           "mdf_trend": "MDF requests {} against the previous 90 days"}
_COUNTS = {"registrations_recent": "registered in the last 90 days",
           "wins_recent": "won in the last 180 days"}


def says(feature: str, value: float) -> str:
    """A short English phrase for a feature's value."""
    if feature in _TRENDS:
        return _TRENDS[feature].format(_change(value))
    if feature in _COUNTS:
        return f"{_plural(_count(value), 'deal', 'deals')} {_COUNTS[feature]}"
    if feature == "losses_share":
        return f"{value * 100:.0f} % of the deals closed in the last 180 days were lost"
    if feature == "days_since_last_fact":
        if value >= DAYS_CAP:
            return f"nothing happened for {DAYS_CAP} days or more"
        return f"the last activity was {_plural(round(value), 'day', 'days')} ago"
    if feature == "silence_vs_usual":
        ratio = math.exp(max(min(value, 50.0), -50.0))
        if ratio < 1.5:
            return "no quieter than its usual gap between facts"
        return f"quiet {ratio:.1f} times as long as its usual gap between facts"
    if feature == "certifications_lapsed":
        if value <= 0:
            return "no certification lapsed in the last 90 days"
        return (f"{_plural(round(value), 'certification', 'certifications')} lapsed in the "
                f"last 90 days without renewal")
    if feature == "certifications_active":
        if value <= 0:
            return "no active certification"
        return _plural(round(value), "active certification", "active certifications")
    if feature in ("psat_change", "nps_change"):
        name = "PSAT" if feature == "psat_change" else "NPS answers"
        if abs(value) < 0.05:
            return f"{name} held level against the year before"
        return (f"{name} {'rose' if value > 0 else 'fell'} {abs(value):.1f} points against the "
                f"year before")
    if feature in ("psat_known", "nps_known"):
        name = "PSAT" if feature == "psat_known" else "NPS"
        if value:
            return f"{name} answers both recently and in the year before"
        return f"no {name} answers to compare"
    if feature == "onboarded_recently":
        return ("onboarded in the last 365 days" if value
                else "no onboarding completed in the last 365 days")
    return f"{feature} is {value:g}"


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The chance that a positive scores above a negative (ties count half): the Mann-Whitney
    statistic from mid-ranks. Needs at least one of each."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError("auc needs at least one positive and one negative")
    rank_sum = math.fsum(r for r, label in zip(ranks, labels, strict=True) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def brier(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    """The mean squared gap between probability and outcome (0 or 1)."""
    if len(probabilities) != len(labels) or not labels:
        raise ValueError("brier needs as many probabilities as labels, at least one")
    return math.fsum((float(p) - (1.0 if y else 0.0)) ** 2
                     for p, y in zip(probabilities, labels, strict=True)) / len(labels)
