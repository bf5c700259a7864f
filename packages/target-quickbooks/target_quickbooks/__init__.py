"""target-quickbooks: push sales, payments and stock to QuickBooks Online exactly once."""
