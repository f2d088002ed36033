"""Jobs as data and their durable state: specs and records, the journal, chunk plans
and merges, result files, the result cache and the codecs behind them.
"""
