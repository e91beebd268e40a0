"""Benchmarks (run by hand, never by the default pytest run): `python -m tests.bench.run --help`."""
