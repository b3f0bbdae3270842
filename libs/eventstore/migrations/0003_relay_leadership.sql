-- The relay's leader epoch (DESIGN §3). Each relay that takes the leader lock claims the next epoch of its
-- checkpoint row, and moves the checkpoint only by a compare-and-set that names that epoch: a former leader that
-- was paused (SIGSTOP, a frozen VM) and comes back after another took over can no longer move it, and learns
-- from the refusal that it must stop publishing. Other checkpoints (projections, consumers) leave it at 0.
ALTER TABLE es.checkpoints ADD COLUMN IF NOT EXISTS leader_epoch bigint NOT NULL DEFAULT 0;
