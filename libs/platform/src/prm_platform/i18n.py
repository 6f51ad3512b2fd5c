"""Problem details in the caller's language: ``Accept-Language`` negotiation and the message
catalogues.

The catalogues are gettext PO files, ``locales/<lang>/LC_MESSAGES/problems.po`` beside this
module, whose ``msgid`` is the English the code writes. They are read once per language, when
a problem first has to be put in it (babel's PO reader: no compiled ``.mo`` to build). Three
kinds of entries:

- problem titles, under ``msgctxt "title"``: one per problem type (platform and declared ones);
- fixed sentences (``detail`` and ``errors[].message``), looked up as they are;
- templates with ``{name}`` placeholders (``partner {partner_id} is {status}``): the English
  text is matched against the template and the values it holds are put into the translation
  as they are (ids, statuses, field names and amounts are never translated).

Whatever has no translation stays English. ``type``, ``status``, codes, field names and every
other member of a problem never change. ``scripts/problem_messages.py`` lists the messages the
code writes and adds new ones to the catalogues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "problems"
DEFAULT_LANGUAGE = "en"  # the language of the code's messages (the catalogues' msgids)
TRANSLATED = ("de", "fr", "es", "ja")
LANGUAGES = (DEFAULT_LANGUAGE, *TRANSLATED)
TITLE_CONTEXT = "title"

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A language range (RFC 4647): ``*`` or letters/digits in subtags of at most 8.
_RANGE = re.compile(r"^(\*|[a-z]{1,8}(-[a-z0-9]{1,8})*)$")
_MAX_RANGES = 32


def catalogue_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def placeholders(message: str) -> list[str]:
    """The ``{name}`` placeholders of a message, in order."""
    return PLACEHOLDER.findall(message)


# -- negotiation ----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def negotiate(accept_language: str | None) -> str:
    """The language of ``LANGUAGES`` to answer in (RFC 9110 12.5.4): the caller's ranges by
    quality (ties in their order), each looked up as RFC 4647 does (``de-CH`` -> ``de``),
    ``*`` for any (English); a range with ``q=0`` is refused. English when nothing matches."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language[:2000].split(",")[:_MAX_RANGES]):
        tag, *params = (part.strip() for part in item.split(";"))
        tag = tag.lower()
        if not _RANGE.match(tag):
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((quality, -position, tag))
    refused = {tag for quality, _, tag in ranges if quality == 0}
    for quality, _, tag in sorted(ranges, reverse=True):
        if quality == 0:
            break
        if tag == "*":
            found = next((lang for lang in LANGUAGES if lang not in refused), None)
        else:
            found = _lookup(tag, refused)
        if found is not None:
            return found
    return DEFAULT_LANGUAGE


def _lookup(tag: str, refused: set[str]) -> str | None:
    """RFC 4647 3.4 lookup: the range, then ever shorter prefixes of it (a single-letter
    subtag goes with the one after it)."""
    while tag:
        if tag in LANGUAGES and tag not in refused:
            return tag
        tag = tag.rpartition("-")[0]
        if len(tag) > 1 and tag[-2] == "-":
            tag = tag[:-2]
    return None


# -- the catalogues ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    translation: str


class Catalogue:
    """One language's translations of titles, sentences and templates."""

    def __init__(self, language: str, entries: dict[tuple[str | None, str], str]) -> None:
        self.language = language
        self.titles = {msgid: text for (context, msgid), text in entries.items()
                       if context == TITLE_CONTEXT}
        self.sentences: dict[str, str] = {}
        templates: list[tuple[int, _Template]] = []
        for (context, msgid), text in entries.items():
            if context is not None:
                continue
            if not placeholders(msgid):
                self.sentences[msgid] = text
            elif literal := len(PLACEHOLDER.sub("", msgid)):
                templates.append((literal, _Template(_pattern(msgid), text)))
        # The most specific first: the template with the most fixed text wins.
        self.templates = [t for _, t in sorted(templates, key=lambda item: -item[0])]

    def title(self, english: str) -> str:
        return self.titles.get(english, english)

    def text(self, english: str) -> str:
        """A detail or field message in this language; itself when there is no translation."""
        if (found := self.sentences.get(english)) is not None:
            return found
        for template in self.templates:
            if (match := template.pattern.fullmatch(english)) is not None:
                return _fill(template.translation, match.groupdict())
        return english


def _fill(translation: str, values: dict[str, str]) -> str:
    """The translation with the English's values in its placeholders (no format spec is
    interpreted: a value is text)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), translation)


def _pattern(msgid: str) -> re.Pattern[str]:
    parts, seen, position = [], set(), 0
    for match in PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[position:match.start()]))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        position = match.end()
    parts.append(re.escape(msgid[position:]))
    return re.compile("".join(parts), re.DOTALL)


def read_entries(language: str) -> dict[tuple[str | None, str], str]:
    """The catalogue's translated entries, ``(msgctxt, msgid) -> msgstr``: neither empty nor
    fuzzy ones."""
    path = catalogue_path(language)
    if not path.exists():
        return {}
    with path.open("rb") as file:
        catalog = read_po(file, locale=language, domain=DOMAIN)
    entries: dict[tuple[str | None, str], str] = {}
    for message in catalog:
        if not message.id or message.fuzzy or not isinstance(message.id, str):
            continue
        if isinstance(message.string, str) and message.string:
            entries[(message.context, message.id)] = message.string
    return entries


@cache
def catalogue(language: str) -> Catalogue:
    return Catalogue(language, {} if language == DEFAULT_LANGUAGE else read_entries(language))


def localise_problem(body: dict[str, Any], language: str) -> dict[str, Any]:
    """The problem document with ``title``, ``detail`` and each ``errors[].message`` in
    ``language`` where the catalogue has them; every other member as it is."""
    if language == DEFAULT_LANGUAGE:
        return body
    words = catalogue(language)
    localised = dict(body)
    if isinstance(title := body.get("title"), str):
        localised["title"] = words.title(title)
    if isinstance(detail := body.get("detail"), str):
        localised["detail"] = words.text(detail)
    if isinstance(errors := body.get("errors"), list):
        localised["errors"] = [
            {**error, "message": words.text(error["message"])}
            if isinstance(error, dict) and isinstance(error.get("message"), str) else error
            for error in errors]
    return localised
