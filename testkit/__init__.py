"""What the tests and the benchmarks both need to run the real service against the real stack:
the stack's addresses, fresh topics, the service as a process. Never imported by ``consumer``."""
