"""Service declarations: each service says, in one place of its own package, what it is.

A service's ``prm_<ctx>/declaration.py`` holds a ``ServiceDeclaration`` (plain data, cheap to
import) and its ``pyproject.toml`` names it under the ``prm.services`` entry point group::

    [project.entry-points."prm.services"]
    deals = "prm_deals.declaration:SERVICE"

Everything that has to know the set of services reads the declarations instead of keeping its
own list: the ``make run`` supervisor (processes, migrations), the gateway (routes, scopes,
upstreams, problem types), the contract generator, the import contracts and the deployment
checks. Adding a service is a new folder under ``services/`` with its declaration.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "prm.services"

_NAME = re.compile(r"^[a-z][a-z0-9]{0,30}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9_]*:(read|write)$")
_SLUG = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Scope:
    """A permission an API key or user may hold, e.g. ``deals:write``."""

    name: str
    description: str
    # Partner principals (keys and users bound to one org) may hold it; ``partner_default``
    # scopes are what a new partner key gets when none are named.
    partner: bool = False
    partner_default: bool = False


@dataclass(frozen=True)
class RoutePrefix:
    """A public path prefix the service owns, and the scopes the edge demands for it."""

    prefix: str
    read: str
    write: str
    # GET on the prefix itself lists the resource (a page of items). False for a prefix that
    # only takes actions, such as a bulk push.
    lists: bool = True


@dataclass(frozen=True)
class ServiceDeclaration:
    name: str
    schema: str
    description: str
    # ``module:factory`` of the FastAPI app (``uvicorn --factory``); None for worker-only.
    app: str | None = None
    # Module run as ``python -m <worker>``; None if the service has no worker.
    worker: str | None = None
    # The edge (the gateway): started last, on the public port, told every API's URL.
    edge: bool = False
    routes: tuple[RoutePrefix, ...] = ()
    scopes: tuple[Scope, ...] = ()
    # Problem types (slug -> sentence) that only this service emits.
    problems: Mapping[str, str] = field(default_factory=dict)
    publishes: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    # The service's alembic.ini in a source checkout (what ``make run`` and the tests use;
    # images run their migrations by path, see deploy/); ascending ``migration_order``.
    migrations: Path | None = None
    migration_order: int = 100
    # Port the API listens on in docker-compose and Kubernetes (inside its container/pod).
    port: int = 8000

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"service name {self.name!r}: lower-case letters and digits only")
        for scope in self.scopes:
            if not _SCOPE.match(scope.name):
                raise ValueError(f"{self.name}: scope {scope.name!r} is not '<thing>:read|write'")
        declared = {s.name for s in self.scopes}
        for route in self.routes:
            if not route.prefix.startswith("/v1/"):
                raise ValueError(f"{self.name}: route prefix {route.prefix!r} is not under /v1/")
            if missing := {route.read, route.write} - declared:
                raise ValueError(f"{self.name}: {route.prefix} uses undeclared {sorted(missing)}")
        for slug in self.problems:
            if not _SLUG.match(slug):
                raise ValueError(f"{self.name}: problem slug {slug!r} is not kebab-case")

    @property
    def package(self) -> str:
        """The service's top-level Python package, e.g. ``prm_deals``."""
        target = self.app or self.worker or ""
        return target.partition(":")[0].partition(".")[0] or f"prm_{self.name}"

    @property
    def env_prefix(self) -> str:
        return f"PRM_{self.name.upper()}_"


def _load(target: str) -> ServiceDeclaration:
    module, _, attribute = target.partition(":")
    declaration = getattr(importlib.import_module(module), attribute or "SERVICE")
    if not isinstance(declaration, ServiceDeclaration):
        raise TypeError(f"{target} is not a ServiceDeclaration")
    return declaration


@cache
def services() -> tuple[ServiceDeclaration, ...]:
    """Every declared service, in migration order (then by name)."""
    targets = [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    found: dict[str, ServiceDeclaration] = {}
    for target in targets:
        declaration = _load(target)
        if declaration.name in found and found[declaration.name] != declaration:
            raise ValueError(f"two declarations of the service {declaration.name!r}")
        found[declaration.name] = declaration
    _check_unique(found.values())
    return tuple(sorted(found.values(), key=lambda d: (d.migration_order, d.name)))


def _check_unique(declarations: Iterable[ServiceDeclaration]) -> None:
    owners: dict[tuple[str, str], str] = {}
    for declaration in declarations:
        keys = [("schema", declaration.schema)]
        keys += [("route", r.prefix) for r in declaration.routes]
        keys += [("scope", s.name) for s in declaration.scopes]
        keys += [("problem", slug) for slug in declaration.problems]
        for key in keys:
            if key in owners:
                raise ValueError(f"{key[0]} {key[1]!r} is declared by both {owners[key]} and "
                                 f"{declaration.name}")
            owners[key] = declaration.name


def service(name: str) -> ServiceDeclaration:
    for declaration in services():
        if declaration.name == name:
            return declaration
    raise KeyError(f"no service named {name!r} is declared")


def all_scopes() -> tuple[Scope, ...]:
    return tuple(scope for d in services() for scope in d.scopes)


def declared_problems() -> dict[str, str]:
    return {slug: text for d in services() for slug, text in d.problems.items()}
