"""``make orchestrate``: Dagster's UI on the bundled emulator with a few dozen companies.

Starts the emulator (``QBO_ORCH_COMPANIES`` companies, default 36), writes the app config and
registers every company under ``QBO_ORCH_HOME`` (default ``.quickbooks_orchestrator``), then
runs ``dagster dev`` with this package's ``dagster.yaml`` until Ctrl-C. Offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from qbo_emulator import Emulator

from .runner import Settings

HERE = Path(__file__).parent


def main() -> int:
    count = int(os.environ.get("QBO_ORCH_COMPANIES", "36"))
    home = Path(os.environ.get("QBO_ORCH_HOME", ".quickbooks_orchestrator")).resolve()
    dagster_home = home / "dagster"
    # A fresh emulator each start: the last one's tokens, state and output mean nothing to it.
    for name in ("orchestrator.sqlite", "orchestrator.sqlite-wal", "orchestrator.sqlite-shm"):
        (home / name).unlink(missing_ok=True)
    for name in ("tokens", "output"):
        shutil.rmtree(home / name, ignore_errors=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "dagster.yaml", dagster_home / "dagster.yaml")
    # History 10 minutes back, caught up with this machine's clock (the tap refuses a QBO
    # clock ahead of its own).
    emu = Emulator(seed=1, scale=300, realms=count, now=time.time() - 600).start()
    emu.clock.advance(seconds=600)
    try:
        app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
        config = home / "app_config.json"
        config.write_text(json.dumps(app, indent=2) + "\n")
        config.chmod(0o600)
        env = {**os.environ, "QBO_ORCH_HOME": str(home), "QBO_ORCH_APP_CONFIG": str(config)}
        env["DAGSTER_HOME"] = str(dagster_home)
        store = Settings.from_env(env).store
        for realm in emu.realm_ids:
            store.add_company(realm, emu.refresh_token(realm))
        print(f"Emulator at {emu.base_url} with {count} companies; state under {home}", flush=True)
        dagster = Path(sys.executable).parent / "dagster"
        cmd = [str(dagster), "dev", "-m", "quickbooks_orchestrator.definitions"]
        cmd += ["--port", os.environ.get("DAGSTER_PORT", "3000")]
        try:
            return subprocess.run(cmd, env=env, check=False).returncode
        except KeyboardInterrupt:
            return 0
    finally:
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
