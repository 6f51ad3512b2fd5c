"""Who may do what on the broker: one SCRAM user per service, and the ACLs its declaration implies.

A service may write only to the topics it publishes and to the dead-letter topics of those it
consumes, read only the topics it consumes, and join only consumer groups named after it. So a
stolen worker password cannot forge another service's events (a made-up
``prm.partner.created.v1`` needs the partners service's own user).

``python -m prm_events.access`` prints the POSIX shell script that applies this plan with
Kafka's own command-line tools; the committed copy is ``deploy/k8s/kafka-access.sh``, run by the
compose file and by the Kubernetes Job (deploy/README.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from prm_contracts import dead_letter_topic
from prm_platform.declaration import ServiceDeclaration, services


def kafka_user(service: str) -> str:
    """The broker user (SCRAM name, ACL principal ``User:<name>``) of a service."""
    return f"prm-{service}"


def consumer_group(service: str, subscription: str) -> str:
    """Every consumer group of a service starts with ``<service>.``: its ACL is one prefix."""
    return f"{service}.{subscription}"


def password_variable(service: str) -> str:
    return f"PRM_{service.upper()}_KAFKA_PASSWORD"


@dataclass(frozen=True)
class Grant:
    user: str
    resource: Literal["topic", "group"]
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False

    def acl_arguments(self) -> list[str]:
        """The resource and operation arguments of ``kafka-acls.sh --add``."""
        arguments = [f"--{self.resource}", self.name]
        if self.prefixed:
            arguments += ["--resource-pattern-type", "prefixed"]
        for operation in self.operations:
            arguments += ["--operation", operation]
        return arguments


# Create: a worker makes the topics it uses when they are missing (prm_events.worker).
PRODUCE = ("Write", "Describe", "Create")
CONSUME = ("Read", "Describe", "Create")


def grants(declaration: ServiceDeclaration) -> list[Grant]:
    user = kafka_user(declaration.name)
    plan = [Grant(user, "topic", topic, PRODUCE) for topic in declaration.publishes]
    for topic in declaration.consumes:
        plan.append(Grant(user, "topic", topic, CONSUME))
        plan.append(Grant(user, "topic", dead_letter_topic(topic), PRODUCE))
    if declaration.consumes:
        plan.append(Grant(user, "group", consumer_group(declaration.name, ""), ("Read",),
                          prefixed=True))
    return plan


HEADER = """\
#!/bin/sh
# Broker users and ACLs of every PRM service. Generated from the services' declarations by
# `python -m prm_events.access` (make kafka-access): do not edit by hand.
#
# Creates or updates one SCRAM user per service and grants it exactly what its declaration
# needs; re-running it is harmless. Needs Kafka's tools (KAFKA_BIN, default /opt/kafka/bin),
#   KAFKA_BOOTSTRAP             the brokers, host:port[,host:port]
#   KAFKA_ADMIN_CONFIG          client properties of a user allowed to alter users and ACLs, or
#   KAFKA_ADMIN_USER/_PASSWORD  that user's SCRAM credentials (KAFKA_SECURITY_PROTOCOL,
#                               default SASL_PLAINTEXT; KAFKA_CA_FILE, a PEM bundle, for SASL_SSL)
#   PRM_<SERVICE>_KAFKA_PASSWORD  each service's password (letters, digits, - and _ only).
set -eu

KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
MECHANISM="${KAFKA_SCRAM_MECHANISM:-SCRAM-SHA-512}"
: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to the brokers (host:port)}"

if [ -z "${KAFKA_ADMIN_CONFIG:-}" ]; then
  : "${KAFKA_ADMIN_USER:?set KAFKA_ADMIN_CONFIG, or KAFKA_ADMIN_USER and KAFKA_ADMIN_PASSWORD}"
  : "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}"
  KAFKA_ADMIN_CONFIG="$(mktemp)"
  trap 'rm -f "$KAFKA_ADMIN_CONFIG"' EXIT
  {
    echo "security.protocol=${KAFKA_SECURITY_PROTOCOL:-SASL_PLAINTEXT}"
    echo "sasl.mechanism=$MECHANISM"
    echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
username=\\"$KAFKA_ADMIN_USER\\" password=\\"$KAFKA_ADMIN_PASSWORD\\";"
    if [ -n "${KAFKA_CA_FILE:-}" ]; then
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$KAFKA_CA_FILE"
    fi
  } > "$KAFKA_ADMIN_CONFIG"
fi

user() {  # name password
  case "$2" in
    *[!A-Za-z0-9_-]*) echo "the password of $1 may hold letters, digits, - and _ only" >&2
                      exit 2 ;;
  esac
  "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" \\
    --command-config "$KAFKA_ADMIN_CONFIG" --alter --entity-type users --entity-name "$1" \\
    --add-config "$MECHANISM=[password=$2]"
}

allow() {  # user, then the resource and operations as kafka-acls.sh takes them
  principal="User:$1"
  shift
  "$KAFKA_BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" \\
    --command-config "$KAFKA_ADMIN_CONFIG" --add --allow-principal "$principal" "$@"
}
"""


def render(declarations: Iterable[ServiceDeclaration]) -> str:
    lines = [HEADER]
    for declaration in declarations:
        user, variable = kafka_user(declaration.name), password_variable(declaration.name)
        lines.append(f"\n# {declaration.name}")
        lines.append(f'user {user} "${{{variable}:?set {variable}}}"')
        lines += [f"allow {user} {' '.join(grant.acl_arguments())}"
                  for grant in grants(declaration)]
    lines.append('\necho "broker users and ACLs are up to date"')
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(services()))
