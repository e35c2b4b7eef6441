//! Diesel's view of the tables the migrations create.

diesel::table! {
    users (id) {
        id -> Int8,
        address -> Bytea,
        created_at -> Timestamptz,
        cash_cents -> Int8,
        promo_cents -> Int8,
        jobs_completed -> Int8,
        jobs_timed_out -> Int8,
    }
}

diesel::table! {
    auth_challenges (nonce) {
        nonce -> Text,
        address -> Bytea,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        requester_id -> Int8,
        worker_id -> Nullable<Int8>,
        capability -> Text,
        credits -> Int8,
        timeout_sec -> Int4,
        status -> Text,
        prompt -> Text,
        result -> Nullable<Text>,
        held_promo_cents -> Int8,
        held_cash_cents -> Int8,
        created_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    credit_transactions (id) {
        id -> Int8,
        user_id -> Int8,
        transfer_id -> Int8,
        amount_cents -> Int8,
        #[sql_name = "type"]
        kind -> Text,
        description -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    job_idempotency_keys (user_id, key) {
        user_id -> Int8,
        key -> Text,
        request -> Jsonb,
        expires_at -> Timestamptz,
        job_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        seq -> Nullable<Int8>,
        event -> Text,
        recipient_id -> Nullable<Int8>,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, jobs, credit_transactions, events);

diesel::table! {
    checkout_sessions (session_id) {
        session_id -> Text,
        user_id -> Int8,
        amount_usd -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    deposit_addresses (address) {
        address -> Bytea,
        user_id -> Int8,
    }
}

diesel::table! {
    chain_cursors (chain_id) {
        chain_id -> Int8,
        next_block -> Int8,
    }
}
