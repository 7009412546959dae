"""The AsyncAPI 3 document of the events, generated from `shared/messaging/events.py`.

Channels are the four topics, each message is the `Envelope` with its
`type`, `version` and `payload` pinned to that event's Pydantic model, the
Kafka key and headers are in the message's binding and headers. Nothing is
written by hand but the prose: `docs/asyncapi.yaml` is this module's output
(`pingyi asyncapi > docs/asyncapi.yaml`), and a test fails when they differ.
Each service serves the part it produces at `/asyncapi.json`.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.messaging.events import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    MESSAGE_KEYS,
    PAYLOADS,
    PRODUCERS,
    REQUEST_ID_HEADER,
    Envelope,
)

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
REF = "#/components/schemas/{model}"

DESCRIPTION = """\
The events the Pingyi (评议) services exchange, one Kafka topic per event type.
Every message is a JSON envelope: `event_id` (also the `event_id` header, and the
`webhook-id` of a webhook delivery: dedupe by it), `type` (the topic), `version`
(of the payload; a breaking change is a new version, added optional fields are
not), `occurred_at` (UTC), `producer`, `key` (the Kafka message key) and `payload`.
Delivery is at least once: the same event may arrive twice, with the same `event_id`.

Systems that do not join Kafka receive the same envelopes as signed webhooks:
`POST /v1/webhooks` on the producing service (see each service's OpenAPI)."""


def _channel_id(topic: str) -> str:
    head, *rest = topic.replace("_", ".").split(".")
    return head + "".join(part.capitalize() for part in rest)


def _message_id(topic: str) -> str:
    payload = PAYLOADS[topic]
    return f"{payload.__name__}V{payload.version}"


def _schemas() -> dict[str, Any]:
    """Each payload's JSON Schema and every model they use, under components/schemas."""
    payloads = [(model, "validation") for model in PAYLOADS.values()]
    top, defs = models_json_schema(payloads, ref_template=REF)
    schemas = dict(defs.get("$defs", {}))
    envelope = Envelope.model_json_schema(ref_template=REF)
    envelope.pop("$defs", None)
    schemas["Envelope"] = envelope
    for topic, model in PAYLOADS.items():
        typed = copy.deepcopy(envelope)
        typed["title"] = f"{model.__name__} envelope"
        typed["description"] = f"The envelope of a {topic} event, version {model.version}."
        props = typed["properties"]
        props["type"] = {**props["type"], "const": topic}
        props["version"] = {**props["version"], "const": model.version}
        props["producer"] = {**props["producer"], "const": PRODUCERS[topic]}
        props["key"] = {**props["key"], "description": MESSAGE_KEYS[topic]}
        props["payload"] = {"$ref": REF.format(model=model.__name__)}
        typed["required"] = sorted(set(typed.get("required", [])) | {"event_id", "version", "occurred_at"})
        schemas[f"{model.__name__}Envelope"] = typed
    return dict(sorted(schemas.items()))


def _headers(topic: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kafka record headers (UTF-8 values)",
        "properties": {
            EVENT_ID_HEADER: {"type": "string", "format": "uuid", "description": "the envelope's event_id"},
            EVENT_TYPE_HEADER: {"type": "string", "const": topic, "description": "the envelope's type"},
            REQUEST_ID_HEADER: {"type": "string", "description": "the X-Request-ID of the request that caused it, when one did"},
        },
        "required": [EVENT_ID_HEADER, EVENT_TYPE_HEADER],
    }


def asyncapi_document(service: str | None = None) -> dict[str, Any]:
    """The whole contract, or (with `service`) the part that service produces."""
    topics = [t for t in PAYLOADS if service is None or PRODUCERS[t] == service]
    schemas = _schemas()
    used = _referenced(topics, schemas)
    channels, operations, messages = {}, {}, {}
    for topic in topics:
        model = PAYLOADS[topic]
        channel, message = _channel_id(topic), _message_id(topic)
        producer = PRODUCERS[topic]
        messages[message] = {
            "name": topic,
            "title": f"{topic} v{model.version}",
            "summary": inspect.cleandoc(model.__doc__ or topic).split("\n\n")[0].replace("\n", " "),
            "contentType": "application/json",
            "headers": _headers(topic),
            "payload": {"$ref": REF.format(model=f"{model.__name__}Envelope")},
            "bindings": {"kafka": {"key": {"type": "string", "description": MESSAGE_KEYS[topic]},
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        channels[channel] = {
            "address": topic,
            "title": topic,
            "description": f"Produced by the {producer} service. Key: {MESSAGE_KEYS[topic]}.",
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            "bindings": {"kafka": {"topic": topic, "partitions": 3, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        operations[f"{producer}Sends{channel[0].upper()}{channel[1:]}"] = {
            "action": "send",
            "title": f"{producer} publishes {topic}",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }
    title = "Pingyi events 评议·事件" + (f" ({service})" if service else "")
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:pingyi:events" + (f":{service}" if service else ""),
        "info": {"title": title, "version": "1.0.0", "description": DESCRIPTION,
                 "license": {"name": "Apache-2.0"}},
        "defaultContentType": "application/json",
        "servers": {
            "production": {"host": "kafka:9092", "protocol": "kafka",
                           "description": "the compose stack's broker (KAFKA_BOOTSTRAP_SERVERS sets it)"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": {k: v for k, v in schemas.items() if k in used}},
    }


def _referenced(topics: list[str], schemas: dict[str, Any]) -> set[str]:
    """Names of the schemas the chosen topics reach (a service's part carries only its own)."""
    todo = [f"{PAYLOADS[t].__name__}Envelope" for t in topics]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return seen


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"].rsplit("/", 1)[-1]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def asyncapi_yaml(service: str | None = None) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:  # prose as readable blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return yaml.dump(asyncapi_document(service), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
