"""The commands, the top of the house: each parses, wires and hands over.

``cli`` reads the command line (``selftaught run | demo | schemas | dlq | eval | memoryci``)
and loads the settings; ``app`` wires a running service from them (``tuning``: the process's
garbage collector and GIL switch interval when it runs nothing else); ``demo`` runs the whole
job on the bundled sample traces; ``dlq`` replays dead letters; ``memoryci`` feeds the cards
topic to MemoryCI. ``selftaught eval`` is the package ``consumer.eval`` of its own. The layer
may import every layer below it, and nothing imports it but ``consumer.__main__``
(tests/unit/test_layers.py keeps it so).
"""
