"""target-quickbooks: a Singer target that writes to QuickBooks Online exactly once.

``target-quickbooks --config target.json < messages.jsonl`` writes the streams ``customers``,
``items``, ``invoices``, ``sales_receipts``, ``payments`` (records in QBO's own JSON shape, as
tap-quickbooks emits them) and ``item_quantities``; ``target-quickbooks reconcile --config
target.json --platform inventory.csv`` compares stock levels without writing anything.

Token keeping is the tap's (``tap_quickbooks.auth``): every refresh token QBO rotates in is
saved (``token_store_path`` and, sealed, the ledger) before it is used.
"""

from __future__ import annotations

import json
import sys
import typing as t
from functools import cached_property
from importlib import metadata
from pathlib import Path

import click
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import (
    ConfigValidationError,
    InvalidInputLine,
    InvalidRecord,
    RecordsWithoutSchemaException,
)
from singer_sdk.sinks import BatchSink

from tap_quickbooks import throttle
from tap_quickbooks.auth import (
    PRODUCTION_TOKEN_URL,
    QuickBooksAuthenticator,
    QuickBooksAuthError,
    TokenKeeper,
)
from tap_quickbooks.tap import API_URLS, LOWEST_MINOR_VERSION, settings_problems

from .ledger import Ledger
from .push import STREAMS, Pusher, Tally, record_key
from .qbo import Breaker, Qbo, TargetStop
from .quantities import STREAM as QUANTITIES
from .quantities import Quantities, read_platform_csv

DEFAULT_LEDGER = "target-quickbooks-ledger.sqlite"


class QuickBooksSink(BatchSink):
    """One stream's records, written when the SDK drains the sink."""

    MAX_SIZE_DEFAULT = 3000  # a drain writes up to 100 batch calls; the ledger keeps progress

    def __init__(self, target, stream_name, schema, key_properties) -> None:
        if stream_name not in STREAMS and stream_name != QUANTITIES:
            msg = (
                f"Stream '{stream_name}' is not one target-quickbooks writes. It writes: "
                f"{', '.join([*STREAMS, QUANTITIES])} (streams named as tap-quickbooks names "
                "them; rename with a stream map)."
            )
            raise TargetStop(msg)
        if not key_properties:
            msg = (
                f"The SCHEMA message of stream '{stream_name}' has no key_properties: name "
                "your own key for the records (e.g. DocNumber for sales_receipts, sku for "
                "item_quantities), so a later record with that key updates the same object."
            )
            raise TargetStop(msg)
        super().__init__(target, stream_name, schema, key_properties)
        self.qbo_target = target  # the SDK keeps no public handle on it

    def get_validator(self):
        """The SDK's validator, whose refusal ends the run with one sentence (the SDK's own
        would log a traceback first)."""
        inner = super().get_validator()
        return None if inner is None else _OneSentence(inner, self.stream_name)

    def process_batch(self, context: dict) -> None:
        records = [
            (record_key(record, list(self.key_properties)), record)
            for record in context.get("records", [])
        ]
        if self.stream_name == QUANTITIES:
            self.qbo_target.quantities.push(records)
        else:
            self.qbo_target.pusher.push(self.stream_name, records)


class _OneSentence:
    def __init__(self, inner, stream_name: str) -> None:
        self.inner = inner
        self.stream_name = stream_name

    def validate(self, record: dict) -> None:
        try:
            self.inner.validate(record)
        except InvalidRecord as exc:
            msg = (
                f"Bad input, the run stopped: a record of stream '{self.stream_name}' "
                f"does not match its SCHEMA: {exc.error_message}. Fix the input and run again: "
                "records already written are in the ledger and are not written twice."
            )
            raise TargetStop(msg) from None


class TargetQuickBooks(Target):
    """Singer target for QuickBooks Online."""

    name = "target-quickbooks"
    # The target ships inside the tap's distribution, whatever that is named.
    package_name = next(
        (
            d.metadata["Name"]
            for d in metadata.distributions()
            if any(e.name == "target-quickbooks" for e in d.entry_points)
        ),
        None,
    )
    default_sink_class = QuickBooksSink

    config_jsonschema = th.PropertiesList(
        th.Property("client_id", th.StringType(nullable=False), required=True),
        th.Property("client_secret", th.StringType(nullable=False), required=True, secret=True),
        th.Property("refresh_token", th.StringType(nullable=False), required=True, secret=True),
        th.Property("realm_id", th.StringType(nullable=False), required=True),
        th.Property("api_url", th.StringType, description="Override of the API base URL."),
        th.Property("token_url", th.StringType, description="Override of the token endpoint."),
        th.Property(
            "environment",
            th.StringType,
            default="production",
            allowed_values=["production", "sandbox"],
        ),
        th.Property(
            "token_store_path",
            th.StringType,
            description="File in which every rotated refresh token is saved before it is used.",
        ),
        th.Property("minor_version", th.IntegerType, default=LOWEST_MINOR_VERSION),
        th.Property(
            "ledger_path",
            th.StringType,
            default=DEFAULT_LEDGER,
            description="SQLite file mapping your keys to QBO objects (relative to the "
            "working directory). Keep it: it is what makes a replay write nothing.",
        ),
        th.Property(
            "reconcile_tolerance_pct",
            th.NumberType,
            default=1,
            description="A stock difference above this percent of the platform's quantity is "
            "flagged for review.",
        ),
        th.Property(
            "adjust_account_id",
            th.StringType,
            description="Account for inventory adjustments (default: 'Inventory Shrinkage', "
            "else the first Cost of Goods Sold account).",
        ),
        th.Property("request_timeout", th.NumberType, default=120),
        th.Property("max_retries", th.IntegerType, default=8),
        th.Property("retry_base_seconds", th.NumberType, default=1.0),
        th.Property("max_retry_wait", th.NumberType, default=60),
        th.Property("requests_per_minute", th.IntegerType, default=500),
        throttle.SHARED_LIMITS_SETTING,
        th.Property(
            "circuit_cooldown_seconds",
            th.NumberType,
            default=60,
            description="After 5 failed requests in a row, send nothing for this long.",
        ),
    ).to_dict()

    @property
    def max_parallelism(self) -> int:
        # Streams are drained one after another, in the order they arrived: invoices refer to
        # customers and items, payments to invoices. Batch calls give the throughput.
        return 1

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        problems = super()._validate_config(raise_errors=raise_errors)
        problems += [p for p in settings_problems(self.config) if "report" not in p.lower()]
        tol = self.config.get("reconcile_tolerance_pct")
        if tol is not None and float(tol) < 0:
            problems.append("reconcile_tolerance_pct must be 0 or more.")
        if problems and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=problems, schema=self.config_jsonschema
            )
        return problems

    # ----- what the sinks share ----------------------------------------------------------
    @property
    def realm_id(self) -> str:
        return str(self.config["realm_id"])

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(Path(self.config.get("ledger_path") or DEFAULT_LEDGER))

    @cached_property
    def _tokens(self) -> TokenKeeper:
        return TokenKeeper(self.config, self.realm_id)

    @cached_property
    def authenticator(self) -> QuickBooksAuthenticator:
        """The tap's token keeping; the sealed copy lives in the ledger instead of state."""
        kept = self.ledger.sealed_token(self.realm_id)
        sealed = {"refresh_token": kept[0], "updated_at": kept[1]} if kept else None
        return QuickBooksAuthenticator(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            token_url=self.config.get("token_url") or PRODUCTION_TOKEN_URL,
            candidates=self._tokens.candidates(sealed),
            on_refresh_token=self._keep_refresh_token,
            timeout=float(self.config.get("request_timeout") or 120),
            reread=self._tokens.file.read,
            realm_id=self.realm_id,
        )

    def _keep_refresh_token(self, token: str) -> str:
        """Save the newest refresh token where the next run looks, before it is used; say where."""
        kept = []
        if (failure := self._tokens.save(token)) is None:
            kept.append(f"saved to {self._tokens.file.path}")
        else:
            self.logger.error(
                "The rotated refresh token could NOT be saved to %s (%s); the ledger keeps it.",
                self._tokens.file.path,
                failure,
            )
        self.ledger.keep_sealed_token(self.realm_id, self._tokens.sealed(token)["refresh_token"])
        kept.append(f"sealed in the ledger {self.ledger.path}")
        return "; ".join(kept)

    @cached_property
    def qbo(self) -> Qbo:
        c = self.config
        url = c.get("api_url") or API_URLS[c.get("environment") or "production"]
        return Qbo(
            api_url=url,
            realm_id=self.realm_id,
            minor_version=max(LOWEST_MINOR_VERSION, int(c.get("minor_version") or 0)),
            authenticator=self.authenticator,
            timeout=float(c.get("request_timeout") or 120),
            limiter=throttle.limiter(c, self.realm_id),
            max_retries=int(c.get("max_retries", 8)),
            retry_base=float(c.get("retry_base_seconds", 1.0)),
            max_retry_wait=float(c.get("max_retry_wait") or 60),
            breaker=Breaker(
                threshold=5, cooldown=float(c.get("circuit_cooldown_seconds", 60)), max_opens=3
            ),
        )

    @cached_property
    def tally(self) -> Tally:
        return Tally()

    @cached_property
    def pusher(self) -> Pusher:
        return Pusher(self.qbo, self.ledger, self.tally)

    @cached_property
    def quantities(self) -> Quantities:
        ledger_path = Path(self.config.get("ledger_path") or DEFAULT_LEDGER)
        return Quantities(
            self.qbo,
            self.ledger,
            self.tally,
            tolerance_pct=float(self.config.get("reconcile_tolerance_pct", 1)),
            adjust_account_id=self.config.get("adjust_account_id"),
            report_path=ledger_path.with_name(ledger_path.stem + "-reconciliation.csv"),
        )

    # ----- the end of a run --------------------------------------------------------------
    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        if "tally" not in vars(self):
            return
        s = self.tally
        self.logger.info(
            "QuickBooks: %d created, %d updated, %d unchanged (already written), %d found "
            "after a lost answer, %d rejected, %d unresolved; %d stale-object retries; calls %s; "
            "circuit breaker opened %d times.",
            s.created,
            s.updated,
            s.unchanged,
            s.adopted,
            s.rejected,
            s.unresolved,
            s.stale_retries,
            json.dumps(self.qbo.calls, sort_keys=True),
            self.qbo.breaker.opened,
        )
        if s.rejected or s.unresolved:
            where = self.ledger.path
            self.logger.error(
                "%d record(s) rejected by QuickBooks and %d with an unknown outcome; the rest "
                'were written. Why, per record: sqlite3 %s "SELECT stream, key, status, '
                "message FROM records WHERE status != 'written'\"",
                s.rejected,
                s.unresolved,
                where,
            )
            sys.exit(1)

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:  # type: ignore[override]
        """Run; a failure the target understands ends with its message, not a traceback."""
        try:
            super().invoke(*args, **kwargs)
        except (TargetStop, QuickBooksAuthError) as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)
        except (InvalidRecord, InvalidInputLine, RecordsWithoutSchemaException) as exc:
            cls.logger.error(
                "Bad input, the run stopped: %s. Fix the input (or its SCHEMA message) and run "
                "again: records already written are in the ledger and are not written twice.",
                exc,
            )
            sys.exit(1)


@click.command("reconcile")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--platform", "platform_path", required=True, type=click.Path(dir_okay=False))
def reconcile_command(config_path: str, platform_path: str) -> None:
    """Compare the platform's stock file with QBO's quantities; write nothing to QBO."""
    try:
        config = json.loads(Path(config_path).read_text())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"Cannot read the config {config_path}: {exc}") from exc
    try:
        target = TargetQuickBooks(config=config, validate_config=True)
        platform = read_platform_csv(Path(platform_path))
        rows = target.quantities.reconcile(platform, write_report=True)
    except ConfigValidationError as exc:
        raise click.ClickException("; ".join(exc.errors or [str(exc)])) from exc
    except (TargetStop, QuickBooksAuthError) as exc:
        raise click.ClickException(str(exc)) from exc
    flagged = sum(r["flagged"] for r in rows)
    click.echo(
        f"{len(rows)} items compared, {flagged} flagged; report in "
        f"{target.quantities.report_path} and the ledger {target.ledger.path}.",
        err=True,
    )


def main() -> None:
    """``target-quickbooks [reconcile ...]``: the Singer target, or the reconcile command."""
    if len(sys.argv) > 1 and sys.argv[1] == "reconcile":
        reconcile_command.main(args=sys.argv[2:], prog_name="target-quickbooks reconcile")
    else:
        TargetQuickBooks.cli()
