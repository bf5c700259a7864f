"""The two payload formats Intuit sends, read into one ``Event`` shape.

CloudEvents (the only format since 15 May 2026): a JSON array of
``{"specversion", "id", "type": "qbo.<entity>.<operation>.v1", "time", "intuitentityid",
"intuitaccountid", "data"}``. Legacy: ``{"eventNotifications": [{"realmId", "dataChangeEvent":
{"entities": [{"name", "id", "operation", "lastUpdated"}]}}]}``, which carries no event id, so
the id is built from realm, entity, id, operation and lastUpdated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tap_quickbooks.catalogue import ENTITIES

#: QBO entity names, by their lower-case spelling (CloudEvents types are lower case).
_BY_LOWER = {entity.name.lower(): entity for entity in ENTITIES}

#: CloudEvents verbs to the legacy operation names.
_OPERATIONS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}


class BodyError(ValueError):
    """The body is not JSON or holds no event: answered 400."""


@dataclass(frozen=True)
class Event:
    event_id: str
    realm: str
    entity: str
    """QBO's name (``Invoice``) when the tap knows it, else as sent."""
    entity_id: str
    operation: str
    occurred: str
    stream: str | None
    """The tap's stream for the entity; None for an entity the tap does not extract."""


def stream_for(entity: str) -> tuple[str, str | None]:
    """(QBO's spelling, stream name) for an entity name in any case."""
    known = _BY_LOWER.get(entity.lower())
    if known is None:
        return entity, None
    return known.name, known.stream


def parse_body(raw: bytes) -> list[Event]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError("the body is not JSON") from exc
    if isinstance(doc, list):
        events = [e for e in (_cloud_event(item) for item in doc) if e is not None]
    elif isinstance(doc, dict) and isinstance(doc.get("eventNotifications"), list):
        events = _legacy(doc["eventNotifications"])
    else:
        raise BodyError("the body is neither a CloudEvents array nor eventNotifications")
    if not events:
        raise BodyError("the body holds no event")
    return events


def _text(value) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def _cloud_event(item) -> Event | None:
    if not isinstance(item, dict):
        return None
    event_id, realm, kind = (_text(item.get(k)) for k in ("id", "intuitaccountid", "type"))
    if event_id is None or realm is None or kind is None:
        return None
    parts = kind.split(".")
    # qbo.<entity>.<operation>.v1; an unknown verb is kept as sent (still a change hint).
    if len(parts) < 3 or parts[0] != "qbo":
        return None
    entity, stream = stream_for(parts[1])
    operation = _OPERATIONS.get(parts[2].lower(), parts[2])
    return Event(
        event_id=event_id,
        realm=realm,
        entity=entity,
        entity_id=_text(item.get("intuitentityid")) or "",
        operation=operation,
        occurred=_text(item.get("time")) or "",
        stream=stream,
    )


def _legacy(notifications: list) -> list[Event]:
    events = []
    for note in notifications:
        if not isinstance(note, dict) or _text(note.get("realmId")) is None:
            continue
        realm = _text(note["realmId"])
        change = note.get("dataChangeEvent")
        entities = change.get("entities") if isinstance(change, dict) else None
        for item in entities if isinstance(entities, list) else []:
            if not isinstance(item, dict) or _text(item.get("name")) is None:
                continue
            entity, stream = stream_for(_text(item["name"]))
            entity_id = _text(item.get("id")) or ""
            operation = _text(item.get("operation")) or ""
            updated = _text(item.get("lastUpdated")) or ""
            events.append(
                Event(
                    event_id=f"legacy:{realm}:{entity}:{entity_id}:{operation}:{updated}",
                    realm=realm,
                    entity=entity,
                    entity_id=entity_id,
                    operation=operation,
                    occurred=updated,
                    stream=stream,
                )
            )
    return events
