/**
 * Starts real `j0 serve` processes for the tests: each on a fresh PostgreSQL database (or, when
 * no PostgreSQL answers, on a private cluster under its own state directory), on a free port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SDK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The server binary: `J0_BIN`, else `<repo root>/target/debug/j0`. */
export const J0_BIN = process.env['J0_BIN'] ?? path.resolve(SDK_DIR, '..', '..', 'target', 'debug', 'j0');

/** The maintenance database URL under which test databases are created. */
export const MAINTENANCE_URL = process.env['J0_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** What a test needs to reach a running server and run operator commands on its data. */
export interface ServerInfo {
  /** `http://127.0.0.1:PORT/api/v1`. */
  baseUrl: string;
  /** The environment that points `j0 admin …` at this server's database. */
  env: Record<string, string>;
  /** The database name, when it runs on the shared PostgreSQL. */
  database: string | undefined;
}

/** A server this process started. */
export interface ServerHandle extends ServerInfo {
  /** SIGTERM, wait for the exit, then drop the database and the state directory. */
  stop(): Promise<void>;
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env?: Record<string, string>): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs SQL on the maintenance database with `psql`. */
export async function psql(sql: string): Promise<CommandResult> {
  return run('psql', [MAINTENANCE_URL, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql]);
}

let postgresAnswers: Promise<boolean> | undefined;

/** Whether the shared PostgreSQL answers (checked once per process). */
export function hasPostgres(): Promise<boolean> {
  postgresAnswers ??= psql('SELECT 1').then((result) => result.code === 0);
  return postgresAnswers;
}

function databaseUrl(name: string): string {
  const url = new URL(MAINTENANCE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `j0 <args>` against a server's database (`admin audit-ledger`, `admin grant-promo …`). */
export function j0(server: ServerInfo, args: string[]): Promise<CommandResult> {
  return run(J0_BIN, args, { ...server.env, RUST_LOG: 'warn' });
}

/** Runs the ledger audit on a server's database. */
export function auditLedger(server: ServerInfo): Promise<CommandResult> {
  return j0(server, ['admin', 'audit-ledger']);
}

/** Terminates every connection to a test database and drops it. */
export async function dropDatabase(name: string): Promise<void> {
  await psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
  await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * Starts `j0 serve` with rate limits off and `knobs` on top (for example
 * `{ J0_SIGNUP_PROMO_CENTS: '1000' }`), and waits for its `j0 listening` log line.
 */
export async function startServer(knobs: Record<string, string> = {}): Promise<ServerHandle> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'j0-sdk-ts-'));
  const env: Record<string, string> = { J0_STATE_DIR: stateDir };
  let database: string | undefined;
  if (await hasPostgres()) {
    database = `j0_sdk_ts_${randomBytes(6).toString('hex')}`;
    const created = await psql(`CREATE DATABASE ${database}`);
    if (created.code !== 0) throw new Error(`CREATE DATABASE failed: ${created.stderr}`);
    env['DATABASE_URL'] = databaseUrl(database);
  } else {
    // j0 runs its private cluster as the `postgres` user, which must reach the directory.
    chmodSync(stateDir, 0o755);
  }
  const serveEnv: Record<string, string> = {
    ...env,
    J0_BIND: '127.0.0.1:0',
    J0_LOG_JSON: '1',
    J0_JWT_SECRET: randomBytes(24).toString('hex'),
    J0_COOKIE_SECURE: 'false',
    J0_METRICS_BIND: 'off',
    RUST_LOG: 'info',
    J0_RATE_IP_PER_MIN: '0',
    J0_RATE_USER_PER_MIN: '0',
    J0_RATE_AUTH_PER_MIN: '0',
    ...knobs,
  };
  const base = { ...process.env };
  delete base['DATABASE_URL'];
  const child = spawn(J0_BIN, ['serve'], { env: { ...base, ...serveEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = async (): Promise<void> => {
    await terminate(child);
    if (database !== undefined) await dropDatabase(database);
    else await stopPrivateCluster(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const addr = await listeningAddress(child);
    return { baseUrl: `http://${addr}/api/v1`, env, database, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function listeningAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const recent: string[] = [];
    const stderr = child.stderr;
    if (stderr === null) {
      reject(new Error('no stderr'));
      return;
    }
    const timer = setTimeout(() => reject(new Error(`j0 did not start in 90 s:\n${recent.join('\n')}`)), 90_000);
    // Keep reading stderr for the whole life of the server so the pipe never fills.
    createInterface({ input: stderr }).on('line', (line) => {
      recent.push(line);
      if (recent.length > 30) recent.shift();
      try {
        const parsed = JSON.parse(line) as { fields?: { message?: string; addr?: string } };
        if (parsed.fields?.message === 'j0 listening' && parsed.fields.addr !== undefined) {
          clearTimeout(timer);
          resolve(parsed.fields.addr);
        }
      } catch {
        // Not a JSON log line (for example the private cluster's own output).
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`j0 serve exited with ${code}:\n${recent.join('\n')}`));
    });
  });
}

/** j0 leaves its private cluster running for the next start; stop it (fast shutdown). */
async function stopPrivateCluster(stateDir: string): Promise<void> {
  const pidFile = path.join(stateDir, 'pg', 'data', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function terminate(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
