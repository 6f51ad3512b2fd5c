"""Proof files uploaded on their own (``POST /v1/mdf/proofs``, multipart/form-data) and named
by a claim (``proof_ids``): through the app as a client sends them, with the body limits of the
contract and of the server agreeing (five proofs of the largest size fit in one claim, which
inline base64 never could), 413 as problem+json, another org's or a used upload refused, the
files downloaded intact, unclaimed uploads expiring. The S3-compatible store's side is in
test_proof_store.py."""

import base64
import datetime as dt
import hashlib
import os
import re
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_incentives.config import Settings
from prm_incentives.mdf.schemas import MAX_PROOF_BYTES, MAX_PROOFS, MAX_UPLOAD_BODY_BYTES
from prm_incentives.mdf.service import expire_proof_uploads
from prm_incentives.worker import spec
from prm_stack.edge import config as caddy_config

from .test_mdf import allocate, make_budget, request_body

ROOT = Path(__file__).resolve().parents[3]
PROBLEM = "application/problem+json"


def upload(client, headers, content: bytes, name="invoice.pdf", media_type="application/pdf",
           **fields):
    return client.post("/v1/mdf/proofs", headers=headers,
                       files={"file": (name, content, media_type)}, data=fields)


async def uploaded(client, headers, content: bytes, name="invoice.pdf",
                   media_type="application/pdf", **fields) -> dict:
    answer = await upload(client, headers, content, name, media_type, **fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def approved_request(client, vendor, own, partner) -> dict:
    allocation = await allocate(client, vendor, await make_budget(client, vendor), partner,
                                "1000.00")
    made = await client.post("/v1/mdf/requests", headers=own,
                             json=request_body(allocation, "100.00"))
    assert made.status_code == 201, made.text
    approved = await client.post(f"/v1/mdf/requests/{made.json()['id']}/approve",
                                 headers=vendor)
    assert approved.status_code == 200, approved.text
    return approved.json()


def claim_body(fund_request, proof_ids=(), inline=()):
    body = {"request_id": fund_request["id"], "amount": {"amount": "90.00", "currency": "EUR"},
            "description": "Webinar held; 31 leads.", "proof_ids": [str(i) for i in proof_ids]}
    if inline:
        body["proofs"] = [{"filename": f"inline-{index}.pdf", "content_type": "application/pdf",
                           "content_base64": base64.b64encode(content).decode()}
                          for index, content in enumerate(inline)]
    return body


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == f"/problems/{slug}" and problem["status"] == status
    return problem


def fields_of(problem: dict) -> set[str]:
    return {error["field"] for error in problem.get("errors") or []}


async def test_five_proofs_of_the_largest_size_in_one_claim(client, vendor, as_partner,
                                                          list_partner):
    partner = await list_partner()
    own = as_partner(partner)
    fund_request = await approved_request(client, vendor, own, partner)
    files = [os.urandom(MAX_PROOF_BYTES) for _ in range(MAX_PROOFS)]

    # Inline in base64 they cannot fit in one request: the body limit refuses it, as declared.
    too_big = await client.post("/v1/mdf/claims", headers=own,
                                json=claim_body(fund_request, inline=files))
    assert_problem(too_big, 413, "payload-too-large")

    uploads = []
    for index, content in enumerate(files):
        answer = await upload(client, own, content, f"photo {index}.png", "image/png")
        assert answer.status_code == 201, answer.text
        made = answer.json()
        assert answer.headers["location"] == f"/v1/mdf/proofs/{made['id']}"
        assert made["size"] == MAX_PROOF_BYTES
        assert made["sha256"] == hashlib.sha256(content).hexdigest()
        assert (made["filename"], made["content_type"]) == (f"photo {index}.png", "image/png")
        assert made["partner_id"] == str(partner) and made["claim_id"] is None
        assert made["status"] == "stored"
        created = dt.datetime.fromisoformat(made["created_at"])
        assert dt.datetime.fromisoformat(made["expires_at"]) - created == dt.timedelta(hours=24)
        uploads.append(made)

    claimed = await client.post("/v1/mdf/claims", headers=own, json=claim_body(
        fund_request, [made["id"] for made in uploads]))
    assert claimed.status_code == 201, claimed.text
    claim = claimed.json()
    assert [proof["id"] for proof in claim["proofs"]] == [made["id"] for made in uploads]
    for proof, made, content in zip(claim["proofs"], uploads, files, strict=True):
        assert {k: proof[k] for k in ("filename", "content_type", "size", "sha256")} == {
            k: made[k] for k in ("filename", "content_type", "size", "sha256")}
        download = await client.get(f"/v1/mdf/claims/{claim['id']}/proofs/{proof['id']}",
                                    headers=own)
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["x-content-sha256"] == made["sha256"]
        assert download.headers["content-type"] == "image/png"
        # The upload's own record now names the claim and no longer expires.
        record = (await client.get(f"/v1/mdf/proofs/{made['id']}", headers=own)).json()
        assert (record["claim_id"], record["expires_at"]) == (claim["id"], None)
        again = await client.get(f"/v1/mdf/proofs/{made['id']}/content", headers=vendor)
        assert again.status_code == 200 and again.content == content

    [event] = (await client.connection.execute(text(
        "SELECT envelope->'data' FROM outbox WHERE event_type = 'prm.mdf.claim.submitted.v1' "
        "AND key = :key"), {"key": fund_request["id"]})).scalars()
    assert event["proofs"] == MAX_PROOFS


async def test_over_the_limit_is_a_413_problem(client, vendor, as_partner, list_partner):
    own = as_partner(await list_partner())
    before = (await client.connection.execute(text(
        "SELECT count(*) FROM mdf_proof_files"))).scalar_one()
    # A file a byte over the proof limit: the body is within the service's, the route refuses.
    problem = assert_problem(await upload(client, own, b"x" * (MAX_PROOF_BYTES + 1)), 413,
                             "payload-too-large")
    assert str(MAX_PROOF_BYTES) in problem["detail"]
    # A body over the service's limit never reaches the route.
    problem = assert_problem(await upload(client, own, b"x" * (1024 * 1024 + 1)), 413,
                             "payload-too-large")
    assert "body exceeds" in problem["detail"]
    # So is one sent without a Content-Length (chunked).
    async def chunks():
        boundary = b"--b0undary"
        yield boundary + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\""
        yield b"\r\nContent-Type: application/pdf\r\n\r\n"
        for _ in range(20):
            yield b"y" * 65536
        yield b"\r\n" + boundary + b"--\r\n"
    chunked = await client.post("/v1/mdf/proofs", content=chunks(), headers={
        **own, "Content-Type": "multipart/form-data; boundary=b0undary"})
    assert_problem(chunked, 413, "payload-too-large")
    after = (await client.connection.execute(text(
        "SELECT count(*) FROM mdf_proof_files"))).scalar_one()
    assert after == before


async def test_an_upload_is_checked_like_a_claims_files(client, vendor, as_partner,
                                                       list_partner):
    own = as_partner(await list_partner())
    # Not multipart at all.
    assert_problem(await client.post("/v1/mdf/proofs", headers=own, json={"file": "x"}), 415,
                   "unsupported-media-type")
    # No file part; a field the upload does not know.
    problem = assert_problem(await client.post("/v1/mdf/proofs", headers=own, files={
        "other": (None, "x")}), 422, "validation-error")
    assert fields_of(problem) == {"file", "other"}
    # A type that is no proof, an empty file.
    problem = assert_problem(await upload(client, own, b"MZ", "tool.exe",
                                          "application/x-msdownload"), 422, "validation-error")
    assert fields_of(problem) == {"file"}
    assert "application/x-msdownload" in problem["errors"][0]["message"]
    assert_problem(await upload(client, own, b""), 422, "validation-error")
    # Names a header or a file system cannot take, as for inline files.
    for name in ("a\r\nb.pdf", "a/b.pdf", "..", "tab\there.pdf", "x" * 201 + ".pdf",
                 "日本" * 50 + ".pdf"):
        problem = assert_problem(await upload(client, own, b"%PDF", filename=name), 422,
                                 "validation-error")
        assert fields_of(problem) == {"filename"}, name
    # Two files in one upload: a malformed request.
    two = await client.post("/v1/mdf/proofs", headers=own, files=[
        ("file", ("a.pdf", b"%PDF", "application/pdf")),
        ("file", ("b.pdf", b"%PDF", "application/pdf"))])
    assert_problem(two, 400, "malformed-request")
    # A name in any script: from the part's own filename, or the filename field.
    for fields, expected in (({}, "請求書 2025年3月.pdf"),
                             ({"filename": "Crème brûlée – facture nº 7.pdf"},
                              "Crème brûlée – facture nº 7.pdf")):
        made = await uploaded(client, own, b"%PDF-1.4", "請求書 2025年3月.pdf", **fields)
        assert made["filename"] == expected
        download = await client.get(f"/v1/mdf/proofs/{made['id']}/content", headers=own)
        assert download.status_code == 200 and download.content == b"%PDF-1.4"
        encoded = re.search(r"filename\*=UTF-8''(\S+)", download.headers["content-disposition"])
        assert encoded and unquote(encoded[1]) == expected
    # A content type's parameters are no part of it.
    made = await uploaded(client, own, b"a,b\n1,2\n", "leads.csv", "text/csv; charset=utf-8")
    assert made["content_type"] == "text/csv"


async def test_only_the_orgs_unused_uploads(client, vendor, as_partner, list_partner):
    partner, stranger = await list_partner(), await list_partner()
    own, theirs = as_partner(partner), as_partner(stranger)
    fund_request = await approved_request(client, vendor, own, partner)
    mine = await uploaded(client, own, b"%PDF-1.4 mine")
    foreign = await uploaded(client, theirs, b"%PDF-1.4 theirs")

    # Another org's upload is unknown to this partner: not readable, not claimable.
    for url in (f"/v1/mdf/proofs/{foreign['id']}", f"/v1/mdf/proofs/{foreign['id']}/content"):
        assert_problem(await client.get(url, headers=own), 404, "not-found")
    problem = assert_problem(await client.post("/v1/mdf/claims", headers=own, json=claim_body(
        fund_request, [mine["id"], foreign["id"]])), 422, "validation-error")
    assert fields_of(problem) == {"proof_ids[1]"}
    unknown = assert_problem(await client.post("/v1/mdf/claims", headers=own, json=claim_body(
        fund_request, [uuid.uuid4()])), 422, "validation-error")
    assert unknown["errors"][0]["message"] == problem["errors"][0]["message"]
    # A partner key uploads for its own org only, whatever it names.
    assert_problem(await upload(client, own, b"%PDF", partner_id=str(stranger)), 404,
                   "not-found")
    same = await uploaded(client, own, b"%PDF", partner_id=str(partner))
    assert same["partner_id"] == str(partner)
    # The same file twice, none at all, more than five in all.
    for body in (claim_body(fund_request, [mine["id"], mine["id"]]),
                 claim_body(fund_request, []),
                 claim_body(fund_request, [uuid.uuid4() for _ in range(4)],
                            inline=[b"%PDF", b"%PDF"])):
        assert_problem(await client.post("/v1/mdf/claims", headers=own, json=body), 422,
                       "validation-error")
    # An expired upload (its time is past; the job has not deleted it yet).
    stale = await uploaded(client, own, b"%PDF-1.4 stale")
    await client.connection.execute(text(
        "UPDATE mdf_proof_files SET created_at = now() - interval '25 hours' WHERE id = :id"),
        {"id": stale["id"]})
    problem = assert_problem(await client.post("/v1/mdf/claims", headers=own, json=claim_body(
        fund_request, [mine["id"], stale["id"]])), 422, "validation-error")
    assert fields_of(problem) == {"proof_ids[1]"}
    assert "expired" in problem["errors"][0]["message"]

    # Nothing was claimed by the refusals: the upload is still free, the request claimable,
    # an upload and an inline file together.
    claimed = await client.post("/v1/mdf/claims", headers=own, json=claim_body(
        fund_request, [mine["id"]], inline=[b"%PDF-1.4 inline"]))
    assert claimed.status_code == 201, claimed.text
    assert {p["filename"] for p in claimed.json()["proofs"]} == {"invoice.pdf",
                                                                "inline-0.pdf"}
    # Once in a claim it is used: another claim cannot name it.
    other_request = await approved_request(client, vendor, own, partner)
    problem = assert_problem(await client.post("/v1/mdf/claims", headers=own, json=claim_body(
        other_request, [mine["id"]])), 422, "validation-error")
    assert "another claim" in problem["errors"][0]["message"]
    # The other org's upload is untouched.
    record = (await client.get(f"/v1/mdf/proofs/{foreign['id']}", headers=theirs)).json()
    assert record["claim_id"] is None


async def test_a_vendor_uploads_for_a_partner(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    own = as_partner(partner)
    fund_request = await approved_request(client, vendor, own, partner)
    problem = assert_problem(await upload(client, vendor, b"%PDF"), 422, "validation-error")
    assert fields_of(problem) == {"partner_id"}
    assert_problem(await upload(client, vendor, b"%PDF", partner_id=str(uuid.uuid4())), 404,
                   "not-found")
    assert_problem(await upload(client, vendor, b"%PDF", partner_id="not-an-id"), 422,
                   "validation-error")
    made = await uploaded(client, vendor, b"%PDF-1.4 by the vendor", partner_id=str(partner))
    assert made["partner_id"] == str(partner)
    # The partner sees it as its own, and claims with it.
    seen = await client.get(f"/v1/mdf/proofs/{made['id']}", headers=own)
    assert seen.status_code == 200 and seen.json()["sha256"] == made["sha256"]
    claimed = await client.post("/v1/mdf/claims", headers=own,
                                json=claim_body(fund_request, [made["id"]]))
    assert claimed.status_code == 201, claimed.text
    # A key without the write scope uploads nothing.
    reader = as_partner(partner, ("incentives:read",))
    assert_problem(await upload(client, reader, b"%PDF"), 403, "forbidden")


async def test_an_upload_retried_with_its_key_is_made_once(client, as_partner, list_partner):
    own = as_partner(await list_partner())
    keyed = {**own, "Idempotency-Key": str(uuid.uuid4())}
    content = os.urandom(100_000)
    first = await upload(client, keyed, content)
    # The client draws a new multipart boundary for the retry: still the same request.
    retry = await upload(client, keyed, content)
    assert first.request.headers["content-type"] != retry.request.headers["content-type"]
    assert first.status_code == retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    count = (await client.connection.execute(text(
        "SELECT count(*) FROM mdf_proof_files WHERE sha256 = :sha"),
        {"sha": hashlib.sha256(content).hexdigest()})).scalar_one()
    assert count == 1
    # The same key with another file is another request.
    other = await upload(client, keyed, content[:-1])
    assert_problem(other, 422, "idempotency-key-reused")


async def test_unclaimed_uploads_expire(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    own = as_partner(partner)
    fund_request = await approved_request(client, vendor, own, partner)
    old, fresh, claimed = [await uploaded(client, own, f"%PDF {n}".encode()) for n in range(3)]
    made = await client.post("/v1/mdf/claims", headers=own,
                             json=claim_body(fund_request, [claimed["id"]]))
    assert made.status_code == 201, made.text
    await client.connection.execute(text(
        "UPDATE mdf_proof_files SET created_at = now() - interval '25 hours' "
        "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [old["id"], claimed["id"]]})
    async with AsyncSession(bind=client.connection) as session:
        assert await expire_proof_uploads(session, dt.timedelta(hours=24)) >= 1
        assert await expire_proof_uploads(session, dt.timedelta(hours=24)) == 0
    assert_problem(await client.get(f"/v1/mdf/proofs/{old['id']}", headers=own), 404,
                   "not-found")
    for kept in (fresh, claimed):
        assert (await client.get(f"/v1/mdf/proofs/{kept['id']}", headers=own)).status_code == 200
    [job] = [job for job in spec(Settings()).jobs if job.name == "expire-proof-uploads"]
    assert job.interval == dt.timedelta(hours=1)


def _nginx_body_limit() -> int:
    found = re.search(r"client_max_body_size\s+(\d+)([kKmM]?);",
                      (ROOT / "deploy" / "nginx" / "edge.conf").read_text())
    assert found, "the nginx edge sets client_max_body_size"
    return int(found[1]) * {"": 1, "k": 1024, "m": 1024 * 1024}[found[2].lower()]


def test_the_body_limits_agree(app):
    settings = Settings()
    # An upload of the largest file fits in the service's body limit and in the edges'.
    assert MAX_UPLOAD_BODY_BYTES <= settings.max_body_bytes <= _nginx_body_limit()
    caddy = str(caddy_config(8080, 8000, {"incentives": 8001}, {"incentives": ["/v1/mdf"]}))
    assert "max_size" not in caddy and "request_body" not in caddy  # Caddy: no limit of its own
    # A body limit that could not take an upload is refused at start.
    with pytest.raises(ValidationError, match="PRM_MAX_BODY_BYTES"):
        Settings(max_body_bytes=MAX_UPLOAD_BODY_BYTES - 1)
    # Every route that takes a body declares the 413 its limit may answer, as a problem.
    contract = app.openapi()
    with_body = 0
    for path, item in contract["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            with_body += 1
            assert "413" in operation["responses"], f"{method.upper()} {path} lacks its 413"
            assert PROBLEM in operation["responses"]["413"]["content"]
    assert with_body >= 20
    upload_body = contract["paths"]["/v1/mdf/proofs"]["post"]["requestBody"]
    assert set(upload_body["content"]) == {"multipart/form-data"}
    claim = contract["components"]["schemas"]["ClaimIn"]["properties"]
    assert claim["proofs"]["deprecated"] is True and "proof_ids" in claim


async def test_presigned_uploads_need_the_s3_store(client, as_partner, list_partner):
    own = as_partner(await list_partner())
    problem = assert_problem(await client.post("/v1/mdf/proofs/presigned", headers=own, json={
        "filename": "a.pdf", "content_type": "application/pdf", "size": 4,
        "sha256": hashlib.sha256(b"%PDF").hexdigest()}), 409, "conflict")
    assert "POST /v1/mdf/proofs" in problem["detail"]
    # Sizes beyond a proof's are refused as the field they are.
    problem = assert_problem(await client.post("/v1/mdf/proofs/presigned", headers=own, json={
        "filename": "a.pdf", "content_type": "application/pdf", "size": MAX_PROOF_BYTES + 1,
        "sha256": "0" * 64}), 422, "validation-error")
    assert fields_of(problem) == {"size"}
