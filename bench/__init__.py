"""Benchmark suite for pcgrad: ``python -m bench`` (see bench/README.md).

Kept free of imports so that ``python -m bench.worker`` loads nothing before
its one engine.
"""
