"""The customer's blocking keys: one spelling of its name and one of its domain, whatever way a
partner wrote them.

``name_key`` folds what differs between two spellings of one company and not between two
companies: scripts (transliterated to Latin), diacritics, case, punctuation, ``&``/``+``/``and``,
legal forms in many countries (``cleanco``'s terms and a list of forms it does not cover, as
prefixes and suffixes, repeatedly: ``Samsung Electronics Co., Ltd.`` -> ``samsung
electronics``), and a few abbreviations (``Intl`` -> ``international``). ``domain_key`` is the
registrable domain (public suffix list): ``www.shop.acme.co.uk`` -> ``acme.co.uk``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from anyascii import anyascii
from cleanco.clean import prepare_default_terms
from publicsuffixlist import PublicSuffixList

from prm_deals.matching.aliases import known_company

# Legal forms cleanco leaves, as they read once punctuation is gone (``S.A.`` -> ``sa``).
_SUFFIX_FORMS = tuple(tuple(form.split()) for form in (
    "co", "company", "corp", "inc", "ltd", "llc", "plc", "sa", "sab de cv", "sa de cv", "sab de",
    "sa de", "sab",
    "s de rl de cv", "de cv", "nv", "bv", "as", "asa", "ab", "oy", "oyj", "kk", "tbk", "pjsc",
    "ojsc", "cjsc", "jsc", "ooo", "oao", "zao", "pao", "ao", "spa", "srl", "sarl", "sas",
    "gmbh", "kg", "ag", "se", "aktiengesellschaft", "sp z oo", "sro", "aps", "pty",
    "pty ltd", "pte ltd", "sdn bhd", "bhd", "kabushiki kaisha", "yugen kaisha", "limited",
    "incorporated", "corporation", "lp", "llp", "ulc", "ltda", "sl", "slu", "eirl", "gk",
    "ae", "epe", "ike", "oe", "ad", "ead", "ood", "eood", "nyrt", "zrt", "kft", "dd", "doo",
    "kgaa", "ag and co kgaa", "gmbh and co kg", "ag and co kg", "lda", "sca", "aktiebolaget",
    "aksjeselskap", "aktieselskab", "osakeyhtio",
))
# Legal forms written in scripts that transliteration would turn into ordinary words
# (株式会社 -> "zhushihuishe"): removed before transliterating.
_NATIVE_FORMS = re.compile(
    "株式会社|有限会社|合同会社|股份有限公司|控股有限公司|有限责任公司|有限公司|[(（]株[)）]|㈱"
    "|주식회사|유한회사|[(（]주[)）]|㈜")
_PREFIX_FORMS = tuple(tuple(form.split()) for form in (
    "the", "pt", "ab", "ooo", "oao", "zao", "pao", "ao", "pjsc", "jsc", "kk",
    "kabushiki kaisha", "cv", "ud", "tov", "pp", "aktiebolaget",
))
# Legal forms no company name uses as an ordinary word: dropped wherever they stand
# ("Bosch GmbH Robert").
_ANYWHERE_FORMS = frozenset({"gmbh", "ltd", "llc", "inc", "plc", "kgaa", "pjsc", "ooo", "sarl",
                             "bv", "nv", "spa"})
# Spellings of one word that partners use interchangeably.
_ABBREVIATIONS = {
    "intl": "international", "int'l": "international", "mfg": "manufacturing",
    "natl": "national", "bros": "brothers", "hldgs": "holdings", "hldg": "holding",
    "grp": "group", "cie": "compagnie", "cia": "compania", "gebr": "gebruder",
    "svcs": "services", "svc": "services", "ctr": "center", "centre": "center",
    "assn": "association", "assoc": "associates", "univ": "university", "tech": "technology",
    "technologies": "technology", "labs": "laboratories", "lab": "laboratory",
    "sys": "systems", "mgmt": "management", "dept": "department", "st": "saint",
}
_AND = re.compile(r"\s*(?:&|\+)\s*")
_DOTTED = re.compile(r"[.'’]")  # S.A. -> SA, O'Neil -> ONeil
_WEB_NAME = re.compile(r"\.(?:com|net|org|io|ai|co)\b")  # Salesforce.com, Amazon.com
_NOT_WORD = re.compile(r"[^a-z0-9]+")
# Mail and hosting domains many unrelated customers share: never a sign of the same customer.
SHARED_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
    "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net",
    "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com", "126.com", "naver.com",
    "wordpress.com", "wixsite.com", "blogspot.com", "sharepoint.com", "linkedin.com",
    "facebook.com",
})

_psl = PublicSuffixList()


def _words(text: str) -> list[str]:
    """A text as the keys' words: transliterated, lower-case, ``&`` as ``and``, no dots or
    apostrophes, other punctuation a space."""
    text = _AND.sub(" and ", anyascii(text).lower())
    return _NOT_WORD.sub(" ", _DOTTED.sub("", _WEB_NAME.sub("", text))).split()


def _by_last_word(forms: Iterable[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    index: dict[str, list[tuple[str, ...]]] = {}
    for form in sorted(set(forms), key=len, reverse=True):  # longest first
        index.setdefault(form[-1], []).append(form)
    return index


# Suffixes: ours and cleanco's legal terms of many countries, looked up by their last word.
_SUFFIXES = _by_last_word([*_SUFFIX_FORMS, *(
    tuple(_words(" ".join(parts))) for _, parts in prepare_default_terms())])
_PREFIXES = {form[0]: [f for f in _PREFIX_FORMS if f[0] == form[0]] for form in _PREFIX_FORMS}


def _strip_forms(tokens: list[str]) -> list[str]:
    """Drop legal forms at either end, repeatedly, never down to nothing."""
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        for form in _SUFFIXES.get(tokens[-1], ()):
            if len(tokens) > len(form) and tuple(tokens[-len(form):]) == form:
                tokens, changed = tokens[:-len(form)], True
                break
        for form in _PREFIXES.get(tokens[0], ()) if len(tokens) > 1 else ():
            if len(tokens) > len(form) and tuple(tokens[:len(form)]) == form:
                tokens, changed = tokens[len(form):], True
                break
        if len(tokens) > 1 and tokens[-1] == "and":  # "Acme & Co." -> "acme and"
            tokens, changed = tokens[:-1], True
    return tokens


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """The name as the matcher compares it; ``""`` only for a name without letters or
    digits."""
    text = _NATIVE_FORMS.sub(" ", unicodedata.normalize("NFKC", name))
    tokens = [_ABBREVIATIONS.get(t, t) for t in _words(text.replace(",", " "))]
    tokens = [t for t in tokens if t not in _ANYWHERE_FORMS] or tokens
    return " ".join(_strip_forms(tokens))


# Words many unrelated companies share; alone they prove nothing.
GENERIC_WORDS = frozenset("""
    and of the for de del la le les des du der die das und et y e di da van von al el
    group groupe grupo gruppe groep holding holdings international global worldwide company
    companies services service solutions solution systems system technology bank banco banque
    bancorp insurance assurance industries industry industrial partners partner consulting
    software trading enterprises enterprise general national united first capital financial
    finance management energy motors motor airlines airways air electric electronics
    communications telecom pharmaceuticals pharma healthcare health foods food media networks
    network digital data laboratories laboratory resources investments investment logistics
    manufacturing products associates brothers center university hospital trust securities
    retail stores store business consultants agency studio studios design marketing labs
    engineering construction properties realty real estate automotive chemicals chemical
    medical care home new north south east west central pacific atlantic
""".split())


def distinctive(tokens: list[str]) -> list[str]:
    """The words that tell a company apart: not common words, not lone initials."""
    return [t for t in tokens if t not in GENERIC_WORDS and len(t) > 1]


def core_key(key: str) -> str:
    """A name key's distinctive words (the whole key if it has none): what candidates are
    searched by, so that a common word shared by thousands of names (``systems``) does not
    make them all look alike to the index."""
    return " ".join(distinctive(key.split())) or key


def compact(key: str) -> str:
    """The key without spaces: ``pay pal`` and ``paypal`` are one spelling."""
    return key.replace(" ", "")


# Letters that transliterations of one name disagree on (Яндекс -> "yandeks", Лукойл ->
# "lukoyl", Софарма -> "sofarma"; Korean's revised romanisation against companies' own
# spellings, 삼성 -> "samseong" / Samsung, 현대 -> "hyeondae" / Hyundai; Greek's αι,
# Μυτιληναίος -> "mytilinaios" / Mytilineos). In this order: "ai" before "eo".
_SOUNDS = (("ph", "f"), ("ks", "x"), ("kh", "h"), ("ck", "k"), ("q", "k"), ("y", "i"),
           ("w", "v"), ("ou", "u"), ("tz", "z"), ("ae", "e"), ("oe", "o"), ("ue", "u"),
           ("ai", "e"), ("eo", "u"))


_DOUBLED = re.compile(r"(.)\1+")


@lru_cache(maxsize=65536)
def sound_key(key: str) -> str:
    for written, heard in _SOUNDS:
        if written in key:
            key = key.replace(written, heard)
    return _DOUBLED.sub(r"\1", key)


# Distinctive words this long or longer are also blocked under each one-letter deletion, so
# that one typo (a letter wrong, missing, added, or two swapped) still meets the right name.
TYPO_LENGTH = 7
# Words an initialism may skip ("NTT" of "Nippon Telegraph and Telephone").
_SMALL_WORDS = frozenset("and of the for de des du la le les et y e und der die das di del da "
                         "van von".split())
# Initialisms this long at least are blocking keys (two letters would block thousands of names
# together); an acronym is at most this long.
INITIALS_SHORTEST, INITIALS_LONGEST = 3, 6


def initials(key: str) -> tuple[str, ...]:
    """The initialisms a name of two words or more may be written as: the first letters of all
    its words and of its words but the small ones (``international business machines`` ->
    ``ibm``, ``nippon telegraph and telephone`` -> ``ntt``), longest first."""
    tokens = key.split()
    if len(tokens) < 2:
        return ()
    found = {"".join(t[0] for t in tokens),
             "".join(t[0] for t in tokens if t not in _SMALL_WORDS)}
    return tuple(sorted((i for i in found if len(i) >= 2), key=lambda i: (-len(i), i)))


def acronym(key: str) -> str | None:
    """The name as an initialism, if it can be one: a short name of one or two short words
    (``ibm``, ``pko bp`` -> ``pkobp``), without spaces."""
    tokens = key.split()
    joined = compact(key)
    if 1 <= len(tokens) <= 2 and INITIALS_SHORTEST <= len(joined) <= INITIALS_LONGEST \
            and joined.isalnum():
        return joined
    return None


def _initial_blocks(key: str, scope: str, *, lookup: bool) -> set[str]:
    """A long name is stored under its initialisms (``i``) and an acronym under itself
    (``a``); a lookup asks for the other kind, so that long names never meet each other (nor
    acronyms each other) by initials alone."""
    kinds = ("a", "i") if lookup else ("i", "a")
    found = {f"{scope}|{kinds[0]}|{i}" for i in initials(key)
             if INITIALS_SHORTEST <= len(i) <= INITIALS_LONGEST}
    if short := acronym(key):
        found.add(f"{scope}|{kinds[1]}|{short}")
    return found


def _name_blocks(key: str, scope: str) -> set[str]:
    core = core_key(key)
    found = {f"{scope}|c|{compact(core)}", f"{scope}|s|{sound_key(compact(core))}"}
    words = distinctive(key.split())
    for word in words:
        found.add(f"{scope}|w|{word}")
        if len(word) >= TYPO_LENGTH:
            found.add(f"{scope}|d|{word}")
            found.update(f"{scope}|d|{word[:i]}{word[i + 1:]}" for i in range(len(word)))
    if company := known_company(key):  # a name the alias table knows: the company's id
        found.add(f"{scope}|k|{company.key}")
    return found


def blocks(key: str, scope: str) -> list[str]:
    """The blocking keys a name is stored under, within ``scope`` (a country, or ``*``): its
    distinctive words whole and, when long, with each letter deleted; its distinctive part
    without spaces and as pronounced; the well-known company it names (``aliases.csv``); its
    initialisms, or itself as an acronym. Two names that could score a conflict share one, and
    the index looks up each in the same time whatever the table's size."""
    return sorted(_name_blocks(key, scope) | _initial_blocks(key, scope, lookup=False))


def candidate_blocks(key: str, scope: str) -> tuple[list[str], list[str]]:
    """The keys to look a name's candidates up by, in two lists: the name's own keys, and its
    initials' (which meet the other kind: an acronym finds the long names it may stand for,
    a long name the acronyms of it). Looked up apart, each with its own limit, so that the many
    names sharing an initialism never crowd out the few sharing a word."""
    return (sorted(_name_blocks(key, scope)),
            sorted(_initial_blocks(key, scope, lookup=True)))


def match_blocks(key: str, scope: str) -> list[str]:
    """The keys for matching two stored sets of names against each other by overlap (account
    mapping): ``blocks``, but with an initialism and an acronym under one kind, so that
    ``IBM`` and ``International Business Machines`` share a key both ways."""
    initial = {*(i for i in initials(key) if INITIALS_SHORTEST <= len(i) <= INITIALS_LONGEST),
               *filter(None, [acronym(key)])}
    return sorted(_name_blocks(key, scope) | {f"{scope}|n|{i}" for i in initial})


@lru_cache(maxsize=65536)
def domain_key(domain: str | None) -> str | None:
    """The registrable domain (``shop.acme.co.uk`` -> ``acme.co.uk``), or None for no domain
    or one that many customers share (a mail provider's)."""
    if not domain:
        return None
    host = domain.strip().lower().rstrip(".")
    host = host.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    registrable = _psl.privatesuffix(host) or host
    return None if registrable in SHARED_DOMAINS else registrable
