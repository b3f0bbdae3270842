"""Batch jobs (DataChain's): the job aggregate, the queue policy, cron slots, and the dispatcher that runs them as
local processes (``docs/jobs.md``)."""
