"""Where and when work runs: the coordinator and the managers it composes.

At the top: `coordinator` (job intake, dispatch, fallback, journaling through
`actors.jobs`), `coordinator_actor` (its named Ray actor) and `policy` (which job a free
worker serves). `queues/`: what runs next (`job_queue`: classes, aging, admission;
`chunk_queue`; `fair_share`; `preemptor`: yield at chunk boundaries). `placement/`: where
it runs (`eligibility`, `fallback`: placement and the fault chain, `membership`,
`throughput`, `fanout`).
"""
