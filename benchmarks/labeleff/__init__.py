"""The label-efficiency benchmark's parts (see benchmarks/label_efficiency.py)."""
