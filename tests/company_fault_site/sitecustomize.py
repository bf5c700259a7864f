"""Imported at start-up by a tap process whose PYTHONPATH starts here (tests only): one company
of a many-company run meets a failure outside the kinds the tap knows by name.

``COMPANY_FAULT_REALM`` names the company, ``COMPANY_FAULT_AT`` where it fails:

- ``plan``: its run plan raises SQLite's "database is locked" (as the shared limiter's
  database may), on a worker thread;
- ``chains``: the second of its page chains cannot start (a spool's OSError, disk full),
  after the first one started reading;
- ``sync``: its first stream's pages cannot be read, on the main thread (a spool's OSError).
"""

import errno
import os

if realm := os.environ.get("COMPANY_FAULT_REALM"):
    import sqlite3

    from tap_quickbooks.company import Company

    where = os.environ.get("COMPANY_FAULT_AT", "sync")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/tmp/spool-of-the-test")

    if where == "plan":
        make_plan = Company._make_plan

        def _make_plan(self):
            if self.realm_id == realm:
                raise sqlite3.OperationalError("database is locked")
            return make_plan(self)

        Company._make_plan = _make_plan  # type: ignore[method-assign]

    if where == "chains":
        chain = Company._chain
        started = [0]

        def _chain(self, page_chain):
            if self.realm_id == realm:
                started[0] += 1
                if started[0] == 2:
                    raise full
            return chain(self, page_chain)

        Company._chain = _chain  # type: ignore[method-assign]

    if where == "sync":
        page_chains = Company.page_chains

        def _page_chains(self, stream, context):
            if self.realm_id == realm:
                raise full
            return page_chains(self, stream, context)

        Company.page_chains = _page_chains  # type: ignore[method-assign]
