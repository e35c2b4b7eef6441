-- The per-worker cap on accepted jobs, checked inside an accept's own statement.
--
-- The worker's row is locked first (NO KEY UPDATE: the accepted job's new worker_id already
-- holds a KEY SHARE lock on it), so one worker's accepts queue here and only there. The count
-- is a statement of its own: in a VOLATILE function each statement takes a fresh snapshot, so
-- it sees every accept that held the lock before this one and committed. Over the cap, the
-- whole accept statement fails with a check violation naming `open_jobs_per_worker`, and
-- nothing it did remains. `cap` comes from the application (J0_MAX_OPEN_JOBS_PER_WORKER);
-- NULL means no cap and touches nothing.
CREATE FUNCTION take_open_job_slot(worker BIGINT, job BIGINT, now TIMESTAMPTZ, cap BIGINT)
RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    held BIGINT;
BEGIN
    IF cap IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM users WHERE id = worker FOR NO KEY UPDATE;
    SELECT count(*) INTO held FROM jobs
    WHERE worker_id = worker AND status = 'accepted' AND expires_at > now AND id <> job;
    IF held >= cap THEN
        RAISE EXCEPTION 'worker % holds % open jobs', worker, held
            USING ERRCODE = 'check_violation', CONSTRAINT = 'open_jobs_per_worker';
    END IF;
    RETURN held;
END
$$;
