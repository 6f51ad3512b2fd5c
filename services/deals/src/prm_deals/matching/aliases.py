"""Well-known companies' other names: the bundled table ``aliases.csv`` (one row a company: its
name, its home country, and the names it is also known by, separated by ``|``: tickers,
initialisms, former names and its names in its home market's script).

A name is looked up by its key as pronounced and without spaces (``normalise.sound_key`` of
``normalise.compact``), so ``Hyundai Motor Co.`` and ``Hyundai Motors`` find the same row as
``현대자동차``. A spelling that two rows share (``Merck`` of Merck & Co. and of Merck KGaA) names
neither: the table only ever answers for a name that is one company's. It is read once per
process, on first use, into a dictionary: a lookup costs one hash, whatever the table's size.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

# A spelling shorter than this is never looked up (``F``, Ford's ticker, names nothing).
_SHORTEST = 2


@dataclass(frozen=True, slots=True)
class KnownCompany:
    """One row of the table."""

    name: str  # as the table writes it
    country: str
    key: str  # the name's key without spaces: the row's stable id, in blocking keys
    names: tuple[str, ...]  # the name keys of its name and of each alias


def lookup_form(key: str) -> str:
    """The spelling of a name key the table is indexed by."""
    from prm_deals.matching.normalise import compact, sound_key  # noqa: PLC0415 - a cycle

    return sound_key(compact(key))


@lru_cache(maxsize=1)
def table() -> dict[str, KnownCompany]:
    """The bundled table, indexed by ``lookup_form`` of each of its names (ambiguous spellings
    left out)."""
    from prm_deals.matching.normalise import compact, name_key  # noqa: PLC0415 - a cycle

    owners: dict[str, set[int]] = {}
    companies: list[KnownCompany] = []
    text = files(__package__).joinpath("aliases.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        written = [row["name"], *(a for a in row["aliases"].split("|") if a.strip())]
        keys = tuple(dict.fromkeys(k for k in map(name_key, written) if k))
        companies.append(KnownCompany(row["name"], row["country"], compact(keys[0]), keys))
        for key in keys:
            form = lookup_form(key)
            if len(form) >= _SHORTEST:
                owners.setdefault(form, set()).add(len(companies) - 1)
    return {form: companies[next(iter(ids))] for form, ids in owners.items() if len(ids) == 1}


@lru_cache(maxsize=65536)
def known_company(key: str) -> KnownCompany | None:
    """The well-known company a name key names, if the table knows it as that company's
    alone."""
    return table().get(lookup_form(key)) if key else None
