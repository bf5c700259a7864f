"""Many QuickBooks companies on Dagster (issue 20, "Past one machine").

One dynamic partition per shard of connected companies; each run syncs its shard's
companies with one tap process (the tap's ``companies`` config) into the configured loader,
keeping each company's state and refresh token in this project's own store, and counts the
metered calls each spent against the app's monthly budget.

- ``shards``: which shard a company is in.
- ``store``: the company registry, per-company state, tokens, leases, finished companies and
  metered-call usage (SQLite).
- ``partition_state``: a shard's Singer state from its companies' own, and back.
- ``runner``: one shard's ``tap | loader`` pipe.
- ``liveness``: a run's heartbeat in the store, and the runs whose machine died.
- ``definitions``: the Dagster asset, job, schedule and sensor (``dagster dev -m ...``).
- ``dev``: ``make orchestrate``, the UI on the bundled emulator.
"""
