"""Service declarations: each service says, in one place of its own package, what it is.

A service's ``prm_<ctx>/declaration.py`` holds a ``ServiceDeclaration`` (plain data, cheap to
import) and its ``pyproject.toml`` names it under the ``prm.services`` entry point group::

    [project.entry-points."prm.services"]
    deals = "prm_deals.declaration:SERVICE"

Everything that has to know the set of services reads the declarations instead of keeping its
own list: the ``make run`` supervisor (processes, migrations), the gateway (routes, scopes,
upstreams, problem types), the contract generator, the import contracts and the deployment
checks. Adding a service is a new folder under ``services/`` with its declaration.

Roles: the identity provider's users carry roles (``roles`` claim), and each service declares
which of its scopes each role holds (``ServiceDeclaration.roles``). The platform knows only the
role names (``VENDOR_ROLES``, ``PARTNER_ROLES``) and two rules of its own: ``admin`` holds the
``admin`` scope (everything), ``read_only`` every ``:read`` scope. ``role_scopes`` merges the
declarations; configuration may replace a role's scopes or add roles (``resolve_roles``).
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
_OPERATION = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/v1/\S+)$")

# The platform's own scope: implies every other (``prm_platform.security``).
ADMIN_SCOPE = "admin"
# Roles of vendor staff and of partner users. Their names are the platform's; which scopes they
# hold is declared by the services. ``admin`` and ``read_only`` follow the platform's rules and
# are not declared by services: admin holds ``admin``, read_only every ``:read`` scope.
ADMIN_ROLE = "admin"
READ_ONLY_ROLE = "read_only"
VENDOR_ROLES = (ADMIN_ROLE, "channel_manager", "finance", "marketing", READ_ONLY_ROLE)
PARTNER_ROLES = ("partner_admin", "partner_sales", "partner_finance", "partner_marketing")
# A role whose name starts so is a partner role (configuration may add more): it applies only to
# partner users, and only its partner scopes count.
PARTNER_ROLE_PREFIX = "partner_"
_DERIVED_ROLES = (ADMIN_ROLE, READ_ONLY_ROLE)
_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def is_partner_role(role: str) -> bool:
    return role.startswith(PARTNER_ROLE_PREFIX)


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
    # A bulk upload's body may be larger than the platform's limit (PRM_MAX_BODY_BYTES): the
    # service, the gateway and the edge all allow this much under the prefix.
    max_body_bytes: int | None = None


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
    # Which of its scopes each role holds, e.g. ``{"channel_manager": (DEALS_READ,
    # DEALS_WRITE), "partner_sales": (DEALS_READ, DEALS_WRITE)}``: names from VENDOR_ROLES and
    # PARTNER_ROLES but admin and read_only (the platform's rules); a partner role holds only
    # ``partner`` scopes. A role it does not name holds none of its scopes.
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # What an operation needs beyond its route prefix's scope (read for GET and HEAD, write
    # otherwise), as "METHOD /path" -> scopes: an action that reads the record first needs the
    # read scope too, a contact under /v1/partners needs the contacts scopes. The contract lists
    # both per operation; the route-walking tests check that this is what is enforced.
    operation_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def body_limits(self) -> dict[str, int]:
        """The prefixes whose bodies may be larger than the platform's limit, and how large."""
        return {r.prefix: r.max_body_bytes for r in self.routes if r.max_body_bytes}

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
        self._check_roles()
        self._check_operation_scopes()

    def _check_roles(self) -> None:
        partner_scopes = {s.name for s in self.scopes if s.partner}
        declared = {s.name for s in self.scopes}
        for role, scopes in self.roles.items():
            if role in _DERIVED_ROLES:
                raise ValueError(f"{self.name}: the {role} role's scopes are the platform's "
                                 "rule, not declared by services")
            if role not in VENDOR_ROLES + PARTNER_ROLES:
                raise ValueError(f"{self.name}: unknown role {role!r} (known: "
                                 f"{', '.join(VENDOR_ROLES + PARTNER_ROLES)})")
            if isinstance(scopes, str):
                raise ValueError(f"{self.name}: the {role} role's scopes must be a tuple")
            if missing := set(scopes) - declared:
                raise ValueError(f"{self.name}: the {role} role holds scopes this service does "
                                 f"not declare: {sorted(missing)}")
            if is_partner_role(role) and (vendor_only := set(scopes) - partner_scopes):
                raise ValueError(f"{self.name}: the partner role {role} cannot hold the "
                                 f"vendor-only {sorted(vendor_only)}")

    def _check_operation_scopes(self) -> None:
        declared = {s.name for s in self.scopes}
        for operation, scopes in self.operation_scopes.items():
            match = _OPERATION.match(operation)
            if match is None:
                raise ValueError(f"{self.name}: operation {operation!r} is not 'METHOD /v1/...'")
            if self.route_of(match.group(2)) is None:
                raise ValueError(f"{self.name}: {operation} is under none of its route prefixes")
            if isinstance(scopes, str) or not scopes:
                raise ValueError(f"{self.name}: {operation} needs a tuple of scopes")
            if missing := set(scopes) - declared:
                raise ValueError(f"{self.name}: {operation} needs undeclared {sorted(missing)}")

    def route_of(self, path: str) -> RoutePrefix | None:
        """The route prefix a public path falls under (the longest that matches), if any."""
        matching = [r for r in self.routes
                    if path == r.prefix or path.startswith(r.prefix + "/")]
        return max(matching, key=lambda r: len(r.prefix), default=None)

    def scopes_of(self, method: str, path: str) -> tuple[str, ...]:
        """The scopes an operation of this service needs: its route prefix's read scope (GET,
        HEAD) or write scope (any other method), then what ``operation_scopes`` adds."""
        route = self.route_of(path)
        if route is None:
            raise KeyError(f"{path} is under none of {self.name}'s route prefixes")
        method = method.upper()
        first = route.read if method in ("GET", "HEAD") else route.write
        extra = self.operation_scopes.get(f"{'GET' if method == 'HEAD' else method} {path}", ())
        return tuple(dict.fromkeys((first, *extra)))

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


@cache
def _routes_by_prefix() -> dict[str, RoutePrefix]:
    return {route.prefix: route for d in services() for route in d.routes}


def route_scope(method: str, path: str) -> str | None:
    """The scope the edge demands of a request (a concrete path, ``/v1/deals/<id>/win``): its
    route prefix's read scope for GET and HEAD, its write scope otherwise; None for a path
    under no declared prefix (an unknown route: the app answers it)."""
    routes = _routes_by_prefix()
    candidate = path.rstrip("/")
    while candidate.count("/") >= 2:  # "/v1/<resource>" at the shortest
        route = routes.get(candidate)
        if route is not None:
            return route.read if method.upper() in ("GET", "HEAD") else route.write
        candidate = candidate.rpartition("/")[0]
    return None


def scopes_needed(method: str, path: str) -> tuple[str, ...]:
    """The scopes an operation (``path`` as the contract writes it, ``/v1/deals/{deal_id}``)
    needs, from the declaration of the service whose route prefix it falls under."""
    owners = [(route, d) for d in services() if (route := d.route_of(path)) is not None]
    if not owners:
        raise KeyError(f"{path} is under no declared route prefix")
    _, owner = max(owners, key=lambda found: len(found[0].prefix))
    return owner.scopes_of(method, path)


def merge_roles(declarations: Iterable[ServiceDeclaration]) -> dict[str, frozenset[str]]:
    """Every known role and its scopes, from ``declarations``: what each declares, and the
    platform's rules (admin holds ``admin``, read_only every ``:read`` scope)."""
    merged: dict[str, set[str]] = {role: set() for role in VENDOR_ROLES + PARTNER_ROLES}
    merged[ADMIN_ROLE].add(ADMIN_SCOPE)
    for declaration in declarations:
        for role, scopes in declaration.roles.items():
            merged[role].update(scopes)
        merged[READ_ONLY_ROLE].update(s.name for s in declaration.scopes
                                      if s.name.endswith(":read"))
    return {role: frozenset(scopes) for role, scopes in merged.items()}


@cache
def role_scopes() -> dict[str, frozenset[str]]:
    """Every known role's scopes as the declared services give them."""
    return merge_roles(services())


def partner_grantable() -> frozenset[str]:
    """The scopes a partner principal (key or user) may hold."""
    return frozenset(scope.name for scope in all_scopes() if scope.partner)


def resolve_roles(overrides: Mapping[str, Iterable[str]],
                  declarations: Iterable[ServiceDeclaration] | None = None
                  ) -> dict[str, frozenset[str]]:
    """The declared roles with configuration applied: a role ``overrides`` names gets exactly
    the scopes it lists there (replacing the declared ones, an empty list taking them all
    away), a role it adds is a new one (a partner role if its name starts with ``partner_``).
    Refused (ValueError): a scope no service declares, a partner role given a scope partners
    cannot hold, a role name that is not lower-case letters, digits and underscores."""
    declarations = tuple(services() if declarations is None else declarations)
    merged = merge_roles(declarations)
    known = {s.name: s for d in declarations for s in d.scopes}
    for role, scopes in overrides.items():
        if not _ROLE.match(role):
            raise ValueError(f"role {role!r}: lower-case letters, digits and underscores only")
        if isinstance(scopes, str):
            raise ValueError(f"role {role}: scopes must be a list, not {scopes!r}")
        scopes = frozenset(scopes)
        if unknown := scopes - set(known) - {ADMIN_SCOPE}:
            raise ValueError(f"role {role}: no declared service has the scopes {sorted(unknown)}")
        if is_partner_role(role):
            if vendor_only := {s for s in scopes if s == ADMIN_SCOPE or not known[s].partner}:
                raise ValueError(f"partner role {role} cannot hold {sorted(vendor_only)}: a "
                                 "partner user may hold only partner scopes")
        merged[role] = scopes
    return merged
