"""Speed and quality measurements, run by hand: ``python -m benchmarks.<name> --help``.

Each prints what it measured, on what data, and ends with one JSON line.
"""
