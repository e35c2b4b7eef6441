-- USDC deposits: which address belongs to whom, and how far each chain has been scanned.

-- Deposit addresses are derived (CREATE2), so they cannot be mapped back to a user without a
-- record; one is written whenever a user's address is shown to them.
CREATE TABLE deposit_addresses (
    address BYTEA  PRIMARY KEY CHECK (octet_length(address) = 20),
    user_id BIGINT NOT NULL REFERENCES users (id)
);
CREATE INDEX deposit_addresses_user_id ON deposit_addresses (user_id);

-- The deposit watcher's progress: the next block not yet scanned, moved in the same
-- transaction as the credits of the blocks before it.
CREATE TABLE chain_cursors (
    chain_id   BIGINT PRIMARY KEY,
    next_block BIGINT NOT NULL CHECK (next_block >= 0)
);
