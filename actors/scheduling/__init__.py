"""Where and when work runs: the coordinator and the managers it composes.

`coordinator` (job intake, dispatch, fallback, journaling through `actors.jobs`),
`coordinator_actor` (its named Ray actor), `job_queue` (classes, aging, admission),
`preemptor` (yield at chunk boundaries) and `fallback` (placement and the fault chain).
"""
