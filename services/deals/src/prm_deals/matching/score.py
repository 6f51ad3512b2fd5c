"""How alike two customers are, with the reasons a person can check.

The database proposes candidates (same registrable domain, or trigram-close names in the same
country); this module re-scores each one. A shared registrable domain is decisive. Names are
compared on their keys (``normalise.name_key``) and judged on the words that tell companies
apart: words that many companies share (``bank``, ``group``, ``general``, ``of``...) cannot make
two names alike by themselves, so ``Bank of America`` and ``Bank of China`` stay apart while
``Acme Corp.`` and ``ACME Corporation`` meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from prm_deals.matching.aliases import known_company
from prm_deals.matching.normalise import acronym, compact, initials, sound_key
from prm_deals.matching.normalise import distinctive as _distinctive
from prm_deals.reasons import Reason, reason

# A score at or above this is a conflict (0..1).
CONFLICT_THRESHOLD = 0.85
# One name is the other with words added ("Acme" / "Acme Widgets"): likely the same customer.
CONTAINED_SCORE = 0.88
# One name abbreviates a run of the other's words ("PKN Orlen").
ACRONYM_SCORE = 0.87
# One name is only the initials of the other's words ("ADP" / "Automatic Data Processing"):
# many companies share initials, so this alone is no conflict; ``compare`` raises it to
# ``ACRONYM_SCORE`` when a domain agrees (``adp.com``) or, for initials this long, the country.
INITIALS_ALONE_SCORE = 0.75
INITIALS_ALONE_LENGTH: int | None = None
# Two names of one company in the bundled table of well-known aliases (``aliases.csv``: "IBM"
# / "International Business Machines", "현대자동차" / "Hyundai Motor"): a conflict the channel
# team reviews, below the score that rejects a registration first come, first served.
KNOWN_ALIAS_SCORE = 0.94
# The same name in two countries is often two companies: a name-only match across borders
# counts this much (a shared domain still decides alone).
OTHER_COUNTRY_FACTOR = 0.8

@dataclass(frozen=True)
class Customer:
    """What the matcher knows of one side: its keys and its country."""

    name_key: str
    domain_key: str | None
    country: str


@dataclass
class Match:
    score: float
    details: list[Reason] = field(default_factory=list)  # each with its code and params

    @property
    def conflict(self) -> bool:
        return self.score >= CONFLICT_THRESHOLD

    @property
    def reasons(self) -> list[str]:
        return [r.text for r in self.details]


def _word_similarity(a: str, b: str, a_sorted: str, b_sorted: str) -> float:
    """0..1 for the distinctive part of two names (and the same with their words sorted),
    stricter than a plain ratio: one typo in a long word is forgiven (``microsfot``), one in a
    short word is another name (``roche`` / ``rocher``)."""
    if a == b:
        return 1.0
    edits = min(OSA.distance(a, b), OSA.distance(a_sorted, b_sorted))
    return max(0.0, 1 - 1.2 * edits / max(len(a), len(b)))


@dataclass(frozen=True, slots=True)
class _Name:
    """What the comparison reads of one name key, worked out once per key: a candidate's key
    meets many new customers, and a bulk push compares each new one with many candidates."""

    tokens: list[str]
    distinctive: list[str]
    compact: str
    distinctive_compact: str
    common: frozenset[str]  # its words that are not distinctive
    sound: str
    words: str  # the distinctive words
    words_sorted: str
    words_sound: str
    words_sound_sorted: str


@lru_cache(maxsize=65536)
def _name(key: str) -> _Name:
    tokens = key.split()
    words = _distinctive(tokens)
    joined = " ".join(words)
    heard = sound_key(joined)
    return _Name(tokens, words, compact(key), compact(joined), frozenset(tokens) - set(words),
                 sound_key(key), joined, " ".join(sorted(words)), heard,
                 " ".join(sorted(heard.split())))


def _initials(acronym: str, words: list[str]) -> bool:
    """``pkn`` for ``polski koncern naftowy``."""
    return len(acronym) >= 3 and len(words) == len(acronym) and all(
        w.startswith(c) for c, w in zip(acronym, words, strict=True))


def _acronym_of(short: list[str], long: list[str]) -> bool:
    """One name writes a run of the other's words as their initials, the rest the same."""
    for i, token in enumerate(short):
        rest = short[:i] + short[i + 1:]
        if not rest:  # the initials alone: ``stands_for``
            continue
        run = len(long) - len(rest)
        if run >= 3 and long[:i] == short[:i] and long[i + run:] == short[i + 1:] \
                and _initials(token, long[i:i + run]):
            return True
    return False


def stands_for(a: str, b: str) -> str | None:
    """The acronym, if one name key is nothing but the initials of the other's words
    (``ibm`` / ``international business machines``, ``ntt`` / ``nippon telegraph and
    telephone``)."""
    for short, long in ((a, b), (b, a)):
        if (letters := acronym(short)) and letters in initials(long):
            return letters
    return None


def name_similarity(a: str, b: str) -> tuple[float, str]:
    """0..1 and how it was reached (a key of ``reasons.NAME_METHODS``), for two name keys."""
    if not a or not b:
        return 0.0, "no_name"
    if a == b:
        return 1.0, "same_name"
    na, nb = _name(a), _name(b)
    if na.compact == nb.compact:
        return 0.98, "same_name_but_spacing"
    ta, tb = na.tokens, nb.tokens
    da, db = na.distinctive, nb.distinctive
    if da and db and na.distinctive_compact == nb.distinctive_compact:
        ga, gb = na.common, nb.common
        if ga <= gb or gb <= ga:  # "Sony" / "Sony Group", not "Bank of China" / "China Bank"
            return 0.95, "same_distinctive_words"
    if na.sound == nb.sound:
        return 0.93, "same_pronunciation"
    whole = max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b)) / 100
    if da and db:
        # The words that set the companies apart must agree, not only the shared ones.
        distinct = max(
            _word_similarity(na.words, nb.words, na.words_sorted, nb.words_sorted),
            _word_similarity(na.words_sound, nb.words_sound, na.words_sound_sorted,
                             nb.words_sound_sorted))
        score, how = min(whole, distinct), "similar_names"
    else:
        # Only common words on one side: weak evidence at best.
        score, how = whole * 0.9, "similar_common_words"
    shorter, longer = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if score < CONTAINED_SCORE and longer[:len(shorter)] == shorter \
            and any(len(t) >= 3 for t in _distinctive(shorter)):
        return CONTAINED_SCORE, "begins_with_other"
    if score < ACRONYM_SCORE and _acronym_of(shorter, longer):
        return ACRONYM_SCORE, "initials"
    if score < INITIALS_ALONE_SCORE and stands_for(a, b):
        return INITIALS_ALONE_SCORE, "initials"
    return score, how


def _initials_confirmed(new: Customer, known: Customer, a: str, b: str) -> bool:
    """Something besides the letters says an acronym is this company's: it is the label of
    either side's registrable domain (``ADP`` and ``adp.com``), or it is long and both are in
    one country."""
    letters = stands_for(a, b)
    if letters is None:
        return False
    labels = {d.split(".", 1)[0] for d in (new.domain_key, known.domain_key) if d}
    return letters in labels or (INITIALS_ALONE_LENGTH is not None and new.country ==
                                 known.country and len(letters) >= INITIALS_ALONE_LENGTH)


def name_score(new: Customer, known: Customer, name: str) -> tuple[float, str]:
    """``name_similarity`` of ``new``'s name and ``name`` (one of ``known``'s), with what the
    names alone cannot tell: an acronym a domain confirms, and two names the bundled alias
    table gives to one company (method ``known_alias``)."""
    score, how = name_similarity(new.name_key, name)
    if how == "initials" and score < ACRONYM_SCORE \
            and _initials_confirmed(new, known, new.name_key, name):
        score = ACRONYM_SCORE
    if score < KNOWN_ALIAS_SCORE and (company := known_company(new.name_key)) is not None \
            and known_company(name) is company:
        return KNOWN_ALIAS_SCORE, "known_alias"
    return score, how


def compare(new: Customer, known: Customer, *, known_names: tuple[str, ...] = (),
            alias_names: tuple[str, ...] = ()) -> Match:
    """How alike ``new`` is to ``known``. ``known_names`` are more name keys of ``known``;
    ``alias_names`` its aliases (a direct account's ``BMW`` for ``Bayerische Motoren Werke``)."""
    reasons: list[Reason] = []
    domain_score = 0.0
    if new.domain_key and new.domain_key == known.domain_key:
        domain_score = 1.0
        reasons.append(reason("same_domain", domain=new.domain_key))
    best, how, matched, via_alias = 0.0, "", known.name_key, False
    for candidate, alias in ([(known.name_key, False)] + [(n, False) for n in known_names]
                             + [(n, True) for n in alias_names]):
        score, reached = name_score(new, known, candidate)
        if score > best:
            best, how, matched, via_alias = score, reached, candidate, alias
    if best > 0:
        if how == "known_alias":  # the reasons' catalogue has no code of its own for it yet
            how, via_alias = "same_name", True
        reasons.append(reason("alias_match" if via_alias else "name_match",
                              score=round(best, 2), method=how, name=new.name_key,
                              matched=matched))
    if new.country != known.country:
        best *= OTHER_COUNTRY_FACTOR
        reasons.append(reason("different_country", country=new.country,
                              other_country=known.country))
    else:
        reasons.append(reason("same_country", country=new.country))
    score = round(max(domain_score, best), 2)
    return Match(score=score, details=reasons)
