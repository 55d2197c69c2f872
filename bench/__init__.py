"""Benchmarks for telequery (run as `python -m bench.<name>`)."""
