"""Many QuickBooks companies on Dagster (issue 20, "Past one machine").

One dynamic partition per connected company; each run syncs that company with the
single-company tap into the configured loader, keeping its state and refresh token in this
project's own store, and counts the metered calls it spent against the app's monthly budget.

- ``store``: the company registry, per-company state, leases and metered-call usage (SQLite).
- ``runner``: one company's ``tap | loader`` pipe.
- ``definitions``: the Dagster asset, job, schedule and sensor (``dagster dev -m ...``).
- ``dev``: ``make orchestrate``, the UI on the bundled emulator.
"""
