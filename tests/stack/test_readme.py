"""The README's first calls paste and run as written, against a running stack.

Every ```sh block of the "First API calls" section runs, in order, then those of "Partner
programme", in one bash with
``set -euo pipefail``, from a directory laid out like the repository after ``make run`` (the dev
admin key in ``.prm/dev-admin-key``). The only change made to the text is the gateway's port.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.stack


def blocks(title: str, at_least: int) -> list[str]:
    text = README.read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(found) >= at_least, f"the section {title!r} lost its shell blocks"
    return found


def first_calls() -> list[str]:
    return blocks("First API calls", 2) + blocks("Partner programme", 1)


def test_first_api_calls_run_as_written(prm_stack_processes, tmp_path):
    (tmp_path / ".prm").mkdir()
    (tmp_path / ".prm" / "dev-admin-key").write_text(prm_stack_processes.admin_key + "\n")
    script = "\n".join(first_calls()).replace("http://127.0.0.1:8000",
                                              prm_stack_processes.gateway_url)
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"partner [0-9a-f-]{36}", lines[0]), lines
    assert lines[1] == "active"       # activated with If-Match
    assert lines[2] == "submitted"    # the deal, once the partner's events arrived
    assert "'outcome': 'rejected'" in lines[3]  # the dry run finds the conflict
    assert "'status': 'submitted'" in lines[4]  # the partner key sees its org's deal
    assert "'score': 100" in lines[5]  # the application fits the profile, with reasons
    assert "type mssp is one of msp, mssp" in lines[5]
    assert re.fullmatch(r"[0-9a-f-]{36}", lines[6]), lines  # approved: the new partner's id
