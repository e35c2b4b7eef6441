-- Each accept counts the jobs its worker holds in `accepted` (J0_MAX_OPEN_JOBS_PER_WORKER);
-- this keeps that count to the few open rows, however many jobs the worker has finished.
CREATE INDEX jobs_worker_accepted ON jobs (worker_id) WHERE status = 'accepted';
