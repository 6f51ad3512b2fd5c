"""Write the committed contract files: ``openapi/openapi.json`` (the merged REST contract, as the
gateway serves it) and ``openapi/asyncapi.yaml`` (topics and event types).

``python scripts/generate_contracts.py`` writes them (``make openapi``);
``--check`` exits 1 if the committed files are stale (``make test`` runs the same check).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import secrets
import sys
from pathlib import Path

import yaml
from pydantic.json_schema import models_json_schema

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "openapi" / "openapi.json"
ASYNCAPI = ROOT / "openapi" / "asyncapi.yaml"
def _app_contract(target: str) -> dict:
    """Build a declared app (``module:factory``) and take its OpenAPI document. Building an app
    contacts no database; only its settings need a secret, which is never used."""
    os.environ.setdefault("PRM_INTERNAL_SECRET", secrets.token_urlsafe(32))
    module, _, factory = target.partition(":")
    return getattr(importlib.import_module(module), factory)().openapi()


def openapi_document() -> dict:
    """The merged contract of every declared service, as the edge serves it."""
    from prm_platform.declaration import services

    declared = [d for d in services() if d.app]
    edges = [d for d in declared if d.edge]
    if len(edges) != 1:
        raise SystemExit(f"expected one declared edge service, found {len(edges)}")
    merge = importlib.import_module(edges[0].package + ".contract").merge_contracts
    return merge(_app_contract(edges[0].app),
                 {d.name: _app_contract(d.app) for d in declared if not d.edge})


def _envelope_schema() -> dict:
    return {
        "type": "object",
        "description": "CloudEvents 1.0, structured JSON mode. Message key: the aggregate id.",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "Unique per event; "
                   "consumers deduplicate on it."},
            "source": {"type": "string", "examples": ["/prm/partners"]},
            "type": {"type": "string", "examples": ["prm.partner.created.v1"]},
            "subject": {"type": "string", "description": "The aggregate id."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "partnerid": {"type": "string", "description": "Extension: the partner org the "
                          "event concerns."},
            "actor": {"type": "string", "description": "Extension: who caused the event: "
                      "`key:<api key id>`, `user:<subject>`, `job:<scheduled job>`, or "
                      "`service:<source>` for a change with no caller (a migration)."},
            "requestid": {"type": "string", "description": "Extension: the id of the API "
                          "request at the origin of the event (its `X-Request-Id`), if any."},
            "traceparent": {"type": "string", "description": "Extension: W3C trace context."},
            "data": {"type": "object"},
        },
    }


def asyncapi_document() -> dict:
    from prm_contracts import CONTRACTS, TOPICS, dead_letter_topic
    from prm_platform.declaration import services

    models = sorted(CONTRACTS.values(), key=lambda m: m.event_type)
    _, definitions = models_json_schema([(m, "validation") for m in models],
                                        ref_template="#/components/schemas/{model}")
    schemas = {"CloudEvent": _envelope_schema(), **definitions.get("$defs", {})}
    messages, channels, operations = {}, {}, {}
    for model in models:
        messages[model.event_type] = {
            "name": model.event_type,
            "title": model.__name__,
            "summary": model.summary,
            "contentType": "application/json",
            "payload": {"allOf": [
                {"$ref": "#/components/schemas/CloudEvent"},
                {"type": "object", "properties": {
                    "type": {"const": model.event_type},
                    "data": {"$ref": f"#/components/schemas/{model.__name__}"}}},
            ]},
        }
    for topic, description in sorted(TOPICS.items()):
        topic_models = [m for m in models if m.topic == topic]
        refs = {m.event_type: {"$ref": f"#/components/messages/{m.event_type}"}
                for m in topic_models}
        channels[topic] = {"address": topic, "description": description, "messages": refs}
        channels[dead_letter_topic(topic)] = {
            "address": dead_letter_topic(topic),
            "description": f"Messages of {topic} that a consumer could not apply after its "
                           "retries, unchanged, with headers dlt_consumer, dlt_error and "
                           "dlt_source (topic/partition/offset).",
        }
        for service in services():  # who sends and who receives, from the declarations
            for action, declared in (("send", service.publishes), ("receive", service.consumes)):
                if topic not in declared:
                    continue
                operations[f"{service.name}-{action}-{topic}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{topic}"},
                    "summary": (f"The {service.name} service publishes from its transactional "
                                "outbox." if action == "send" else
                                f"The {service.name} service applies each event once (inbox)."),
                    "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}
                                 for name in refs],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PRM events",
            "version": "1.0.0",
            "description": "Events between PRM services. At-least-once delivery, in order per "
                           "aggregate (message key); consumers deduplicate on the event id.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:{port}", "protocol": "kafka",
                "description": "The in-memory broker (tansu) that `make run` starts on a free "
                               "port; its banner prints it (the `Broker` line).",
                "variables": {"port": {"description": "The port `make run` printed.",
                                       "examples": ["41037"]}},
            },
            "compose": {
                "host": "kafka:9092", "protocol": "kafka",
                "description": "Apache Kafka (KRaft) of `docker compose up`, on the compose "
                               "network.",
            },
            "production": {
                "host": "{bootstrap}", "protocol": "kafka",
                "description": "Your Kafka cluster, as configured in PRM_KAFKA_BOOTSTRAP.",
                "variables": {"bootstrap": {"description": "A bootstrap server, host:port.",
                                            "examples": ["kafka-0.kafka.prm.svc:9092"]}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def rendered() -> dict[Path, str]:
    return {
        OPENAPI: json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n",
        ASYNCAPI: yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True,
                                 width=100),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if args.check and stale:
        print(f"stale: {', '.join(map(str, stale))}; run `make openapi` and commit",
              file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
