"""What the contract tests share: a Python client generated from the committed contract
(openapi-python-client), as an integration team would generate it."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


@dataclasses.dataclass(frozen=True)
class GeneratedClient:
    root: Path  # the directory holding the package ``prm_client``
    output: str  # what the generator printed

    @property
    def package(self) -> Path:
        return self.root / "prm_client"


@pytest.fixture(scope="session")
def generated_client(tmp_path_factory) -> GeneratedClient:
    out = tmp_path_factory.mktemp("generated")
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(CONTRACT),
         "--meta", "none", "--output-path", str(out / "prm_client")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert result.returncode == 0, result.stdout + result.stderr
    return GeneratedClient(out, result.stdout + result.stderr)
