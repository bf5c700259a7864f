"""Imported at start-up by a tap process whose PYTHONPATH starts here (tests only): the
installed singer-sdk reports the version ``SDK_VERSION_AS`` names, as after an upgrade the
fast path was not verified on (the code is the same; only the version it tells differs)."""

import importlib.metadata
import os

if pretended := os.environ.get("SDK_VERSION_AS"):
    real_version = importlib.metadata.version

    def version(distribution_name: str) -> str:
        if distribution_name.replace("_", "-").lower() == "singer-sdk":
            return pretended
        return real_version(distribution_name)

    importlib.metadata.version = version
