"""Problem details in the language the caller asks for: every title translated in every
language, Accept-Language negotiated, title/detail/errors messages translated (English where
the catalogue has nothing), and type, status, codes and field names never changed."""

import uuid

import httpx
import pytest
from fastapi import APIRouter, Query, Response

from prm_platform import i18n
from prm_platform.app import create_service_app
from prm_platform.http import ServiceRoute
from prm_platform.problems import (
    Conflict,
    NotFound,
    ProblemError,
    known_problem_types,
    problem_response,
    problem_title,
)
from prm_platform.security import PRINCIPAL_HEADER, Principal, PrincipalKind
from prm_platform.settings import ServiceSettings
from prm_stack.testing import principal_headers, scratch_schema

# -- the catalogues ---------------------------------------------------------------------------


def test_every_problem_title_is_in_every_language():
    """Each problem type of the platform and of every declared service has its title in
    English (the msgid) and in each translated language: no missing or fuzzy entry."""
    assert set(i18n.LANGUAGES) >= {"en", "de", "fr", "es", "ja"}
    titles = {slug: problem_title(slug) for slug in known_problem_types()}
    assert len(titles) >= 25
    for language in i18n.TRANSLATED:
        entries = i18n.read_entries(language)
        missing = sorted(slug for slug, title in titles.items()
                         if not entries.get((i18n.TITLE_CONTEXT, title), "").strip())
        assert not missing, f"{language} lacks the title of {missing}"
        words = i18n.catalogue(language)
        assert {words.title(title) for title in titles.values()}.isdisjoint(titles.values())
    english = i18n.catalogue("en")
    assert all(english.title(title) == title for title in titles.values())


@pytest.mark.parametrize("language", i18n.TRANSLATED)
def test_translations_keep_every_placeholder(language):
    """A translation holds exactly the placeholders of its English, so that every value of the
    English reaches it (and nothing is left unfilled)."""
    entries = i18n.read_entries(language)
    assert entries, f"no catalogue for {language}"
    wrong = {msgid: text for (_, msgid), text in entries.items()
             if sorted(i18n.placeholders(msgid)) != sorted(i18n.placeholders(text))}
    assert not wrong


def test_fixed_sentences_and_templates_are_translated():
    german = i18n.catalogue("de")
    assert german.text("partner not found") == "Partner nicht gefunden"
    assert german.text("partner 0193 is suspended; only active partners may register deals") \
        == "Partner 0193 ist suspended; nur aktive Partner dürfen Deals registrieren"
    # the most specific template wins over a more general one
    assert german.text("a submitted fund request cannot be claimed") == \
        "eine Mittelanfrage im Status submitted kann nicht abgerechnet werden"
    # values are text: braces in a value are not a format
    assert german.text("the body exceeds {0} bytes") == "der Inhalt überschreitet {0} Bytes"
    assert german.text("something the catalogue never heard of") == \
        "something the catalogue never heard of"
    japanese = i18n.catalogue("ja")
    assert japanese.text("String should have at most 60 characters") == \
        "60 文字以内で入力してください"


@pytest.mark.parametrize(("header", "language"), [
    (None, "en"),
    ("", "en"),
    ("de", "de"),
    ("de-CH", "de"),
    ("DE-at", "de"),
    ("ja-JP", "ja"),
    ("es-419, es;q=0.9", "es"),
    ("fr;q=0.5, ja", "ja"),
    ("fr;q=0.5, ja;q=0.5", "fr"),  # equal quality: the caller's order
    ("en-US,en;q=0.9,de;q=0.8", "en"),
    ("zh-Hant-TW, fr-CA;q=0.3", "fr"),
    ("*", "en"),
    ("zh, *;q=0.1", "en"),
    ("en;q=0, *", "de"),  # anything but English
    ("de;q=0, *", "en"),
    ("en;q=0, de;q=0.1", "de"),
    ("xx, tlh", "en"),  # nothing we speak: English
    ("de;q=zero, fr", "fr"),  # a malformed quality refuses its range
    ("de;q=0.000", "en"),
    ("x-klingon, de", "de"),
    ("@@@, ja", "ja"),
])
def test_accept_language_negotiation(header, language):
    assert i18n.negotiate(header) == language


# -- over HTTP --------------------------------------------------------------------------------

class _Refused(ProblemError):
    status, slug = 409, "conflict"


@pytest.fixture
async def client(prm_infra):
    router = APIRouter(prefix="/v1/checks", tags=["checks"], route_class=ServiceRoute)
    partner = uuid.UUID("0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f")

    @router.get("/missing")
    async def missing() -> dict[str, str]:
        raise NotFound("partner not found")

    @router.get("/inactive")
    async def inactive() -> dict[str, str]:
        raise Conflict(f"partner {partner} is suspended; only active partners may register "
                       "deals", current_status="suspended")

    @router.get("/odd")
    async def odd() -> dict[str, str]:
        raise _Refused("a sentence no catalogue has")

    @router.get("/count")
    async def count(n: int = Query()) -> dict[str, int]:
        return {"n": n}

    @router.get("/relayed")
    async def relayed() -> object:  # as a gateway hands on a service's (English) problem
        return problem_response(404, "not-found", "deal not found", instance="/v1/deals/1")

    @router.get("/garbled")
    async def garbled() -> object:
        return Response(b"not json", status_code=502, media_type="application/problem+json")

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    settings = ServiceSettings(internal_secret=prm_infra.internal_secret)
    # The platform's tables (the edge counts failed authentications in rate_buckets).
    async with scratch_schema(prm_infra) as (_, schema):
        app = create_service_app(title="checks", description="checks", schema=schema,
                                 settings=settings, routers=[router], tags=[])
        headers = principal_headers(Principal(subject="k", kind=PrincipalKind.vendor),
                                    prm_infra.internal_secret)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://checks",
                                     headers=headers) as http:
            yield http
        await app.state.engine.dispose()


def _localised(answer: httpx.Response, language: str) -> dict:
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["content-language"] == language
    assert "accept-language" in answer.headers["vary"].lower()
    assert int(answer.headers["content-length"]) == len(answer.content)
    return answer.json()


async def test_a_problem_in_the_language_asked_for(client):
    answer = await client.get("/v1/checks/missing",
                              headers={"Accept-Language": "de-CH, fr;q=0.5"})
    assert answer.status_code == 404
    assert _localised(answer, "de") == {
        "type": "/problems/not-found", "title": "Nicht gefunden", "status": 404,
        "detail": "Partner nicht gefunden", "instance": "/v1/checks/missing"}
    french = await client.get("/v1/checks/missing", headers={"Accept-Language": "fr"})
    assert _localised(french, "fr")["title"] == "Introuvable"
    assert french.json()["detail"] == "partenaire introuvable"


async def test_a_template_keeps_its_values_and_the_members_stay(client):
    answer = await client.get("/v1/checks/inactive", headers={"Accept-Language": "ja"})
    body = _localised(answer, "ja")
    assert answer.status_code == 409
    assert body["type"] == "/problems/conflict" and body["status"] == 409
    assert body["title"] == "競合"
    assert body["detail"] == ("パートナー 0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f は suspended です。"
                              "案件を登録できるのはアクティブなパートナーだけです")
    assert body["current_status"] == "suspended"  # extra members and codes never change


async def test_validation_errors_translate_messages_not_fields(client):
    answer = await client.get("/v1/checks/count?n=many", headers={"Accept-Language": "es"})
    assert answer.status_code == 422
    body = _localised(answer, "es")
    assert body["title"] == "Error de validación"
    assert body["detail"] == "la solicitud no es válida"
    assert body["errors"] == [{
        "location": "query", "field": "n",
        "message": "La entrada debe ser un entero válido; la cadena no es un entero"}]
    absent = await client.get("/v1/checks/count", headers={"Accept-Language": "de"})
    assert _localised(absent, "de")["errors"][0] == {
        "location": "query", "field": "n", "message": "Feld erforderlich"}


async def test_english_for_unknown_languages_and_untranslated_details(client):
    for header in ({}, {"Accept-Language": "tlh, xx-YY;q=0.9"}, {"Accept-Language": "*"}):
        answer = await client.get("/v1/checks/missing", headers=header)
        body = _localised(answer, "en")
        assert (body["title"], body["detail"]) == ("Not found", "partner not found")
    german = await client.get("/v1/checks/odd", headers={"Accept-Language": "de"})
    body = _localised(german, "de")
    assert (body["title"], body["detail"]) == ("Konflikt", "a sentence no catalogue has")


async def test_every_kind_of_problem_is_localised(client):
    relayed = await client.get("/v1/checks/relayed", headers={"Accept-Language": "fr"})
    assert _localised(relayed, "fr")["detail"] == "affaire introuvable"
    # the platform's own answers: an unknown route, a wrong method, an unexpected error
    route = await client.get("/v1/nowhere", headers={"Accept-Language": "de"})
    assert _localised(route, "de")["detail"] == "keine Ressource unter /v1/nowhere"
    method = await client.delete("/v1/checks/missing", headers={"Accept-Language": "es"})
    assert method.status_code == 405 and method.headers["allow"] == "GET"
    assert _localised(method, "es")["title"] == "Método no permitido"
    assert method.json()["detail"] == "DELETE no está permitido en /v1/checks/missing"
    boom = await client.get("/v1/checks/boom", headers={"Accept-Language": "ja",
                                                        "X-Request-Id": "req-7"})
    body = _localised(boom, "ja")
    assert (body["title"], body["detail"], body["request_id"]) == (
        "内部エラー", "予期しないエラーが発生しました", "req-7")
    # the edge's: no credentials
    request = client.build_request("GET", "/v1/checks/missing",
                                   headers={"Accept-Language": "fr"})
    del request.headers[PRINCIPAL_HEADER]
    refused = await client.send(request)
    assert refused.status_code == 401
    assert _localised(refused, "fr")["title"] == "Non authentifié"


async def test_other_answers_are_untouched(client):
    answer = await client.get("/v1/checks/count?n=3", headers={"Accept-Language": "de"})
    assert answer.status_code == 200 and answer.json() == {"n": 3}
    assert "content-language" not in answer.headers


async def test_a_problem_that_cannot_be_read_goes_as_it_is(client):
    answer = await client.get("/v1/checks/garbled", headers={"Accept-Language": "de"})
    assert answer.status_code == 502 and answer.content == b"not json"
    assert answer.headers["content-language"] == "en"
    assert answer.headers["content-length"] == "8"
