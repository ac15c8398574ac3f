"""Benchmarks of rulequeue against the best the same stack does on the same machine.

Each module is one command (``python -m benchmarks.<name>``); see ``benchmarks/README.md``.
Benchmarks are measurements, never pass/fail tests: they print a table and write JSON to
``benchmarks/results/``.
"""
