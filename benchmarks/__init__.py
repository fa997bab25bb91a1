"""Benchmarks of the n2n-study code: `python -m benchmarks.throughput` (see benchmarks/README.md)."""
