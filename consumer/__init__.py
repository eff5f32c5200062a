"""selftaught-consumer: critic scores in, self-taught contrast pairs (memory cards) out."""

__version__ = "0.1.0"
