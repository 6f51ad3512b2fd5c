"""Both SDKs against the running stack: the TypeScript SDK as built by `make sdk` (a node script
drives it), the Python SDK (prm_sdk) in-process. Each creates partners (one of them through an
answer lost on the way back, retried with the same Idempotency-Key), lists them with a filter,
a search and a sort page by page, reads conditionally, and catches problems as typed errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from prm_sdk import PrmClient, ProblemError, RetryPolicy, is_problem

ROOT = Path(__file__).resolve().parents[2]
README_URL, README_KEY = "http://127.0.0.1:8000", "prm_..."


def readme_example(language: str) -> str:
    """The README's example in this language (its section "SDKs")."""
    section = (ROOT / "README.md").read_text().split("\n## SDKs\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    assert len(found) == 1, f"the README's SDKs section lost its {language} example"
    return found[0]

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def typescript_sdk() -> Path:
    """The TypeScript SDK, built (and unit-tested) from the contract as it is now: `make sdk`,
    which does nothing when neither changed since its last run."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("the TypeScript SDK needs Node.js and npm (see README, 'Run it')")
    build = subprocess.run(["make", "--no-print-directory", "sdk"], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    return ROOT / "clients" / "typescript" / "dist"


def test_typescript_sdk_against_the_stack(typescript_sdk, prm_stack_processes) -> None:
    run = subprocess.run(
        ["node", str(Path(__file__).with_name("typescript_scenario.mjs"))],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PRM_URL": prm_stack_processes.gateway_url,
             "PRM_KEY": prm_stack_processes.admin_key})
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    word = summary["word"]
    assert summary["msps"] == [f"{word} Gamma", f"{word} Alpha"]
    assert [len(page) for page in summary["pages"]] == [2, 1]
    assert summary["missing"] == "/problems/not-found"
    assert "country" in summary["invalid"]


class LosesFirstAnswer(httpx.HTTPTransport):
    """Sends every request; the first one's answer is lost on the way back."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.sent += 1
        if self.sent == 1:
            response.read()
            response.close()
            raise httpx.RemoteProtocolError("connection reset", request=request)
        return response


def test_python_sdk_against_the_stack(prm_stack_processes) -> None:
    url, key = prm_stack_processes.gateway_url, prm_stack_processes.admin_key
    word = f"Psdk{uuid.uuid4().hex[:10]}"
    transport = LosesFirstAnswer()
    with PrmClient(url, api_key=key, transport=transport,
                   retry=RetryPolicy(min_delay=0.01)) as flaky:
        alpha = flaky.post("/v1/partners", {"name": f"{word} Alpha", "type": "msp",
                                            "country": "DE"})
    assert alpha.status_code == 201 and alpha.replayed and transport.sent == 2

    with PrmClient(url, api_key=key) as prm:
        beta = prm.post("/v1/partners", {"name": f"{word} Beta", "type": "reseller",
                                         "country": "FR"}).data
        gamma = prm.post("/v1/partners", {"name": f"{word} Gamma", "type": "msp",
                                          "country": "AT"}).data

        msps = prm.paginate("/v1/partners", {"q": word.upper(), "type": ["msp"],
                                             "sort": "-name", "limit": 1})
        assert [p["name"] for p in msps] == [f"{word} Gamma", f"{word} Alpha"]
        pages = list(prm.pages("/v1/partners", {"q": word, "limit": 2,
                                                "include": "total_count"}))
        assert [p["id"] for page in pages for p in page["items"]] == [
            alpha.data["id"], beta["id"], gamma["id"]]
        assert {page["total_count"] for page in pages} == {3}

        ids = {"path_params": {"partner_id": gamma["id"]}}
        read = prm.get("/v1/partners/{partner_id}", **ids)
        assert read.etag and prm.get("/v1/partners/{partner_id}", if_none_match=read.etag,
                                     **ids).not_modified
        activated = prm.post("/v1/partners/{partner_id}/activate", if_match=read.etag, **ids)
        assert activated.data["status"] == "active" and activated.etag != read.etag
        with pytest.raises(ProblemError) as stale:
            prm.post("/v1/partners/{partner_id}/activate", if_match=read.etag, **ids)
        assert stale.value.matches("precondition-failed") and stale.value.status == 412

        with pytest.raises(ProblemError) as missing:
            prm.get("/v1/partners/{partner_id}", path_params={"partner_id": uuid.uuid4()})
        assert (missing.value.type, missing.value.status) == ("/problems/not-found", 404)
        assert missing.value.request_id

        with pytest.raises(ProblemError) as invalid:
            prm.post("/v1/partners", {"name": f"{word} Delta", "type": "msp",
                                      "country": "Germany"})
        assert is_problem(invalid.value, "validation-error") and invalid.value.status == 422
        assert any(e["location"] == "body" and e["field"] == "country"
                   for e in invalid.value.errors)


def test_the_readmes_examples_run(typescript_sdk, prm_stack_processes, tmp_path) -> None:
    url, key = prm_stack_processes.gateway_url, prm_stack_processes.admin_key
    assert README_URL in readme_example("ts") and README_KEY in readme_example("python")

    # TypeScript: type-checked (strict) against the built SDK, compiled, run.
    example = (readme_example("ts").replace(README_URL, url).replace(f'"{README_KEY}"', f'"{key}"')
               .replace('"@prm/sdk"', json.dumps(str(typescript_sdk / "index.js"))))
    (tmp_path / "example.ts").write_text(example)
    tsc = ROOT / "clients" / "typescript" / "node_modules" / ".bin" / "tsc"
    compiled = subprocess.run(
        [str(tsc), "--strict", "--target", "ES2022", "--module", "ES2022", "--moduleResolution",
         "bundler", "--lib", "ES2022,DOM", "--types", "node", "--typeRoots",
         str(ROOT / "clients" / "typescript" / "node_modules" / "@types"), "--outDir",
         str(tmp_path / "out"), str(tmp_path / "example.ts")],
        capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    (tmp_path / "out" / "package.json").write_text('{"type": "module"}')
    ran = subprocess.run(["node", str(tmp_path / "out" / "example.js")], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Acme Cloud GmbH active" in ran.stdout.splitlines()
    assert ran.stdout.splitlines()[-1].startswith("404 Not found ")

    # Python, in the project's environment.
    example = readme_example("python").replace(README_URL, url).replace(README_KEY, key)
    ran = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Acme Cloud GmbH active" in ran.stdout.splitlines()
    assert ran.stdout.splitlines()[-1].startswith("404 Not found ")
