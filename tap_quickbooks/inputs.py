"""The files a run is handed besides its settings: the state and the catalog.

A mistake in either used to pass in silence (an unknown state shape meant a full re-extraction,
a catalog naming no stream of the tap meant exit 0 and no output) or as a traceback. Each is now
one sentence that names the file or stream and what to do.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import typing as t

import click

LOGGER_NAME = "tap-quickbooks"
# Keys of the tap's own state (the SDK's bookmarks, singer-io's currently_syncing, the sealed
# refresh token, and whose they are: companies.py); anything else at the top level is not
# state this tap wrote.
STATE_KEYS = frozenset(
    {
        "bookmarks",
        "currently_syncing",
        "quickbooks_auth",
        "quickbooks_realm_id",
        "quickbooks_unclaimed",
    }
)
KEEP_STATE = (
    "Pass the last STATE message a run wrote (the whole line or its value), Meltano's "
    "state, or leave out --state to extract everything from start_date."
)


class InputError(click.ClickException):
    """A problem with the state or the catalog: one ERROR line and exit code 1, no traceback.

    A ClickException, so it ends the command wherever it is raised (while the options are
    parsed or while the tap is built), and it is not reported as "Config validation failed".
    """

    def show(self, file: t.IO[t.Any] | None = None) -> None:
        logging.getLogger(LOGGER_NAME).error(self.message)


def did_you_mean(name: str, known: t.Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a known name is close to this one, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# -- state -----------------------------------------------------------------------------------


def parse_state(text: str, source: str) -> dict[str, t.Any]:
    """The state a file holds, in any shape a user is told to keep.

    Accepted: the state object itself (``{"bookmarks": ...}``), one STATE message
    (``{"type": "STATE", "value": {...}}``), several lines of Singer messages (the last STATE
    wins, as a target would keep it), and Meltano's ``{"singer_state": {...}}``.
    """
    stripped = text.strip()
    if not stripped:
        raise InputError(f"The state file {source} is empty. {KEEP_STATE}")
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if "\n" not in stripped:
            raise InputError(
                f"The state file {source} is not JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}). {KEEP_STATE}"
            ) from None
        document = _last_state_message(stripped, source)
    return _unwrap(document, source)


def _last_state_message(text: str, source: str) -> dict[str, t.Any]:
    last = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            raise InputError(
                f"Line {number} of the state file {source} is not JSON. {KEEP_STATE}"
            ) from None
        if isinstance(message, dict) and message.get("type") == "STATE":
            last = message
    if last is None:
        raise InputError(f"The state file {source} holds no STATE message. {KEEP_STATE}")
    return last


def _unwrap(document: object, source: str) -> dict[str, t.Any]:
    if isinstance(document, dict) and "singer_state" in document:
        document = document["singer_state"]  # Meltano's `meltano state get`
    elif isinstance(document, dict) and isinstance(document.get("type"), str):
        if document["type"] != "STATE":
            raise InputError(
                f"The state file {source} holds a {document['type']} message, not state. "
                f"{KEEP_STATE}"
            )
        document = document.get("value")
    if not isinstance(document, dict):
        kind = {list: "a list", str: "a string", type(None): "null"}.get(
            type(document), "a " + type(document).__name__
        )
        raise InputError(f"The state file {source} holds {kind}, not a JSON object. {KEEP_STATE}")
    if not isinstance(document.get("bookmarks", {}), dict):
        raise InputError(
            f"The state file {source} has 'bookmarks' that are not an object. {KEEP_STATE}"
        )
    for key in sorted(set(document) - STATE_KEYS):
        logging.getLogger(LOGGER_NAME).warning(
            "The state file %s has a key '%s'%s that is not tap state; it is ignored.",
            source,
            key,
            did_you_mean(key, STATE_KEYS),
        )
    return document


class StateFile(click.File):
    """The --state option: read and checked while the options are parsed, then handed to the
    SDK as the plain state object it expects."""

    name = "state file"

    def __init__(self) -> None:
        super().__init__("r", encoding="utf-8")

    def convert(self, value: t.Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, io.StringIO):  # already converted (click may convert twice)
            return value
        handle = super().convert(value, param, ctx)  # click's own message for a missing file
        source = f"'{getattr(handle, 'name', value)}'"
        try:
            with handle:
                text = handle.read()
        except UnicodeDecodeError:
            raise InputError(f"The state file {source} is not UTF-8 text. {KEEP_STATE}") from None
        return io.StringIO(json.dumps(parse_state(text, source)))


def unknown_bookmarks(state: t.Mapping[str, t.Any], streams: t.Iterable[str]) -> list[str]:
    """A warning for each bookmark of a stream this tap does not have."""
    known = list(streams)
    return [
        f"The state has a bookmark for stream '{name}', which this tap does not have"
        f"{did_you_mean(name, known)}; it is kept in state but not used."
        for name in sorted(state.get("bookmarks") or {})
        if name not in known
    ]


# -- catalog ---------------------------------------------------------------------------------


def catalog_problems(
    entries: t.Iterable[tuple[str, bool]], selected_streams: t.Iterable[str], known: t.Iterable[str]
) -> tuple[list[str], str | None]:
    """Warnings for catalog entries naming no stream of the tap, and the one fatal problem:
    the catalog selects streams, but none of them exists.

    ``entries`` are (tap_stream_id, selected) of the catalog as given; ``selected_streams``
    the tap's streams that the catalog selects.
    """
    known = list(known)
    unknown = [(name, selected) for name, selected in entries if name not in known]
    warnings = [
        f"The catalog names stream '{name}'{' (selected)' if selected else ''}, which this tap "
        f"does not have{did_you_mean(name, known)}; it is ignored."
        for name, selected in unknown
    ]
    if list(selected_streams):
        return warnings, None
    wanted = [name for name, selected in unknown if selected]
    if wanted:
        return warnings, (
            "None of the streams the catalog selects exists in this tap ("
            + ", ".join(f"'{name}'{did_you_mean(name, known)}" for name in wanted)
            + "). Select streams by the tap_stream_id that --discover lists "
            "(`meltano select tap-quickbooks --list` shows them)."
        )
    return warnings, None
