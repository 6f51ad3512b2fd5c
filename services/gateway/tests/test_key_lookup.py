"""The key owner's internal lookup: what a service asks about a key its directory lacks."""

from prm_platform.credentials import LOOKUP_PATH, secret_hash
from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind, sign_principal

from .helpers import assert_problem, issue_key


def internal(prm_infra) -> dict[str, str]:
    me = Principal(subject="key-directory", kind=PrincipalKind.vendor)
    return {PRINCIPAL_HEADER: sign_principal(me, prm_infra.internal_secret)}


async def test_a_service_learns_a_new_key_by_its_digest(gateway, prm_infra):
    headers = await issue_key(gateway, scopes=("deals:read",))
    digest = secret_hash(headers["Authorization"].removeprefix("Bearer "))
    found = await gateway.get(f"{LOOKUP_PATH}/{digest}", headers=internal(prm_infra))
    assert found.status_code == 200, found.text
    assert found.json()["scopes"] == ["deals:read"]
    assert found.json()["kind"] == "vendor" and found.json()["revoked"] is False
    assert "secret" not in found.text and digest not in found.text


async def test_only_services_may_ask_and_unknown_keys_are_404(gateway, prm_infra):
    digest = secret_hash("prm_never-issued")
    assert_problem(await gateway.get(f"{LOOKUP_PATH}/{digest}"), 401, "unauthenticated")
    forged = {PRINCIPAL_HEADER: "not.a.token"}
    assert_problem(await gateway.get(f"{LOOKUP_PATH}/{digest}", headers=forged), 401,
                   "unauthenticated")
    assert_problem(await gateway.get(f"{LOOKUP_PATH}/{digest}", headers=internal(prm_infra)),
                   404, "not-found")
    assert_problem(await gateway.get(f"{LOOKUP_PATH}/../v1", headers=internal(prm_infra)),
                   404, "not-found")
