"""The conflict matcher on its own: normalisation, scoring, and the labelled evaluation sets."""

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prm_deals.matching.normalise import domain_key, name_key
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
    account = _customer("Toyota Motor Corporation", "JP")
    new = _customer("トヨタ自動車", "JP")
    assert not compare(new, account).conflict
    match = compare(new, account, alias_names=(name_key("トヨタ自動車"),))
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


def evaluate(path: Path) -> tuple[float, float, int]:
    tp = fp = fn = 0
    with path.open(newline="") as rows:
        pairs = list(csv.DictReader(rows))
    for row in pairs:
        aliases = tuple(name_key(a) for a in row["b_aliases"].split("|") if a)
        predicted = compare(_customer(row["a_name"], row["a_country"], row["a_domain"]),
                            _customer(row["b_name"], row["b_country"], row["b_domain"]),
                            alias_names=aliases).conflict
        same = row["same"] == "1"
        tp += predicted and same
        fp += predicted and not same
        fn += same and not predicted
    return tp / (tp + fp), tp / (tp + fn), len(pairs)


@pytest.mark.parametrize(("file", "precision_floor", "recall_floor"), [
    ("customer_pairs.csv", 0.98, 0.97),
    ("customer_pairs_holdout.csv", 0.93, 0.93),
])
def test_labelled_pairs(file: str, precision_floor: float, recall_floor: float) -> None:
    precision, recall, count = evaluate(DATA / file)
    print(f"{file}: {count} pairs, precision {precision:.3f}, recall {recall:.3f}")
    assert count >= 80
    assert precision >= precision_floor
    assert recall >= recall_floor
