"""Roles: each service declares which of its scopes each role holds, the platform merges the
declarations and applies configuration, and OIDC claims map to principals through the result.
No infrastructure needed."""

import ast
import json
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from prm_platform.declaration import (
    PARTNER_ROLES,
    VENDOR_ROLES,
    RoutePrefix,
    Scope,
    ServiceDeclaration,
    all_scopes,
    is_partner_role,
    merge_roles,
    partner_grantable,
    resolve_roles,
    role_scopes,
    scopes_needed,
    services,
)
from prm_platform.oidc import OidcSettings, OidcVerifier
from prm_platform.security import PrincipalKind
from prm_platform.settings import ServiceSettings

SECRET = "secret-roles-0123456789abcdef012345"
PLATFORM = Path(__file__).resolve().parents[1] / "src" / "prm_platform"


def widgets(**extra) -> ServiceDeclaration:
    """A small service of its own: widgets (partners may read and write them) and gadgets
    (the vendor's only)."""
    return ServiceDeclaration(
        name="widgets", schema="widgets", description="Widgets.",
        routes=(RoutePrefix("/v1/widgets", read="widgets:read", write="widgets:write"),
                RoutePrefix("/v1/gadgets", read="gadgets:read", write="gadgets:write")),
        scopes=(Scope("widgets:read", "r", partner=True), Scope("widgets:write", "w",
                                                                 partner=True),
                Scope("gadgets:read", "r"), Scope("gadgets:write", "w")),
        **extra)


def sprockets() -> ServiceDeclaration:
    return ServiceDeclaration(
        name="sprockets", schema="sprockets", description="Sprockets.",
        routes=(RoutePrefix("/v1/sprockets", read="sprockets:read", write="sprockets:write"),),
        scopes=(Scope("sprockets:read", "r", partner=True), Scope("sprockets:write", "w")),
        roles={"finance": ("sprockets:read", "sprockets:write"),
               "partner_finance": ("sprockets:read",)})


# -- declarations ------------------------------------------------------------------------------

@pytest.mark.parametrize(("roles", "refusal"), [
    ({"intern": ("widgets:read",)}, "unknown role 'intern'"),
    ({"admin": ("widgets:read",)}, "platform's rule"),
    ({"read_only": ("widgets:read",)}, "platform's rule"),
    ({"finance": ("deals:read",)}, "does not declare"),
    ({"partner_sales": ("widgets:read", "gadgets:read")}, "vendor-only"),
    ({"finance": "widgets:read"}, "must be a tuple"),
])
def test_declared_roles_are_checked(roles, refusal):
    with pytest.raises(ValueError, match=refusal):
        widgets(roles=roles)


@pytest.mark.parametrize(("operations", "refusal"), [
    ({"GET /v1/elsewhere/{id}": ("widgets:read",)}, "none of its route prefixes"),
    ({"FETCH /v1/widgets": ("widgets:read",)}, "is not 'METHOD"),
    ({"POST /v1/widgets/{id}/polish": ("deals:read",)}, "undeclared"),
    ({"POST /v1/widgets/{id}/polish": ()}, "tuple of scopes"),
])
def test_declared_operation_scopes_are_checked(operations, refusal):
    with pytest.raises(ValueError, match=refusal):
        widgets(operation_scopes=operations)


def test_an_operation_needs_its_prefixs_scope_and_what_is_declared_beyond():
    declaration = widgets(operation_scopes={
        "POST /v1/widgets/{widget_id}/polish": ("widgets:read",),
        "GET /v1/widgets/{widget_id}/gadgets": ("gadgets:read",)})
    assert declaration.scopes_of("GET", "/v1/widgets") == ("widgets:read",)
    assert declaration.scopes_of("HEAD", "/v1/widgets/{widget_id}") == ("widgets:read",)
    assert declaration.scopes_of("DELETE", "/v1/widgets/{widget_id}") == ("widgets:write",)
    assert declaration.scopes_of("POST", "/v1/widgets/{widget_id}/polish") == (
        "widgets:write", "widgets:read")
    assert declaration.scopes_of("HEAD", "/v1/widgets/{widget_id}/gadgets") == (
        "widgets:read", "gadgets:read")
    assert declaration.scopes_of("GET", "/v1/gadgets/{gadget_id}") == ("gadgets:read",)
    with pytest.raises(KeyError):
        declaration.scopes_of("GET", "/v1/widgetsandmore")


def test_roles_merge_across_services_with_the_platforms_two_rules():
    merged = merge_roles([widgets(roles={"finance": ("widgets:read",),
                                         "partner_sales": ("widgets:read", "widgets:write")}),
                          sprockets()])
    assert set(merged) == set(VENDOR_ROLES + PARTNER_ROLES)
    assert merged["admin"] == {"admin"}
    assert merged["read_only"] == {"widgets:read", "gadgets:read", "sprockets:read"}
    assert merged["finance"] == {"widgets:read", "sprockets:read", "sprockets:write"}
    assert merged["partner_sales"] == {"widgets:read", "widgets:write"}
    assert merged["partner_finance"] == {"sprockets:read"}
    assert merged["channel_manager"] == merged["partner_admin"] == set()


def test_configuration_replaces_a_roles_scopes_or_adds_roles():
    declared = [widgets(roles={"finance": ("widgets:read",)}), sprockets()]
    resolved = resolve_roles({"finance": ["gadgets:read"], "auditor": ["gadgets:read"],
                              "partner_viewer": ["widgets:read"], "marketing": []},
                             declared)
    assert resolved["finance"] == {"gadgets:read"}  # replaced, not added to
    assert resolved["auditor"] == {"gadgets:read"}  # a new vendor role
    assert resolved["partner_viewer"] == {"widgets:read"}  # a new partner role
    assert resolved["marketing"] == set()
    assert resolved["partner_finance"] == {"sprockets:read"}  # not named: as declared
    assert is_partner_role("partner_viewer") and not is_partner_role("auditor")


@pytest.mark.parametrize(("overrides", "refusal"), [
    ({"finance": ["widgets:raed"]}, "no declared service has"),
    ({"partner_sales": ["gadgets:read"]}, "partner role partner_sales cannot hold"),
    ({"partner_admin": ["admin"]}, "cannot hold \\['admin'\\]"),
    ({"Finance Team": ["widgets:read"]}, "lower-case"),
    ({"finance": "widgets:read"}, "must be a list"),
])
def test_configuration_mistakes_are_refused(overrides, refusal):
    with pytest.raises(ValueError, match=refusal):
        resolve_roles(overrides, [widgets(), sprockets()])


# -- the declared services ----------------------------------------------------------------------

def test_every_partner_role_holds_only_what_partners_may_hold():
    roles = role_scopes()
    for role in PARTNER_ROLES:
        assert roles[role] <= partner_grantable(), role
    # The partner's administrator: everything a partner may hold, its org's keys included.
    assert roles["partner_admin"] == partner_grantable()
    assert {"api_keys:read", "api_keys:write", "contacts:read", "contacts:write"} <= \
        roles["partner_admin"]


def test_the_declared_matrix_gives_each_role_its_screens():
    roles = role_scopes()
    assert roles["admin"] == {"admin"}
    assert roles["read_only"] == {s.name for s in all_scopes() if s.name.endswith(":read")}
    # Finance reads and runs the incentives (it could not before) and reads partners and deals.
    assert {"incentives:read", "incentives:write", "partners:read", "deals:read"} <= \
        roles["finance"]
    assert "deals:write" not in roles["finance"] and "partners:write" not in roles["finance"]
    assert {"incentives:read", "incentives:write", "partners:read"} <= roles["marketing"]
    assert {"partners:write", "deals:write"} <= roles["channel_manager"]
    # A partner's finance user: its org's MDF, claims, accruals, payouts and statements, read.
    assert "incentives:read" in roles["partner_finance"]
    assert "incentives:write" not in roles["partner_finance"]
    # Its marketing user requests and claims funds; its sales user registers deals.
    assert {"incentives:read", "incentives:write"} <= roles["partner_marketing"]
    assert "deals:write" not in roles["partner_marketing"]
    assert {"deals:read", "deals:write"} <= roles["partner_sales"]
    assert not {"incentives:read", "contacts:read"} & roles["partner_sales"]
    # Contacts (personal data) and keys are the partner administrator's alone.
    for role in ("partner_sales", "partner_finance", "partner_marketing"):
        assert not {"contacts:read", "contacts:write", "api_keys:read", "api_keys:write",
                    "webhooks:write"} & roles[role], role


def test_every_role_that_writes_also_reads():
    """An action reads its record first (``operation_scopes``): a role that may change a
    resource may read it too."""
    for role, scopes in role_scopes().items():
        for scope in scopes:
            if scope.endswith(":write"):
                assert scope.replace(":write", ":read") in scopes, (role, scope)


def test_operations_need_what_the_declarations_say():
    assert scopes_needed("GET", "/v1/deals") == ("deals:read",)
    assert scopes_needed("POST", "/v1/deals/{deal_id}/approve") == ("deals:write",
                                                                     "deals:read")
    assert scopes_needed("GET", "/v1/partners/{partner_id}/contacts") == (
        "partners:read", "contacts:read")
    assert scopes_needed("POST", "/v1/api-keys") == ("api_keys:write",)
    with pytest.raises(KeyError):
        scopes_needed("GET", "/v1/nothing-here")


def _code_strings(path: Path) -> list[str]:
    """The string literals of a module that are values, not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_the_platform_holds_no_domain_scope():
    """Scopes are the services': no value in the platform's code names one (docstrings and
    comments may, as examples)."""
    scopes = {scope.name for scope in all_scopes()}
    found = [(path.name, text) for path in PLATFORM.rglob("*.py")
             for text in _code_strings(path) if any(scope in text for scope in scopes)]
    assert not found


# -- settings -----------------------------------------------------------------------------------

OIDC = {"oidc_issuer": "https://id.example", "oidc_jwks_url": "https://id.example/jwks",
        "oidc_audience": "prm-portal"}


def settings(**values) -> ServiceSettings:
    return ServiceSettings(internal_secret=SECRET, **OIDC, **values)


def test_the_declared_map_is_the_default():
    oidc = settings().oidc()
    assert oidc is not None
    declared = role_scopes()
    assert oidc.role_scopes == {r: s for r, s in declared.items() if not is_partner_role(r)}
    assert oidc.partner_role_scopes == {r: s for r, s in declared.items() if is_partner_role(r)}
    assert set(oidc.partner_grantable) == partner_grantable()
    assert oidc.partner_default_role is None


def test_configuration_overrides_roles_through_the_environment(monkeypatch):
    monkeypatch.setenv("PRM_OIDC_ROLE_SCOPES", json.dumps(
        {"finance": ["incentives:read"], "auditor": ["ledger:read"]}))
    monkeypatch.setenv("PRM_OIDC_PARTNER_DEFAULT_ROLE", "partner_sales")
    oidc = settings().oidc()
    assert oidc is not None
    assert oidc.role_scopes["finance"] == {"incentives:read"}
    assert oidc.role_scopes["auditor"] == {"ledger:read"}
    assert oidc.role_scopes["channel_manager"] == role_scopes()["channel_manager"]
    assert oidc.partner_default_role == "partner_sales"


@pytest.mark.parametrize("values", [
    {"oidc_role_scopes": {"finance": ["incentives:raed"]}},
    {"oidc_role_scopes": {"partner_sales": ["ledger:read"]}},
    {"oidc_partner_default_role": "finance"},
    {"oidc_partner_default_role": "partner_nobody"},
])
def test_a_mistake_in_the_roles_refuses_to_start(values):
    with pytest.raises(ValidationError):
        settings(**values)


# -- claims to principals -----------------------------------------------------------------------

ORG = uuid.uuid4()


def principal(claims, **values):
    oidc = settings(**values).oidc()
    assert oidc is not None
    return OidcVerifier(oidc)._map({"sub": "u-1", **claims})


def test_vendor_staff_get_their_vendor_roles_scopes():
    finance = principal({"roles": ["finance"]})
    assert finance.kind is PrincipalKind.vendor and finance.partner_id is None
    assert finance.scopes == role_scopes()["finance"]
    both = principal({"roles": "finance marketing"})  # a space-separated string too
    assert both.scopes == role_scopes()["finance"] | role_scopes()["marketing"]
    assert principal({"roles": ["admin"]}).has_scope("ledger:write")
    # A partner role means nothing without the partner claim; unknown roles, nothing.
    assert principal({"roles": ["partner_admin", "intern"]}).scopes == frozenset()
    assert principal({}).scopes == frozenset()
    assert principal({"roles": {"finance": True}}).scopes == frozenset()


@pytest.mark.parametrize("role", PARTNER_ROLES)
def test_partner_users_get_their_partner_roles_scopes(role):
    user = principal({"prm_partner_id": str(ORG), "roles": [role]})
    assert user.kind is PrincipalKind.partner and user.partner_id == ORG
    assert user.subject == "user:u-1"
    assert user.scopes == role_scopes()[role] and user.scopes


def test_partner_users_fail_closed():
    claim = {"prm_partner_id": str(ORG)}
    # No partner role: nothing (before, every partner user got the default partner scopes).
    assert principal(claim).scopes == frozenset()
    assert principal({**claim, "roles": ["partner_intern"]}).scopes == frozenset()
    # A vendor role on a partner user gives nothing, admin least of all.
    assert principal({**claim, "roles": ["admin", "finance"]}).scopes == frozenset()
    both = principal({**claim, "roles": ["admin", "partner_sales"]})
    assert both.scopes == role_scopes()["partner_sales"] and not both.has_scope("admin")
    # Unless configuration names the role such a user gets.
    defaulted = principal(claim, oidc_partner_default_role="partner_sales")
    assert defaulted.scopes == role_scopes()["partner_sales"]
    named = principal({**claim, "roles": ["partner_finance"]},
                      oidc_partner_default_role="partner_sales")
    assert named.scopes == role_scopes()["partner_finance"]


def test_partner_users_never_hold_more_than_partners_may():
    oidc = OidcSettings(issuer="i", jwks_url="j", audience="a",
                        partner_role_scopes={"partner_admin": {"deals:read", "admin",
                                                               "ledger:write"}},
                        partner_grantable=partner_grantable())
    user = OidcVerifier(oidc)._map({"sub": "u", "prm_partner_id": str(ORG),
                                    "roles": ["partner_admin"]})
    assert user.scopes == {"deals:read"}


def test_every_declared_service_is_known_here():
    assert {d.name for d in services()} >= {"gateway", "partners", "deals", "incentives"}


def roles_matrix() -> str:
    """The matrix of docs/roles.md: every declared scope, by service, and the roles holding
    it (admin holds every one)."""
    roles = role_scopes()
    columns = VENDOR_ROLES + PARTNER_ROLES
    lines = ["| service | scope | " + " | ".join(f"`{role}`" for role in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for declaration in services():
        for scope in declaration.scopes:
            cells = ["x" if "admin" in roles[role] or scope.name in roles[role] else ""
                     for role in columns]
            kind = "" if scope.partner else " (vendor)"
            lines.append(f"| {declaration.name} | `{scope.name}`{kind} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_the_documented_matrix_is_the_declared_one():
    doc = (PLATFORM.parents[3] / "docs" / "roles.md").read_text()
    documented = doc.split("<!-- roles-matrix", 1)[1].split("-->\n", 1)[1].split(
        "\n<!-- /roles-matrix -->", 1)[0]
    assert documented == roles_matrix(), \
        "docs/roles.md's matrix is not the declared one; replace it with:\n" + roles_matrix()
