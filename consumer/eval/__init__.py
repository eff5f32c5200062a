"""``selftaught eval``: does a critic judge contrast pairs better with the cards in context?

The data flow, module by module: ``dataset`` (cards -> pairs, the held-out split and what may
never be shown for a test pair), ``retrieve`` (which memory cards a critic sees), ``critic``
(the judgment prompt and the Messages API calls), ``run`` (every test pair judged in both
orders and conditions), ``stats`` (accuracy, lift, intervals, McNemar), ``report`` (table,
JSON, Markdown, plot) and ``command`` (reads the topic, runs it all).
"""
