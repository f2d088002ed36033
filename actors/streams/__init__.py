"""Streams of live ticks: the per-worker registry of incremental indicator state, and
the router that keeps each stream on one worker and recovers it down the fallback chain.
"""
