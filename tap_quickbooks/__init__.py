"""Singer tap for QuickBooks Online."""
