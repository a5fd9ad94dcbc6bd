"""Benchmarks of the gateway: `make bench` (bench/run.sh); results in docs/performance.md."""
