"""``python -m prm_stack.migrate SERVICE=ALEMBIC_INI ...``: upgrade each service's schema to
its head, in the order given, in one process.

What the supervisor runs before anything starts. One process for every service, not one
``alembic upgrade`` each: a Python process importing SQLAlchemy, Alembic and a service's
models costs about 1.5 s of CPU before its first statement, more than the migrations
of an up-to-date schema, and a stack starts often (every test stack, every ``make run``).
The services still migrate one after the other: their schemas share the database's
extensions and functions (``prm_platform.migrations``), created by whichever comes first."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from pathlib import Path


def command_line(migrated: Mapping[str, Path]) -> list[str]:
    """The command that upgrades ``migrated`` (service name -> its alembic.ini), in order."""
    return [sys.executable, "-m", "prm_stack.migrate",
            *(f"{service}={ini}" for service, ini in migrated.items())]


def main(arguments: list[str]) -> int:
    # Here, not at the top: the supervisor imports this module for its command line only.
    from alembic import command
    from alembic.config import Config

    pairs = [argument.partition("=") for argument in arguments]
    if not pairs or any(not service or not sep or not ini for service, sep, ini in pairs):
        print("usage: python -m prm_stack.migrate SERVICE=ALEMBIC_INI ...", file=sys.stderr)
        return 2
    for service, _, ini in pairs:
        print(f"migrating {service}", flush=True)
        try:
            command.upgrade(Config(ini), "head")
        except Exception:  # noqa: BLE001 - reported with the service's name, then stop
            traceback.print_exc()
            print(f"migrations of {service} failed", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
