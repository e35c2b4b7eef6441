#!/usr/bin/env bash
# Everything for the TypeScript SDK: install, type-check, build, pack, install the tarball into a
# fresh npm project and run the seed quickstart there against a live `j0 serve`, then the test
# suite (whose summary is the last thing printed). Needs J0_BIN or <repo root>/target/debug/j0.
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$SDK_DIR/../.." && pwd)"
export J0_BIN="${J0_BIN:-$REPO_ROOT/target/debug/j0}"
MAINTENANCE_URL="${J0_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

step() { printf '\n=== %s ===\n' "$*"; }

if [[ ! -x "$J0_BIN" ]]; then
  echo "j0 binary not found at $J0_BIN: build it (cargo build) or set J0_BIN" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/j0-sdk-ts-check.XXXXXX")"
SERVER_PID=""
DATABASE=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "$DATABASE" ]]; then
    psql "$MAINTENANCE_URL" -qAt -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1 || true
  elif [[ -f "$WORK/state/pg/data/postmaster.pid" ]]; then
    # j0 leaves its private cluster running for the next start; stop the one it started here.
    kill -INT "$(head -n1 "$WORK/state/pg/data/postmaster.pid")" 2>/dev/null || true
    sleep 1
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cd "$SDK_DIR"

step "npm ci"
npm ci --no-audit --no-fund

step "typecheck"
npm run typecheck

step "build"
npm run build

step "pack"
npm pack --ignore-scripts --pack-destination "$WORK" >/dev/null
TARBALL="$(ls "$WORK"/j0-sdk-*.tgz)"
echo "$TARBALL"
tar -tzf "$TARBALL"

step "fresh project with the tarball"
APP="$WORK/app"
mkdir "$APP"
cd "$APP"
npm init -y >/dev/null
npm pkg set type=module
npm install --no-audit --no-fund "$TARBALL"

step "a j0 server for the quickstart"
STATE_DIR="$WORK/state"
mkdir "$STATE_DIR"
SERVER_ENV=(J0_STATE_DIR="$STATE_DIR")
if psql "$MAINTENANCE_URL" -qAt -c 'SELECT 1' >/dev/null 2>&1; then
  DATABASE="j0_sdk_ts_script_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  psql "$MAINTENANCE_URL" -qAt -c "CREATE DATABASE $DATABASE" >/dev/null
  DATABASE_URL="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.toString())' "$MAINTENANCE_URL" "$DATABASE")"
  SERVER_ENV+=(DATABASE_URL="$DATABASE_URL")
else
  echo "no PostgreSQL at $MAINTENANCE_URL: j0 starts a private cluster under $STATE_DIR"
  # It runs that cluster as the `postgres` user, which must reach the directory.
  chmod 755 "$WORK" "$STATE_DIR"
fi
env -u DATABASE_URL "${SERVER_ENV[@]}" \
  J0_BIND=127.0.0.1:0 J0_LOG_JSON=1 J0_JWT_SECRET="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" \
  J0_COOKIE_SECURE=false J0_METRICS_BIND=off RUST_LOG=info J0_SIGNUP_PROMO_CENTS=1000 \
  J0_RATE_IP_PER_MIN=0 J0_RATE_USER_PER_MIN=0 J0_RATE_AUTH_PER_MIN=0 \
  "$J0_BIN" serve 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 900); do
  ADDR="$(grep -m1 '"j0 listening"' "$WORK/server.log" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' || true)"
  [[ -n "$ADDR" ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$ADDR" ]]; then
  echo "j0 serve did not start" >&2
  tail -n 30 "$WORK/server.log" >&2
  exit 1
fi
export J0_BASE_URL="http://$ADDR/api/v1"
echo "J0_BASE_URL=$J0_BASE_URL"

step "the seed quickstart from the installed package"
KEY="$(node --input-type=module -e "import { generatePrivateKey } from 'viem/accounts'; console.log(generatePrivateKey())")"
sed "s/'0x\.\.\.'/'$KEY'/" "$SDK_DIR/test/fixtures/quickstart.mjs.txt" >quickstart.mjs
OUTPUT="$(node quickstart.mjs)"
echo "$OUTPUT"
if [[ ! "$OUTPUT" =~ ^Job\ posted:\ [0-9]+$ ]]; then
  echo "the quickstart printed '$OUTPUT', not 'Job posted: <n>'" >&2
  exit 1
fi

step "the declarations resolve for a TypeScript consumer"
cat >consumer.ts <<'EOF'
import {
  J0Client,
  J0Error,
  InsufficientCreditsError,
  RateLimitedError,
  type Balance,
  type J0Event,
  type Job,
  type WorkSummary,
} from '@j0/sdk';

const client = new J0Client({ privateKey: process.env.J0_PRIVATE_KEY, maxRetries: 1 });
const job: Job = await client.postJob({ capability: 'opus', credits: 10, timeout: 30, prompt: 'Summarize this...' });
const id: number = job.jobId;
const created: Date = job.createdAt;
const balance: Balance = await client.getBalance();
const cents: number = balance.totalCents;
for await (const event of client.events({ capabilities: ['opus'] })) {
  const e: J0Event = event;
  if (e.event === 'job.completed') console.log(e.data.result, e.data.creditsEarned);
  if (e.event === 'balance.updated') console.log(e.data.cashCents);
  break;
}
const summary: WorkSummary = await client.work({ capabilities: ['opus'], handler: (j) => j.prompt, maxJobs: 1 });
try {
  await client.cancelJob(id);
} catch (error) {
  if (error instanceof InsufficientCreditsError) console.log(error.have, error.need);
  if (error instanceof RateLimitedError) console.log(error.retryAfter);
  if (error instanceof J0Error) console.log(error.status, error.code, error.message);
}
console.log(created, cents, summary);
EOF
cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022", "DOM"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "types": [],
    "strict": true,
    "noEmit": true
  },
  "files": ["consumer.ts", "env.d.ts"]
}
EOF
# The consumer reads process.env; declare just that instead of installing @types/node.
printf 'declare const process: { env: Record<string, string | undefined> };\n' >env.d.ts
"$SDK_DIR/node_modules/.bin/tsc" -p tsconfig.json
echo "consumer.ts type-checks against the installed @j0/sdk"

AUDIT_ENV=(J0_STATE_DIR="$STATE_DIR")
[[ -n "$DATABASE" ]] && AUDIT_ENV+=(DATABASE_URL="$DATABASE_URL")
env -u DATABASE_URL "${AUDIT_ENV[@]}" RUST_LOG=warn "$J0_BIN" admin audit-ledger

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

step "tests"
cd "$SDK_DIR"
npm test
