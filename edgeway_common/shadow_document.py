"""Device shadow documents with IoT Core's semantics. Pure: no I/O, time passed in.

An update carries `state.desired` and/or `state.reported`; objects merge key by
key, `null` deletes a key (and `"desired": null` deletes the whole section),
anything else replaces. A `version` in the request must equal the current one
or the update is a conflict. Every update increments the version; deleting a
shadow does not reset it. Metadata mirrors the state with a `timestamp` per
leaf. `delta` holds what desired says and reported does not (yet).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ShadowDocumentError as ShadowDocumentError
from .errors import ShadowVersionConflict as ShadowVersionConflict

MAX_STATE_BYTES = 8 * 1024
SECTIONS = ("desired", "reported")


@dataclass
class Shadow:
    state: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    exists: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "metadata": self.metadata,
            "version": self.version,
            "exists": self.exists,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shadow:
        return cls(dict(data["state"]), dict(data["metadata"]), int(data["version"]), bool(data["exists"]))


def parse_update(payload: bytes) -> dict[str, Any]:
    try:
        document = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShadowDocumentError(f"the shadow document is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ShadowDocumentError("the shadow document must be a JSON object")
    state = document.get("state")
    if not isinstance(state, dict) or not state:
        raise ShadowDocumentError("the shadow document needs a state with desired and/or reported")
    unknown = [k for k in state if k not in SECTIONS]
    if unknown:
        raise ShadowDocumentError(f"state may hold only desired and reported, not {', '.join(unknown)}")
    for section in SECTIONS:
        if section in state and state[section] is not None and not isinstance(state[section], dict):
            raise ShadowDocumentError(f"state.{section} must be an object or null")
    if "version" in document and (
        not isinstance(document["version"], int) or isinstance(document["version"], bool)
    ):
        raise ShadowDocumentError("version must be a whole number")
    if len(json.dumps(state, separators=(",", ":")).encode()) > MAX_STATE_BYTES:
        raise ShadowDocumentError(f"the state document is larger than {MAX_STATE_BYTES} bytes")
    return document


def _merge(target: dict[str, Any], patch: Mapping[str, Any], meta: dict[str, Any], now: int) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            meta.pop(key, None)
        elif isinstance(value, Mapping):
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            child_meta = meta.get(key)
            if not isinstance(child_meta, dict) or "timestamp" in child_meta:
                child_meta = meta[key] = {}
            _merge(child, value, child_meta, now)
        else:
            target[key] = copy.deepcopy(value)
            meta[key] = _leaf_metadata(value, now)


def _leaf_metadata(value: Any, now: int) -> Any:
    if isinstance(value, list):
        return [_leaf_metadata(v, now) for v in value]
    return {"timestamp": now}


def _patch_metadata(patch: Mapping[str, Any], now: int) -> dict[str, Any]:
    return {
        key: _patch_metadata(value, now) if isinstance(value, Mapping) else _leaf_metadata(value, now)
        for key, value in patch.items()
    }


def metadata_for(state: Mapping[str, Any], now: int) -> dict[str, Any]:
    """Metadata for a whole state document: a timestamp for every leaf."""
    return _patch_metadata(state, now)


def apply_update(shadow: Shadow, document: Mapping[str, Any], now: int) -> tuple[Shadow, dict[str, Any]]:
    """The new shadow and the accepted response document."""
    if shadow.exists and "version" in document and document["version"] != shadow.version:
        raise ShadowVersionConflict(f"Version conflict: the shadow is at version {shadow.version}")
    state = copy.deepcopy(shadow.state) if shadow.exists else {}
    metadata = copy.deepcopy(shadow.metadata) if shadow.exists else {}
    response_metadata: dict[str, Any] = {}
    for section in SECTIONS:
        if section not in document["state"]:
            continue
        patch = document["state"][section]
        if patch is None:
            state.pop(section, None)
            metadata.pop(section, None)
            continue
        _merge(state.setdefault(section, {}), patch, metadata.setdefault(section, {}), now)
        response_metadata[section] = _patch_metadata(patch, now)
    updated = Shadow(state=state, metadata=metadata, version=shadow.version + 1, exists=True)
    response: dict[str, Any] = {
        "state": copy.deepcopy(document["state"]),
        "metadata": response_metadata,
        "version": updated.version,
        "timestamp": now,
    }
    if "clientToken" in document:
        response["clientToken"] = document["clientToken"]
    return updated, response


def delta(desired: Any, reported: Any) -> Any:
    """What desired holds that reported does not; None when they agree."""
    if isinstance(desired, Mapping) and isinstance(reported, Mapping):
        out = {}
        for key, value in desired.items():
            difference = delta(value, reported.get(key)) if key in reported else value
            if difference is not None:
                out[key] = difference
        return out or None
    return None if desired == reported else desired


def get_document(shadow: Shadow, now: int) -> dict[str, Any]:
    state = copy.deepcopy(shadow.state)
    if "desired" in state:
        difference = delta(state["desired"], state.get("reported", {}))
        if difference is not None:
            state["delta"] = difference
    return {
        "state": state,
        "metadata": copy.deepcopy(shadow.metadata),
        "version": shadow.version,
        "timestamp": now,
    }


def delete(shadow: Shadow, now: int) -> tuple[Shadow, dict[str, Any]]:
    return Shadow(version=shadow.version, exists=False), {"version": shadow.version, "timestamp": now}
