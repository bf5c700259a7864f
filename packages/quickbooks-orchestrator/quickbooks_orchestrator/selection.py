"""Which streams a run reads: the catalog (``QBO_ORCH_CATALOG``, or the tap's own discovery),
narrowed for a webhook-triggered run to the streams its events name.

A narrowed run still reads through the tap's normal incremental path (CDC or query from the
company's bookmarks); only the selection changes, so the other streams' bookmarks are kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Collection
from pathlib import Path

from tap_quickbooks.catalogue import BY_STREAM
from tap_quickbooks.outcomes import SYNC_STATUS

from .runner import Settings, SyncError


def _root(entry: dict) -> dict:
    for meta in entry.get("metadata", []):
        if meta.get("breadcrumb") == []:
            return meta.setdefault("metadata", {})
    entry.setdefault("metadata", []).append({"breadcrumb": [], "metadata": {}})
    return entry["metadata"][-1]["metadata"]


def _selected(entry: dict) -> bool:
    root = _root(entry)
    return bool(root.get("selected", root.get("selected-by-default", False)))


def base_catalog(settings: Settings) -> dict:
    """The configured catalog, else the tap's discovery (offline: no API call), kept once."""
    if settings.catalog:
        return json.loads(Path(settings.catalog).read_text())
    cached = settings.home / "discovered_catalog.json"
    if cached.exists():
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory(prefix="qbo-discover-") as tmp:
        config = Path(tmp) / "config.json"  # 0700 dir: the app config holds the client secret
        config.write_text(json.dumps(settings.app_config))
        done = subprocess.run(
            [*settings.tap, "--config", str(config), "--discover"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        raise SyncError(
            f"tap-quickbooks --discover exited {done.returncode}: {done.stderr[-2000:]}"
        )
    settings.home.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(done.stdout)
    partial.replace(cached)
    return json.loads(done.stdout)


def selected_streams(settings: Settings) -> set[str]:
    """The entity streams the runs read: a webhook for any other stream starts no run."""
    return {
        e["tap_stream_id"]
        for e in base_catalog(settings)["streams"]
        if e["tap_stream_id"] in BY_STREAM and _selected(e)
    }


def narrowed_catalog(settings: Settings, streams: Collection[str]) -> dict:
    """The catalog selecting only ``streams`` of the entity streams it selects (reports off:
    a change hint says nothing about them), ``sync_status`` as configured."""
    catalog = base_catalog(settings)
    for entry in catalog["streams"]:
        name = entry["tap_stream_id"]
        if name == SYNC_STATUS:
            continue
        root = _root(entry)
        root["selected"] = bool(name in streams and name in BY_STREAM and _selected(entry))
    return catalog


def run_catalog(
    settings: Settings, streams: Collection[str] | None = None
) -> tuple[dict | None, bool]:
    """The catalog a run hands the tap (None: the tap's own selection, which has
    sync_status), and whether the loader gets the sync_status rows. The runner reads each
    company's outcome and metered calls from them, so sync_status is selected even where the
    configured catalog leaves it out; the loader then does not see it."""
    if streams is None and not settings.catalog:
        return None, True
    catalog = base_catalog(settings) if streams is None else narrowed_catalog(settings, streams)
    chosen = False
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == SYNC_STATUS:
            chosen = _selected(entry)
            _root(entry)["selected"] = True
    return catalog, chosen
