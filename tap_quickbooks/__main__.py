"""`python -m tap_quickbooks`."""

from tap_quickbooks.tap import TapQuickBooks

TapQuickBooks.cli()
