# Routines of j0. `just --list` shows them.

export CARGO_BUILD_JOBS := "2"

# Serve the API (a private PostgreSQL under ./.j0/pg unless DATABASE_URL is set).
run:
    cargo run --release

# Every test: unit, property, end-to-end, binary, CLI and MCP tests, and both SDKs' suites.
test:
    tests/run

# Format check, clippy with warnings as errors, and the hexagon check.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    bash .ci/hexagon

# Format the code.
fmt:
    cargo fmt --all

# Apply migrations to DATABASE_URL (or the private cluster).
migrate:
    cargo run --release -- migrate

# Audit the ledger of DATABASE_URL (or the private cluster).
audit:
    cargo run --release -- admin audit-ledger

# What CI runs.
ci:
    bash .ci/run

# Property-based fuzzing of the parsers (addresses, signatures, Stripe headers, job bodies) with
# many more cases than CI runs.
fuzz cases="200000":
    PROPTEST_CASES={{cases}} cargo nextest run --workspace -E 'test(/fuzz_/)'

# Schemathesis against a real j0: every documented operation, checked against the OpenAPI document.
schemathesis examples="100":
    SCHEMATHESIS_MAX_EXAMPLES={{examples}} bash .ci/schemathesis

# Rewrite docs/openapi.json, the API reference, from the code.
openapi:
    UPDATE_OPENAPI=1 cargo nextest run -p j0-e2e -E 'test(the_committed_api_reference_is_current)'

# The benchmark of record, release build, against the machine's PostgreSQL: every scenario
# (`just bench lifecycle` runs one; `just bench --help` lists them). The j0 server binary the
# process scenarios run is built in the same cargo invocation. JSON goes to target/bench/.
bench *args="all":
    cargo build --release -p j0-server --bin j0 -p j0-bench --bin j0-bench
    {{env_var_or_default("CARGO_TARGET_DIR", "target")}}/release/j0-bench {{args}}
