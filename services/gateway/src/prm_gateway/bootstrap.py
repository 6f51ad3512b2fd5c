"""Development admin key: ``python -m prm_gateway.bootstrap --write PATH``.

Keeps the key in PATH if the database still accepts it (so ``make run`` can be restarted without
handing out a new key each time); otherwise creates a vendor key "dev-admin" with the ``admin``
scope and writes it to PATH, readable by its owner only. Prints the key either way. Run the
gateway's migrations first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from prm_gateway.api_keys import service
from prm_gateway.config import SCHEMA, Settings
from prm_platform.db import make_engine, make_sessionmaker
from prm_platform.security import ADMIN

NAME = "dev-admin"


async def ensure_admin_key(settings: Settings, existing: str, save: Callable[[str], None]
                           ) -> str:
    """``existing`` if the database accepts it, else a new key, handed to ``save``."""
    engine = make_engine(settings.database_url, SCHEMA, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            if existing and await service.find_valid(session, existing) is not None:
                return existing
            _, key = await service.issue(session, name=NAME, kind="vendor",
                                         scopes=[ADMIN])
            save(key)  # before the commit: a key we could not save is no key
            await session.commit()
            return key
    finally:
        await engine.dispose()


def _write_private(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already existed
        file.write(key + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m prm_gateway.bootstrap",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="PATH", type=Path, required=True,
                        help="file that keeps the development admin key (mode 0600)")
    args = parser.parse_args(argv)
    path: Path = args.write
    existing = path.read_text().strip() if path.exists() else ""
    key = asyncio.run(ensure_admin_key(Settings(), existing,
                                       lambda new: _write_private(path, new)))
    print(key)


if __name__ == "__main__":
    main()
