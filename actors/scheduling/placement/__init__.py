"""Where work runs: eligible workers (eligibility), the fallback chain, worker membership, throughput-sized chunks and the per-worker fan-out record."""
