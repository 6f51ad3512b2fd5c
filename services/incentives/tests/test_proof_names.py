"""Proof files named in any script download intact: the answer's Content-Disposition carries
the exact name in ``filename*`` (UTF-8, percent-encoded: RFC 6266 and RFC 8187) beside a safe
ASCII ``filename`` fallback. Names a header or a file system cannot take (control characters
such as CR and LF, path separators, too long) are refused on upload, naming the field."""

import base64
import re
import urllib.parse
import uuid

import pytest

from prm_incentives.mdf.proofs import content_disposition

from .test_mdf import allocate, make_budget, request_body

NAMES = [
    "Crème brûlée – facture nº 7.pdf",  # Latin with accents, an en dash
    "euro-€.txt",
    "日本語.txt",
    "請求書 2025年3月.pdf",  # CJK with ASCII digits
    "\u200fفاتورة الفعالية.pdf",  # Arabic after a right-to-left mark
    "קבלה\u200f.txt",  # Hebrew, a right-to-left mark before the extension
    "🎉 event photo 👍🏽.png",  # emoji, one with a skin tone modifier
    'quote " and ; semicolon, percent %.csv',
]
SAFE_FALLBACK = re.compile(r"[A-Za-z0-9 ._()+,=-]+")
CONTENT_TYPES = {"pdf": "application/pdf", "txt": "text/plain", "png": "image/png",
                 "csv": "text/csv"}


def proof(name: str, content: bytes = b"proof of performance") -> dict:
    return {"filename": name, "content_type": CONTENT_TYPES[name.rsplit(".", 1)[-1]],
            "content_base64": base64.b64encode(content).decode()}


def parsed(disposition: str) -> tuple[str, str]:
    """(filename, filename*) of a Content-Disposition value, filename* decoded."""
    match = re.fullmatch(r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'([^;\s]+)',
                         disposition)
    assert match, disposition
    return match[1], urllib.parse.unquote(match[2], encoding="utf-8", errors="strict")


async def approved_request(client, vendor, as_partner, list_partner):
    partner = await list_partner()
    own = as_partner(partner)
    allocation = await allocate(client, vendor, await make_budget(client, vendor), partner,
                                "1000.00")
    made = (await client.post("/v1/mdf/requests", headers=own,
                              json=request_body(allocation, "100.00"))).json()
    approved = await client.post(f"/v1/mdf/requests/{made['id']}/approve", headers=vendor)
    assert approved.status_code == 200, approved.text
    return made, own


async def test_names_in_any_script_download_intact(client, vendor, as_partner, list_partner):
    for chunk in (NAMES[:5], NAMES[5:]):
        request, own = await approved_request(client, vendor, as_partner, list_partner)
        contents = [f"file {index}: {name}".encode() for index, name in enumerate(chunk)]
        made = await client.post("/v1/mdf/claims", headers=own, json={
            "request_id": request["id"], "amount": {"amount": "90.00", "currency": "EUR"},
            "description": "done",
            "proofs": [proof(name, content)
                       for name, content in zip(chunk, contents, strict=True)]})
        assert made.status_code == 201, made.text
        claim = made.json()
        assert [p["filename"] for p in claim["proofs"]] == chunk
        for stored, name, content in zip(claim["proofs"], chunk, contents, strict=True):
            url = f"/v1/mdf/claims/{claim['id']}/proofs/{stored['id']}"
            for headers in (own, vendor):
                download = await client.get(url, headers=headers)
                assert download.status_code == 200, download.text
                assert download.content == content
                disposition = download.headers["content-disposition"]
                assert disposition.isascii() and disposition.isprintable()
                fallback, exact = parsed(disposition)
                assert exact == name
                assert SAFE_FALLBACK.fullmatch(fallback), fallback
                assert not fallback.startswith(".")
                assert fallback.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]


def test_the_fallback_keeps_what_ascii_can_say():
    proof_id = uuid.uuid4()
    assert parsed(content_disposition("Crème brûlée.pdf", proof_id)) == (
        "Creme brulee.pdf", "Crème brûlée.pdf")
    assert parsed(content_disposition("日本語.txt", proof_id))[0] == f"proof-{proof_id}.txt"
    assert parsed(content_disposition("invoice.pdf", proof_id)) == ("invoice.pdf",
                                                                    "invoice.pdf")
    # A name stored before the checks on upload still makes a header of printable ASCII.
    fallback, exact = parsed(content_disposition("a\r\nSet-Cookie: x=1.txt", proof_id))
    assert exact == "a\r\nSet-Cookie: x=1.txt" and SAFE_FALLBACK.fullmatch(fallback)


@pytest.mark.parametrize("name", [
    "invoice\r\n.pdf", "invoice\n.pdf", "invoice\r.pdf", "invoice\t.pdf", "in\x00voice.pdf",
    "in\x1bvoice.pdf", "in\x7fvoice.pdf", "in\x85voice.pdf", "in\u2028voice.pdf",
    "../invoice.pdf", "reports/invoice.pdf", "reports\\invoice.pdf", "..", ".",
    "x" * 197 + ".pdf", "日" * 84 + ".pdf"])
async def test_names_a_header_or_a_file_system_cannot_take_are_refused(
        client, vendor, as_partner, list_partner, name):
    request, own = await approved_request(client, vendor, as_partner, list_partner)
    body = {"request_id": request["id"], "amount": {"amount": "90.00", "currency": "EUR"},
            "description": "done",
            "proofs": [proof("fine.pdf"), {**proof("x.pdf"), "filename": name}]}
    refused = await client.post("/v1/mdf/claims", headers=own, json=body)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/validation-error"
    assert {e["field"] for e in problem["errors"]} == {"proofs[1].filename"}, problem
    # Nothing was claimed: the request can still be claimed with a good name.
    body["proofs"][1]["filename"] = "fine too.pdf"
    assert (await client.post("/v1/mdf/claims", headers=own, json=body)).status_code == 201


async def test_the_longest_names_allowed_are_taken(client, vendor, as_partner, list_partner):
    request, own = await approved_request(client, vendor, as_partner, list_partner)
    names = ["x" * 196 + ".pdf", "日" * 83 + ".pdf"]  # 200 characters; 253 bytes
    made = await client.post("/v1/mdf/claims", headers=own, json={
        "request_id": request["id"], "amount": {"amount": "90.00", "currency": "EUR"},
        "description": "done", "proofs": [proof(name) for name in names]})
    assert made.status_code == 201, made.text
    assert [p["filename"] for p in made.json()["proofs"]] == names
