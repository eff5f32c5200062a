"""Benchmarks of the service against the local stack (issue 7): ``python -m bench``.

Every figure is a ratio measured within the same run (the service against a bare loop, the
achieved LLM rate against concurrency / latency, ...), so a slower or busier machine moves
both sides. Nothing here is a test: there are no timing asserts anywhere.
"""
