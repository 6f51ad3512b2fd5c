"""Check the import contracts of the bounded contexts with import-linter (``make test``).

The contracts are written from the service declarations, so a new service is covered without
editing any list: no service imports another, no library imports a service, and the published
event contracts import nothing of ours.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

LIBRARIES = ["prm_platform", "prm_events", "prm_contracts", "prm_stack"]


def contracts_ini(services: list[str]) -> str:
    def listing(modules: list[str]) -> str:
        return "".join(f"\n    {module}" for module in modules)

    return f"""[importlinter]
root_packages ={listing(LIBRARIES + services)}

[importlinter:contract:services-independent]
name = Services never import one another
type = independence
modules ={listing(services)}

[importlinter:contract:libraries-import-no-service]
name = Libraries never import a service
type = forbidden
source_modules ={listing(LIBRARIES)}
forbidden_modules ={listing(services)}

[importlinter:contract:contracts-stand-alone]
name = Event contracts depend on nothing of ours
type = forbidden
source_modules =
    prm_contracts
forbidden_modules ={listing([lib for lib in LIBRARIES if lib != "prm_contracts"])}
"""


def main() -> int:
    from prm_platform.declaration import services

    packages = sorted({declaration.package for declaration in services()})
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as config:
        config.write(contracts_ini(packages))
    try:
        lint = Path(sys.executable).with_name("lint-imports")
        return subprocess.run([str(lint), "--config", config.name]).returncode
    finally:
        Path(config.name).unlink()


if __name__ == "__main__":
    sys.exit(main())
