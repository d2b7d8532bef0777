"""The event catalogue as an AsyncAPI 3.0 document, generated from the contract models."""

from __future__ import annotations

from typing import Any

import passage.contracts  # noqa: F401 - importing registers every contract in the catalogue
from passage import __version__
from passage.bus.envelope import EventData
from passage.bus.nats import stream_name

_CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "Nats-Msg-Id"],
    "properties": {
        "ce-specversion": {"type": "string", "const": "1.0"},
        "ce-id": {"type": "string", "format": "uuid", "description": "The event id"},
        "ce-source": {"type": "string", "description": "/passage/<service>"},
        "ce-type": {"type": "string", "description": "Equal to the subject"},
        "ce-time": {"type": "string", "format": "date-time"},
        "ce-subject": {"type": "string", "description": "The record it concerns, e.g. client/<id>"},
        "ce-dataschema": {"type": "string", "description": "urn:passage:event:<type>:v<version>"},
        "content-type": {"type": "string", "const": "application/json"},
        "Nats-Msg-Id": {"type": "string", "description": "Equal to ce-id: JetStream drops duplicates"},
    },
}


def _key(event_type: str) -> str:
    return event_type.replace(".", "_")


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type, model in sorted(EventData.catalogue.items()):
        key = _key(event_type)
        messages[key] = {
            "name": event_type,
            "title": event_type,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else event_type,
            "contentType": "application/json",
            "headers": _CLOUDEVENT_HEADERS,
            "payload": model.model_json_schema(),
            "x-passage-version": model.version,
            "x-passage-dataschema": model.dataschema(),
        }
        channels[key] = {
            "address": event_type,
            "description": f"JetStream stream {stream_name(model.service())}",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Published by the {model.service()} service through its outbox",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Passage events",
            "version": __version__,
            "description": "CloudEvents 1.0 in binary mode over NATS JetStream. Payloads carry ids and "
            "the minimum a consumer needs, never free-text personal data.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
