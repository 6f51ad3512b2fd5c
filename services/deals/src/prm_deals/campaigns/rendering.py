"""Co-branded assets from the vendor's templates: merge fields only, sandboxed, escaped.

A template may say ``{{ partner.name }}``, ``{{ links.trial }}``, ``{% if partner.phone %}`` and
pass a value through a few text filters; nothing else. Templates are checked when they are saved
(``check``): any other construct (loops, calls, item access, assignments, includes, imports,
macros, blocks) is refused with its line, so rendering is linear in the template's size and no
template can name a Python attribute, a file or the network. Rendering runs in Jinja's
immutable sandbox without a loader all the same, and with ``StrictUndefined`` names the
check already refused cannot arise at render time.

The values (the partner's brand, the campaign's links) are data, never templates: template
syntax in a partner's name is printed as the text it is. In HTML every value is escaped; links
and URLs are validated as https when they are saved (escaping does not stop a ``javascript:``
URL in an ``href``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The merge fields of the partner's brand profile a template may use.
BRAND_FIELDS = ("name", "logo_url", "website", "email", "phone", "address",
                "value_proposition", "tagline", "booking_url")
# What a template may read of the campaign.
CAMPAIGN_FIELDS = ("name",)
# Filters that only change text and never make it longer than a constant more (``replace``
# with an empty pattern would multiply a value's length: left out).
FILTERS = frozenset({"upper", "lower", "title", "capitalize", "trim", "default", "e", "escape",
                     "striptags", "truncate"})
_ALLOWED = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr,
            nodes.Const, nodes.If, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not,
            nodes.Compare, nodes.Operand, nodes.Filter, nodes.Concat)
_COMPARISONS = frozenset({"eq", "ne"})
MAX_TEMPLATE = 100_000


class TemplateRefused(ValueError):
    """A template that is not merge fields only; ``line`` where it is."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=html, undefined=StrictUndefined,
                                        loader=None, cache_size=0, auto_reload=False)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.tests = {}
    return env


_HTML = _environment(html=True)
_TEXT = _environment(html=False)


def _root_fields(root: str, links: frozenset[str]) -> frozenset[str] | None:
    return {"partner": frozenset(BRAND_FIELDS), "campaign": frozenset(CAMPAIGN_FIELDS),
            "links": links}.get(root)


def check(source: str, links: frozenset[str]) -> None:
    """Refuse a template that is anything but merge fields (``TemplateRefused``)."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateRefused(f"a template is at most {MAX_TEMPLATE} characters", None)
    try:
        tree = _HTML.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateRefused(f"template syntax: {error.message}", error.lineno) from None
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", None)
        if not isinstance(node, _ALLOWED):
            raise TemplateRefused(f"{type(node).__name__.lower()} is not allowed: templates "
                                  "hold merge fields, conditions and text filters only", line)
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise TemplateRefused(f"the filter {node.name!r} is not allowed (allowed: "
                                  f"{', '.join(sorted(FILTERS))})", line)
        if isinstance(node, nodes.Operand) and node.op not in _COMPARISONS:
            raise TemplateRefused("only == and != compare", line)
        if isinstance(node, nodes.Name):
            if node.ctx != "load" or _root_fields(node.name, links) is None:
                raise TemplateRefused(f"unknown name {node.name!r}: use partner.<field>, "
                                      "campaign.name or links.<key>", line)
        if isinstance(node, nodes.Getattr):
            if not isinstance(node.node, nodes.Name):
                raise TemplateRefused("merge fields are one level deep (partner.name)", line)
            fields = _root_fields(node.node.name, links)
            if fields is None or node.attr not in fields:
                raise TemplateRefused(f"unknown merge field {node.node.name}.{node.attr}", line)
    for name in tree.find_all(nodes.Name):
        # A bare root (``{{ partner }}``) would print a mapping: only its fields are values.
        if not any(isinstance(g, nodes.Getattr) and g.node is name
                   for g in tree.find_all(nodes.Getattr)):
            raise TemplateRefused(f"name a field of {name.name!r} ({name.name}.<field>)",
                                  name.lineno)


def fields_used(source: str) -> frozenset[str]:
    """The brand fields a (checked) template reads."""
    tree = _HTML.parse(source)
    return frozenset(g.attr for g in tree.find_all(nodes.Getattr)
                     if isinstance(g.node, nodes.Name) and g.node.name == "partner")


def tracked(url: str, *, ref: str, campaign: str, asset: str) -> str:
    """``url`` with the launch's tracking code and UTM parameters (ours replace the same
    names already there; the rest of its query is kept)."""
    parts = urlsplit(url)
    ours = {"utm_source": "partner", "utm_medium": "channel", "utm_campaign": campaign,
            "utm_content": asset, "prm_ref": ref}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    return urlunsplit(parts._replace(query=urlencode([*query, *ours.items()])))


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Any:
    # Published versions never change, so their compiled templates are kept.
    return (_HTML if html else _TEXT).from_string(source)


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    html: str | None
    text: str | None


def render(asset: dict[str, Any], *, brand: dict[str, str | None], campaign_name: str,
           links: dict[str, str]) -> Rendered:
    """One asset's subject, HTML body and plain-text body, with these values."""
    values = {"partner": {f: brand.get(f) or "" for f in BRAND_FIELDS},
              "campaign": {"name": campaign_name}, "links": links}

    def run(source: str | None, *, html: bool) -> str | None:
        if source is None:
            return None
        return _compiled(source, html).render(values)
    return Rendered(subject=run(asset.get("subject"), html=False),
                    html=run(asset.get("html"), html=True),
                    text=run(asset.get("text"), html=False))
