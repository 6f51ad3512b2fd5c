"""Proof files in an S3-compatible store, against a real local S3 server (moto's, started as a
process on a free port): upload, download byte for byte, the SHA-256 checked as the file
streams, the limits, the store going down (503 with Retry-After, never a 500), the sweep of
objects a failed claim left behind, files uploaded on their own and expired. The PostgreSQL
default is covered by test_mdf.py and test_proof_uploads.py."""

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from aiobotocore.session import get_session
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_incentives.config import Settings
from prm_incentives.main import create_app
from prm_incentives.mdf.proofs import (
    KEY_FOLDER,
    ProofIntegrityError,
    proof_jobs,
    sweep_orphans,
    verified,
)
from prm_incentives.mdf.service import expire_proof_uploads
from prm_stack.testing import rolled_back_client

from .conftest import project_partner
from .test_mdf import allocate, make_budget, request_body

BUCKET = "prm-proofs"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def s3_server():
    """moto's S3 server as a process of its own; yields its URL and the process."""
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/moto-api/", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the local S3 server did not start")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@contextlib.asynccontextmanager
async def s3_client(url: str):
    async with get_session().create_client("s3", endpoint_url=url, region_name="us-east-1",
                                           **CREDENTIALS) as client:
        yield client


async def make_bucket(url: str) -> None:
    async with s3_client(url) as s3:
        await s3.create_bucket(Bucket=BUCKET)


def s3_settings(url: str, prefix: str) -> Settings:
    return Settings(proof_store="s3", proof_s3_bucket=BUCKET, proof_s3_endpoint_url=url,
                    proof_s3_access_key_id="testing", proof_s3_secret_access_key="testing",
                    proof_s3_key_prefix=prefix, proof_s3_timeout_seconds=2)


@pytest.fixture(scope="session")
async def s3_url():
    with s3_server() as (url, _):
        await make_bucket(url)
        yield url


@pytest.fixture
def prefix():
    """Each test's objects under a prefix of their own, so listings see only them."""
    return f"t-{uuid.uuid4().hex[:12]}/"


@contextlib.asynccontextmanager
async def app_client(settings: Settings, engine):
    app = create_app(settings)
    try:
        async with rolled_back_client(app, engine) as client:
            yield app, client
    finally:
        stores = getattr(app.state, "proof_stores", None)
        if stores is not None:
            await stores.close()
        await app.state.engine.dispose()


async def new_partner(app) -> uuid.UUID:
    """An active partner in the directory, as its events put it there (rolled back too)."""
    partner_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        await project_partner(session, partner_id)
        await session.commit()
    return partner_id


async def approved_request(client, vendor, partner_headers, partner):
    budget = await make_budget(client, vendor, "10000.00")
    allocation = await allocate(client, vendor, budget, partner, "5000.00")
    submitted = await client.post("/v1/mdf/requests", headers=partner_headers,
                                  json=request_body(allocation, "2000.00"))
    assert submitted.status_code == 201, submitted.text
    approved = await client.post(f"/v1/mdf/requests/{submitted.json()['id']}/approve",
                                 headers={**vendor, "If-Match": submitted.headers["ETag"]})
    assert approved.status_code == 200, approved.text
    return approved.json()


async def new_claim(app, client, vendor, as_partner, *files):
    """A new partner's claim with ``files`` on an approved request: its key's headers and the
    claim."""
    partner = await new_partner(app)
    partner_headers = as_partner(partner)
    fund_request = await approved_request(client, vendor, partner_headers, partner)
    claimed = await client.post("/v1/mdf/claims", headers=partner_headers,
                                json=claim_body(fund_request, *files))
    assert claimed.status_code == 201, claimed.text
    return partner_headers, claimed.json()


def claim_body(fund_request, *files):
    return {"request_id": fund_request["id"], "amount": {"amount": "1500.00", "currency": "EUR"},
            "description": "Webinar held; 31 leads.",
            "proofs": [{"filename": name, "content_type": media_type,
                        "content_base64": base64.b64encode(content).decode()}
                       for name, media_type, content in files]}


async def objects_under(url: str, prefix: str) -> dict[str, bytes]:
    found = {}
    async with s3_client(url) as s3:
        listed = await s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        for item in listed.get("Contents", []):
            answer = await s3.get_object(Bucket=BUCKET, Key=item["Key"])
            async with answer["Body"] as body:
                found[item["Key"]] = await body.read()
    return found


PDF = b"%PDF-1.4\n% attendee list\n" + bytes(range(256)) * 40
# Larger than one streamed chunk, so the download comes in several.
PHOTO = b"\x89PNG\r\n\x1a\n" + os.urandom(200 * 1024)


async def test_upload_and_download_byte_for_byte(s3_url, prefix, engine, vendor, as_partner):
    async with app_client(s3_settings(s3_url, prefix), engine) as (app, client):
        partner_headers, claim = await new_claim(app, client, vendor, as_partner,
                                                 ("attendees.pdf", "application/pdf", PDF),
                                                 ("booth.png", "image/png", PHOTO))
        proofs = {proof["filename"]: proof for proof in claim["proofs"]}
        assert proofs["attendees.pdf"]["sha256"] == hashlib.sha256(PDF).hexdigest()
        assert proofs["booth.png"]["size"] == len(PHOTO)

        # The metadata is in PostgreSQL, the bytes only in the bucket.
        rows = {row.filename: row for row in await client.connection.execute(text(
            "SELECT id, filename, store, object_key, content, sha256, size "
            "FROM mdf_proof_files WHERE claim_id = :claim"), {"claim": claim["id"]})}
        for name, content in (("attendees.pdf", PDF), ("booth.png", PHOTO)):
            row = rows[name]
            assert (row.store, row.content) == ("s3", None)
            assert row.object_key == f"{prefix}{KEY_FOLDER}{row.id}"
            assert (row.sha256, row.size) == (hashlib.sha256(content).hexdigest(), len(content))
        stored = await objects_under(s3_url, prefix)
        assert stored == {rows["attendees.pdf"].object_key: PDF,
                          rows["booth.png"].object_key: PHOTO}

        for name, content, media_type in (("attendees.pdf", PDF, "application/pdf"),
                                          ("booth.png", PHOTO, "image/png")):
            download = await client.get(
                f"/v1/mdf/claims/{claim['id']}/proofs/{proofs[name]['id']}",
                headers=partner_headers)
            assert download.status_code == 200, download.text
            assert download.content == content
            assert download.headers["content-type"] == media_type
            assert download.headers["content-length"] == str(len(content))
            assert download.headers["x-content-sha256"] == hashlib.sha256(content).hexdigest()

        # Another org's partner still gets a 404, whatever the store.
        stranger = as_partner(await new_partner(app))
        hidden = await client.get(f"/v1/mdf/claims/{claim['id']}/proofs/"
                                  f"{proofs['booth.png']['id']}", headers=stranger)
        assert hidden.status_code == 404

        # A file kept in PostgreSQL before the switch is still served from there.
        older = uuid.uuid4()
        await client.connection.execute(text(
            "INSERT INTO mdf_proof_files (id, claim_id, filename, content_type, size, sha256, "
            "content, created_at) VALUES (:id, :claim, 'old.txt', 'text/plain', 3, :sha, "
            "'old', now())"),
            {"id": older, "claim": claim["id"], "sha": hashlib.sha256(b"old").hexdigest()})
        download = await client.get(f"/v1/mdf/claims/{claim['id']}/proofs/{older}",
                                    headers=partner_headers)
        assert download.status_code == 200 and download.content == b"old"


async def test_limits_are_enforced_before_any_upload(s3_url, prefix, engine, vendor, as_partner):
    async with app_client(s3_settings(s3_url, prefix), engine) as (app, client):
        partner = await new_partner(app)
        partner_headers = as_partner(partner)
        fund_request = await approved_request(client, vendor, partner_headers, partner)
        too_big = b"x" * (256 * 1024 + 1)
        refused = await client.post("/v1/mdf/claims", headers=partner_headers, json=claim_body(
            fund_request, ("fine.pdf", "application/pdf", PDF),
            ("big.pdf", "application/pdf", too_big)))
        assert refused.status_code in (413, 422), refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        executable = await client.post("/v1/mdf/claims", headers=partner_headers,
                                       json=claim_body(fund_request, (
                                           "tool.exe", "application/x-msdownload", b"MZ")))
        assert executable.status_code == 422
        six = [(f"p{i}.txt", "text/plain", b"proof") for i in range(6)]
        too_many = await client.post("/v1/mdf/claims", headers=partner_headers,
                                     json=claim_body(fund_request, *six))
        assert too_many.status_code == 422
        # Nothing reached the bucket, and the request can still be claimed.
        assert await objects_under(s3_url, prefix) == {}
        five = await client.post("/v1/mdf/claims", headers=partner_headers,
                                 json=claim_body(fund_request, *six[:5]))
        assert five.status_code == 201, five.text
        assert len(await objects_under(s3_url, prefix)) == 5


async def test_store_down_is_503_with_retry_after(prefix, engine, vendor, as_partner):
    with s3_server() as (url, process):
        await make_bucket(url)
        async with app_client(s3_settings(url, prefix), engine) as (app, client):
            partner = await new_partner(app)
            partner_headers = as_partner(partner)
            fund_request = await approved_request(client, vendor, partner_headers, partner)
            claimed = await client.post("/v1/mdf/claims", headers=partner_headers,
                                        json=claim_body(fund_request, (
                                            "a.pdf", "application/pdf", PDF)))
            assert claimed.status_code == 201, claimed.text
            claim = claimed.json()
            next_request = await approved_request(client, vendor, partner_headers, partner)

            # The store goes away while the service runs.
            process.terminate()
            process.wait(timeout=10)

            download = await client.get(f"/v1/mdf/claims/{claim['id']}/proofs/"
                                        f"{claim['proofs'][0]['id']}", headers=partner_headers)
            assert_unavailable(download)
            started = time.monotonic()
            refused = await client.post("/v1/mdf/claims", headers=partner_headers,
                                        json=claim_body(next_request, (
                                            "a.pdf", "application/pdf", PDF)))
            assert time.monotonic() - started < 30
            assert_unavailable(refused)
            # The claim's transaction was rolled back: no claim, the request still approved.
            claims = (await client.get(f"/v1/mdf/claims?request_id={next_request['id']}",
                                       headers=partner_headers)).json()["items"]
            assert claims == []
            again = (await client.get(f"/v1/mdf/requests/{next_request['id']}",
                                      headers=partner_headers)).json()
            assert again["status"] == "approved"
            # Reading the claim needs only PostgreSQL: its files' metadata is still there.
            read = await client.get(f"/v1/mdf/claims/{claim['id']}", headers=partner_headers)
            assert read.status_code == 200 and read.json()["proofs"] == claim["proofs"]


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    problem = response.json()
    assert problem["type"] == "/problems/service-unavailable"
    assert "proof file store is unavailable" in problem["detail"]


async def test_a_changed_object_never_reaches_the_client_whole(s3_url, prefix, engine, vendor,
                                                               as_partner):
    async with app_client(s3_settings(s3_url, prefix), engine) as (app, client):
        partner_headers, claim = await new_claim(app, client, vendor, as_partner,
                                                 ("booth.png", "image/png", PHOTO))
        [key] = await objects_under(s3_url, prefix)
        tampered = PHOTO[:-1] + bytes([PHOTO[-1] ^ 1])
        async with s3_client(s3_url) as s3:
            await s3.put_object(Bucket=BUCKET, Key=key, Body=tampered)
        received = bytearray()
        with pytest.raises(ProofIntegrityError):
            async with client.stream("GET", f"/v1/mdf/claims/{claim['id']}/proofs/"
                                     f"{claim['proofs'][0]['id']}",
                                     headers=partner_headers) as download:
                assert download.status_code == 200
                async for chunk in download.aiter_bytes():
                    received.extend(chunk)
        # Whatever arrived is short of the Content-Length: the client can tell.
        assert len(received) < len(PHOTO)
        assert tampered.startswith(bytes(received))
        # An object gone from the store is a 503 too, before any byte.
        async with s3_client(s3_url) as s3:
            await s3.delete_object(Bucket=BUCKET, Key=key)
        gone = await client.get(f"/v1/mdf/claims/{claim['id']}/proofs/"
                                f"{claim['proofs'][0]['id']}", headers=partner_headers)
        assert gone.status_code == 503 and "missing" in gone.json()["detail"]


async def collect(chunks):
    received = bytearray()
    with contextlib.suppress(ProofIntegrityError):
        async for chunk in chunks:
            received.extend(chunk)
        return bytes(received), True
    return bytes(received), False


async def chunked(content: bytes, cuts: list[int]):
    edges = sorted({0, len(content), *(cut % (len(content) + 1) for cut in cuts)})
    for start, end in zip(edges, edges[1:], strict=False):
        yield content[start:end]
        await asyncio.sleep(0)


@hypothesis_settings(max_examples=200, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(min_size=1, max_size=2000), cuts=st.lists(st.integers(0, 2000),
                                                                  max_size=8),
       flip=st.integers(0, 1999))
def test_verified_passes_the_file_or_never_all_of_it(content, cuts, flip):
    """Invariant of the streamed check: the file's own bytes pass whole, however they are cut
    into chunks; a file changed anywhere is stopped before its last byte."""
    digest = hashlib.sha256(content).hexdigest()
    passed, complete = asyncio.run(collect(verified(chunked(content, cuts), digest,
                                                    uuid.uuid4())))
    assert complete and passed == content
    position = flip % len(content)
    changed = content[:position] + bytes([content[position] ^ 0xFF]) + content[position + 1:]
    passed, complete = asyncio.run(collect(verified(chunked(changed, cuts), digest,
                                                    uuid.uuid4())))
    assert not complete and len(passed) < len(changed)
    assert changed.startswith(passed)


def id_at(moment: dt.datetime) -> uuid.UUID:
    """A UUIDv7 of ``moment``: 48 bits of Unix milliseconds, version 7, variant, random."""
    value = (int(moment.timestamp() * 1000) << 80) | (0x7 << 76) | (0b10 << 62)
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value |= (int.from_bytes(os.urandom(2), "big") & 0xFFF) << 64
    return uuid.UUID(int=value)


async def test_sweep_deletes_only_old_objects_without_a_row(s3_url, prefix, engine, vendor,
                                                            as_partner):
    async with app_client(s3_settings(s3_url, prefix), engine) as (app, client):
        partner_headers, claim = await new_claim(app, client, vendor, as_partner,
                                                 ("a.pdf", "application/pdf", PDF))
        [claimed_key] = await objects_under(s3_url, prefix)

        now = dt.datetime.now(dt.UTC)
        kept_old, orphan, too_young, too_old = (id_at(now - dt.timedelta(hours=2)),
                                                id_at(now - dt.timedelta(hours=3)),
                                                id_at(now - dt.timedelta(minutes=5)),
                                                id_at(now - dt.timedelta(days=3)))
        folder = prefix + KEY_FOLDER
        async with s3_client(s3_url) as s3:
            for proof_id in (kept_old, orphan, too_young, too_old):
                await s3.put_object(Bucket=BUCKET, Key=f"{folder}{proof_id}", Body=b"proof")
            await s3.put_object(Bucket=BUCKET, Key=f"{folder}not-an-id", Body=b"other")
        # An old upload whose claim did commit.
        await client.connection.execute(text(
            "INSERT INTO mdf_proof_files (id, claim_id, filename, content_type, size, sha256, "
            "store, object_key, created_at) VALUES (:id, :claim, 'b.txt', 'text/plain', 5, "
            ":sha, 's3', :key, now())"),
            {"id": kept_old, "claim": claim["id"], "sha": hashlib.sha256(b"proof").hexdigest(),
             "key": f"{folder}{kept_old}"})

        stores = app.state.proof_stores
        async with AsyncSession(bind=client.connection) as session:
            deleted = await sweep_orphans(session, store=stores.s3,
                                          grace=dt.timedelta(hours=1),
                                          lookback=dt.timedelta(days=1))
            assert deleted == 1
            # Run again, nothing more to do.
            assert await sweep_orphans(session, store=stores.s3, grace=dt.timedelta(hours=1),
                                       lookback=dt.timedelta(days=1)) == 0
        left = set(await objects_under(s3_url, prefix))
        assert left == {claimed_key, f"{folder}{kept_old}", f"{folder}{too_young}",
                        f"{folder}{too_old}", f"{folder}not-an-id"}


def test_settings_of_the_store():
    assert Settings().proof_store == "postgres"
    assert proof_jobs(Settings()) == []
    with pytest.raises(ValidationError, match="PROOF_S3_BUCKET"):
        Settings(proof_store="s3")
    with pytest.raises(ValidationError, match="together"):
        Settings(proof_store="s3", proof_s3_bucket="b", proof_s3_access_key_id="k")
    [job] = proof_jobs(Settings(proof_store="s3", proof_s3_bucket="b"))
    assert job.name == "sweep-orphaned-proof-objects"
    # A bucket configured while writing to PostgreSQL again: its files stay readable, and
    # its orphans are still swept.
    assert len(proof_jobs(Settings(proof_s3_bucket="b"))) == 1


async def test_uploads_on_their_own_go_to_the_bucket_and_expire(s3_url, prefix, engine, vendor,
                                                                as_partner):
    async with app_client(s3_settings(s3_url, prefix), engine) as (app, client):
        partner = await new_partner(app)
        partner_headers = as_partner(partner)
        fund_request = await approved_request(client, vendor, partner_headers, partner)
        made = []
        for name, media_type, content in (("booth.png", "image/png", PHOTO),
                                          ("attendees.pdf", "application/pdf", PDF)):
            answer = await client.post("/v1/mdf/proofs", headers=partner_headers,
                                       files={"file": (name, content, media_type)})
            assert answer.status_code == 201, answer.text
            made.append(answer.json())
        assert await objects_under(s3_url, prefix) == {
            f"{prefix}{KEY_FOLDER}{upload['id']}": content
            for upload, content in zip(made, (PHOTO, PDF), strict=True)}
        row = (await client.connection.execute(text(
            "SELECT store, content FROM mdf_proof_files WHERE id = :id"),
            {"id": made[0]["id"]})).one()
        assert (row.store, row.content) == ("s3", None)

        # The photo is claimed and downloads intact; the PDF is never claimed.
        claimed = await client.post("/v1/mdf/claims", headers=partner_headers, json={
            "request_id": fund_request["id"], "amount": {"amount": "1500.00", "currency": "EUR"},
            "description": "Webinar held.", "proof_ids": [made[0]["id"]]})
        assert claimed.status_code == 201, claimed.text
        download = await client.get(f"/v1/mdf/claims/{claimed.json()['id']}/proofs/"
                                    f"{made[0]['id']}", headers=partner_headers)
        assert download.status_code == 200 and download.content == PHOTO

        # A day and more later the PDF expires: its row goes, then the sweep takes its object.
        await client.connection.execute(text(
            "UPDATE mdf_proof_files SET created_at = now() - interval '25 hours' "
            "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [m["id"] for m in made]})
        stores = app.state.proof_stores
        async with AsyncSession(bind=client.connection) as session:
            assert await expire_proof_uploads(session, dt.timedelta(hours=24)) == 1
            # The sweep looks at objects by the time in their ids; these are seconds old.
            assert await sweep_orphans(session, store=stores.s3, grace=dt.timedelta(0),
                                       lookback=dt.timedelta(days=2)) == 1
        assert set(await objects_under(s3_url, prefix)) == {
            f"{prefix}{KEY_FOLDER}{made[0]['id']}"}


def presign_body(name: str, media_type: str, content: bytes) -> dict:
    return {"filename": name, "content_type": media_type, "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest()}


async def test_presigned_upload_straight_to_the_bucket(s3_url, prefix, engine, vendor,
                                                       as_partner):
    # Clients reach the store by another name than the service does: the URL is signed for it.
    public = s3_url.replace("127.0.0.1", "localhost")
    settings = s3_settings(s3_url, prefix).model_copy(
        update={"proof_s3_presign_endpoint_url": public})
    async with app_client(settings, engine) as (app, client):
        partner = await new_partner(app)
        partner_headers = as_partner(partner)
        fund_request = await approved_request(client, vendor, partner_headers, partner)
        presigned = await client.post("/v1/mdf/proofs/presigned", headers=partner_headers,
                                      json=presign_body("booth.png", "image/png", PHOTO))
        assert presigned.status_code == 201, presigned.text
        answer = presigned.json()
        proof = answer["proof"]
        assert proof["status"] == "pending" and proof["size"] == len(PHOTO)
        assert answer["method"] == "PUT" and answer["url"].startswith(public + "/")
        assert answer["headers"] == {"Content-Type": "image/png"}
        assert presigned.headers["location"] == f"/v1/mdf/proofs/{proof['id']}"

        # Nothing arrived yet: it cannot be completed, claimed or downloaded.
        early = await client.post(f"/v1/mdf/proofs/{proof['id']}/complete",
                                  headers=partner_headers)
        assert early.status_code == 409, early.text
        claim = {"request_id": fund_request["id"], "amount": {"amount": "1500.00",
                                                              "currency": "EUR"},
                 "description": "Webinar held.", "proof_ids": [proof["id"]]}
        refused = await client.post("/v1/mdf/claims", headers=partner_headers, json=claim)
        assert refused.status_code == 422 and "not completed" in refused.text
        assert (await client.get(f"/v1/mdf/proofs/{proof['id']}/content",
                                 headers=partner_headers)).status_code == 409

        async with httpx.AsyncClient() as outside:
            # Other bytes than announced: refused on completion, and the object deleted.
            put = await outside.put(answer["url"], content=PHOTO[:-1] + b"!",
                                    headers=answer["headers"])
            assert put.status_code == 200, put.text
            wrong = await client.post(f"/v1/mdf/proofs/{proof['id']}/complete",
                                      headers=partner_headers)
            assert wrong.status_code == 422 and "not the one announced" in wrong.text
            assert await objects_under(s3_url, prefix) == {}
            # The URL takes the right file.
            put = await outside.put(answer["url"], content=PHOTO, headers=answer["headers"])
            assert put.status_code == 200, put.text
        done = await client.post(f"/v1/mdf/proofs/{proof['id']}/complete",
                                 headers=partner_headers)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "stored"
        again = await client.post(f"/v1/mdf/proofs/{proof['id']}/complete",
                                  headers=partner_headers)
        assert again.status_code == 200 and again.json() == done.json()

        claimed = await client.post("/v1/mdf/claims", headers=partner_headers, json=claim)
        assert claimed.status_code == 201, claimed.text
        [listed] = claimed.json()["proofs"]
        assert listed["sha256"] == hashlib.sha256(PHOTO).hexdigest()
        download = await client.get(f"/v1/mdf/claims/{claimed.json()['id']}/proofs/"
                                    f"{proof['id']}", headers=partner_headers)
        assert download.status_code == 200 and download.content == PHOTO


async def test_a_presigned_upload_larger_than_a_proof_is_refused(s3_url, prefix, engine,
                                                                 as_partner):
    async with app_client(s3_settings(s3_url, prefix), engine) as (app, client):
        partner_headers = as_partner(await new_partner(app))
        presigned = (await client.post("/v1/mdf/proofs/presigned", headers=partner_headers,
                                       json=presign_body("a.pdf", "application/pdf", PDF))
                     ).json()
        # The URL cannot bound what is sent; completion does.
        async with httpx.AsyncClient() as outside:
            put = await outside.put(presigned["url"], content=PDF * 100,
                                    headers=presigned["headers"])
            assert put.status_code == 200
        refused = await client.post(f"/v1/mdf/proofs/{presigned['proof']['id']}/complete",
                                    headers=partner_headers)
        assert refused.status_code == 422, refused.text
        assert await objects_under(s3_url, prefix) == {}
