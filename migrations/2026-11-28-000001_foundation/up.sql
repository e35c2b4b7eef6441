-- Users and wallet sign-in.

CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address        BYTEA       NOT NULL UNIQUE CHECK (octet_length(address) = 20),
    created_at     TIMESTAMPTZ NOT NULL,
    -- The user's own two ledger accounts. Only this user's actions write this row, so keeping
    -- running balances here costs no cross-user contention; the CHECKs make a negative balance
    -- impossible whatever the application does.
    cash_cents     BIGINT      NOT NULL DEFAULT 0 CHECK (cash_cents >= 0),
    promo_cents    BIGINT      NOT NULL DEFAULT 0 CHECK (promo_cents >= 0),
    -- Worker track record behind reputation_score, updated with each completion or timeout.
    jobs_completed BIGINT      NOT NULL DEFAULT 0 CHECK (jobs_completed >= 0),
    jobs_timed_out BIGINT      NOT NULL DEFAULT 0 CHECK (jobs_timed_out >= 0)
);

-- Challenges are kept until they expire (so a reused nonce answers CHALLENGE_USED), then pruned.
CREATE TABLE auth_challenges (
    nonce      TEXT        PRIMARY KEY,
    address    BYTEA       NOT NULL CHECK (octet_length(address) = 20),
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX auth_challenges_expires_at ON auth_challenges (expires_at);

-- Logged-out tokens, refused until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT        PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
