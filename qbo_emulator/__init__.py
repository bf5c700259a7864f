"""A local QuickBooks Online API for tests, the demo and benchmarks."""
