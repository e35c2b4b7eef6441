-- The Checkout Sessions j0 created: a paid-session webhook credits only these, and only their
-- own user, whatever `client_reference_id` the session carries.
CREATE TABLE checkout_sessions (
    session_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    amount_usd INTEGER NOT NULL CHECK (amount_usd > 0),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX checkout_sessions_created_at ON checkout_sessions (created_at);
