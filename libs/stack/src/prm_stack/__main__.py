"""``python -m prm_stack run``: the whole stack in one terminal (what ``make run`` calls)."""

import argparse
import sys

from prm_stack import supervisor

parser = argparse.ArgumentParser(
    prog="python -m prm_stack",
    description="Run the PRM stack: PostgreSQL, broker, every service, worker and the gateway.",
    epilog="Options are environment variables; see the docstring of prm_stack.supervisor "
           "(PRM_STATE_DIR, PRM_GATEWAY_PORT, PRM_API_WORKERS, PRM_STACK_ONLY, "
           "PRM_DATABASE_URL, PRM_KAFKA_BOOTSTRAP, ...).",
)
parser.add_argument("command", choices=["run"], help="run: start everything until Ctrl-C")
parser.parse_args()
sys.exit(supervisor.main())
