"""The conflict matcher on its own: normalisation, scoring, and the labelled evaluation sets."""

import csv
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prm_deals.matching import score
from prm_deals.matching.aliases import known_company, table
from prm_deals.matching.normalise import (
    acronym,
    blocks,
    candidate_blocks,
    domain_key,
    initials,
    match_blocks,
    name_key,
    sound_key,
)
from prm_deals.matching.score import Customer, compare, name_similarity

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("name", "key"), [
    ("ACME Corp.", "acme"),
    ("Acme Corporation", "acme"),
    ("Samsung Electronics Co., Ltd.", "samsung electronics"),
    ("Procter & Gamble Co.", "procter and gamble"),
    ("Nestlé S.A.", "nestle"),
    ("A.P. Møller - Mærsk A/S", "ap moller maersk"),
    ("Газпром ПАО", "gazprom"),
    ("Grupo Bimbo, S.A.B. de C.V.", "grupo bimbo"),
    ("Intl Business Machines Corp", "international business machines"),
    ("Salesforce.com, Inc.", "salesforce"),
    ("株式会社東芝", name_key("東芝")),
    ("Inc.", "inc"),  # a name made only of a legal form keeps it
])
def test_name_keys_fold_spellings_of_one_company(name: str, key: str) -> None:
    assert name_key(name) == key


@pytest.mark.parametrize(("domain", "key"), [
    ("www.shop.acme.co.uk", "acme.co.uk"),
    ("https://Globex.example/contact", "globex.example"),
    ("acme.com.", "acme.com"),
    ("bücher.de", "xn--bcher-kva.de"),
    ("team.github.io", "team.github.io"),  # a private suffix: each site is its own
    ("gmail.com", None),  # shared by unrelated customers
    (None, None),
])
def test_domain_keys_are_registrable_domains(domain: str | None, key: str | None) -> None:
    assert domain_key(domain) == key


def _customer(name: str, country: str = "US", domain: str | None = None) -> Customer:
    return Customer(name_key(name), domain_key(domain), country)


def test_a_conflict_says_why() -> None:
    match = compare(_customer("Acme Corp.", domain="www.acme.com"),
                    _customer("ACME Corporation", domain="shop.acme.com"))
    assert match.conflict and match.score == 1.0
    assert match.reasons == [
        "same registrable domain: acme.com",
        'name match 1.00 after normalisation (same name): "acme" = "acme"',
        "same country: US",
    ]


def test_an_alias_matches_a_name_in_another_script() -> None:
    # (a company the bundled table does not know: the vendor's alias is all there is)
    account = _customer("Kobe Steel, Ltd.", "JP")
    new = _customer("神戸製鋼所", "JP")
    assert not compare(new, account).conflict
    match = compare(new, account, alias_names=(name_key("神戸製鋼所"),))
    assert match.conflict
    assert match.reasons[0].startswith("alias match 1.00")


def test_a_name_alone_in_another_country_is_not_a_conflict() -> None:
    assert compare(_customer("Acme Widgets", "US"), _customer("Acme Widgets", "US")).conflict
    other = compare(_customer("Acme Widgets", "US"), _customer("Acme Widgets", "DE"))
    assert not other.conflict
    assert "different country: US / DE" in other.reasons
    # ... but one registrable domain is one customer wherever the partner placed it.
    assert compare(_customer("Acme Widgets", "US", "acme.com"),
                   _customer("Acme GmbH", "DE", "acme.com")).conflict


@pytest.mark.parametrize(("a", "b"), [
    ("Bank of America", "Bank of China"),
    ("Procter & Gamble", "Unilever"),
    ("General Motors", "General Electric"),
    ("Deutsche Bank", "Deutsche Telekom"),
    ("Roche Holding", "Rocher Holding"),
])
def test_companies_sharing_words_are_told_apart(a: str, b: str) -> None:
    assert not compare(_customer(a), _customer(b)).conflict


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(names, names)
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    ka, kb = name_key(a), name_key(b)
    forward, backward = name_similarity(ka, kb)[0], name_similarity(kb, ka)[0]
    assert 0.0 <= forward <= 1.0
    assert forward == pytest.approx(backward)


@given(names)
def test_a_name_always_matches_itself(name: str) -> None:
    key = name_key(name)
    if key:
        assert compare(Customer(key, None, "FR"), Customer(key, None, "FR")).score == 1.0


def _found(new: Customer, known: Customer, aliases: tuple[str, ...]) -> bool:
    """Whether the conflict check's lookup proposes ``known`` for ``new``: one registrable
    domain, or a shared blocking key (within the country for a registration; anywhere for a
    direct account, which ``known`` is when it has aliases)."""
    if new.domain_key and new.domain_key == known.domain_key:
        return True
    scopes = ("*", "*") if aliases else (new.country, known.country)
    own, by_initials = candidate_blocks(new.name_key, scopes[0])
    stored = {b for key in (known.name_key, *aliases) for b in blocks(key, scopes[1])}
    return not stored.isdisjoint(own + by_initials)


def evaluate(path: Path) -> tuple[float, float, int, Counter[tuple[str, str]]]:
    """Precision, recall, the pairs' count and, per kind, the positives (``same``), the
    conflicts found (``tp``) and the false conflicts (``fp``): a pair is a conflict when the
    lookup proposes b for a and the score says so, as in a registration's check."""
    counts: Counter[tuple[str, str]] = Counter()
    with path.open(newline="", encoding="utf-8") as rows:
        pairs = list(csv.DictReader(rows))
    for row in pairs:
        aliases = tuple(name_key(a) for a in row["b_aliases"].split("|") if a)
        new = _customer(row["a_name"], row["a_country"], row["a_domain"])
        known = _customer(row["b_name"], row["b_country"], row["b_domain"])
        predicted = compare(new, known, alias_names=aliases).conflict and _found(
            new, known, aliases)
        same = row["same"] == "1"
        for kind in (row["kind"], "all"):
            counts[kind, "same"] += same
            counts[kind, "tp"] += predicted and same
            counts[kind, "fp"] += predicted and not same
    tp, fp, same = counts["all", "tp"], counts["all", "fp"], counts["all", "same"]
    return tp / (tp + fp), tp / same, len(pairs), counts


@pytest.mark.parametrize(("file", "precision_floor", "recall_floor", "most_false"), [
    ("customer_pairs.csv", 0.98, 0.97, 1),
    ("customer_pairs_holdout.csv", 0.93, 0.93, 2),
    ("customer_pairs_aliases.csv", 0.99, 0.78, 0),
])
def test_labelled_pairs(file: str, precision_floor: float, recall_floor: float,
                        most_false: int) -> None:
    precision, recall, count, counts = evaluate(DATA / file)
    print(f"{file}: {count} pairs, precision {precision:.3f}, recall {recall:.3f}")
    assert count >= 80
    assert precision >= precision_floor
    assert recall >= recall_floor
    assert counts["all", "fp"] <= most_false  # no more false conflicts than before aliases


# The alias file's kinds, each with a recall floor (its false conflicts are counted above).
ALIAS_KINDS = {"initialism": 0.75, "script": 0.75, "transliteration": 0.75}


def test_alias_pairs_by_kind() -> None:
    *_, counts = evaluate(DATA / "customer_pairs_aliases.csv")
    for kind, floor in ALIAS_KINDS.items():
        recall = counts[kind, "tp"] / counts[kind, "same"]
        print(f"customer_pairs_aliases.csv {kind}: {counts[kind, 'same']} positives, recall "
              f"{recall:.3f}, {counts[kind, 'fp']} false conflicts")
        assert counts[kind, "same"] >= 20
        assert recall >= floor


@pytest.mark.parametrize(("a", "b"), [
    ("IBM", "International Business Machines Corporation"),
    ("NTT", "Nippon Telegraph and Telephone Corporation"),
    ("현대자동차", "Hyundai Motor Company"),
    ("日立製作所", "Hitachi, Ltd."),
    ("Сбербанк России", "Sberbank"),
    ("أرامكو السعودية", "Saudi Aramco"),
])
def test_the_alias_table_knows_a_company_by_its_other_names(a: str, b: str) -> None:
    new, known = _customer(a, "XX"), _customer(b, "XX")
    company = known_company(new.name_key)
    assert company is not None and company is known_company(known.name_key)
    match = compare(new, known)
    assert match.conflict and match.score == score.KNOWN_ALIAS_SCORE
    assert match.reasons[0].startswith(f"alias match {score.KNOWN_ALIAS_SCORE:.2f}")
    assert _found(new, known, ())  # one blocking key: the company's
    # ... but a name and an alias of one company in two countries are no conflict alone.
    assert not compare(new, _customer(b, "YY")).conflict


def test_a_spelling_two_companies_share_names_neither() -> None:
    # "Merck" is Merck & Co.'s and Merck KGaA's: the table answers for their other names only.
    assert known_company(name_key("Merck")) is None
    assert known_company(name_key("MSD")) is known_company(name_key("Merck Sharp & Dohme"))
    assert known_company(name_key("EMD")) is not known_company(name_key("MSD"))
    assert all(len(form) >= 2 for form in table())


def test_the_alias_table_is_read_once_and_indexed() -> None:
    assert table() is table()
    # Every row's every name finds the row back (or is a spelling it shares with another).
    with (Path(score.__file__).parent / "aliases.csv").open(encoding="utf-8") as rows:
        parsed = list(csv.DictReader(rows))
    assert len(parsed) >= 300
    assert {row["country"] for row in parsed} >= {"JP", "KR", "CN", "TW", "RU", "GR", "SA",
                                                  "AE", "IL", "TH", "IN", "US", "DE"}
    found = sum(known_company(name_key(row["name"])) is not None for row in parsed)
    assert found >= len(parsed) - 5


@pytest.mark.parametrize(("key", "expected"), [
    ("automatic data processing", ("adp",)),
    ("nippon telegraph and telephone", ("ntat", "ntt")),
    ("electricite de france", ("edf", "ef")),
    ("ibm", ()),
])
def test_initials_of_a_name(key: str, expected: tuple[str, ...]) -> None:
    assert initials(key) == expected


def test_initials_are_blocking_keys_of_the_other_kind() -> None:
    assert acronym("ibm") == "ibm" and acronym("pko bp") == "pkobp"
    assert acronym("international business machines") is None
    long, short = "international business machines", "ibm"
    assert "US|i|ibm" in blocks(long, "US") and "US|a|ibm" in blocks(short, "US")
    assert "US|a|ibm" in candidate_blocks(long, "US")[1]
    assert "US|i|ibm" in candidate_blocks(short, "US")[1]
    # Two long names with one set of initials never meet by them.
    other = "independent bank of michigan"
    assert set(candidate_blocks(other, "US")[1]).isdisjoint(blocks(long, "US"))
    # The symmetric keys (account mapping's) meet both ways.
    assert "US|n|ibm" in set(match_blocks(long, "US")) & set(match_blocks(short, "US"))


@pytest.mark.parametrize(("a", "b", "domain", "conflict"), [
    # (companies the bundled table does not know)
    ("KLM", "Koninklijke Luchtvaart Maatschappij", None, False),  # many share initials
    ("KLM", "Koninklijke Luchtvaart Maatschappij", "klm.com", True),  # its domain says KLM
    ("MTR", "Mass Transit Railway Corporation", "www.mtr.com.hk", True),
    ("KLM", "Koninklijke Lampen Maatschappij", "lampen.example", False),
])
def test_initials_alone_need_something_else_to_agree(a: str, b: str, domain: str | None,
                                                     conflict: bool) -> None:
    match = compare(_customer(a, "NL"), _customer(b, "NL", domain))
    assert match.conflict is conflict


@pytest.mark.parametrize(("a", "b"), [
    ("samseong", "samsung"), ("hyeondae", "hyundai"), ("mytilinaios", "mytilineos"),
])
def test_transliterations_sound_alike(a: str, b: str) -> None:
    assert sound_key(a) == sound_key(b)
