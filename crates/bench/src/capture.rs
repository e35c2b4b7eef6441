//! The statements j0 sends for one lifecycle, captured from the server's own traffic.
//!
//! A scratch PostgreSQL cluster of the bench's own (the test kit's private-cluster supervisor,
//! restarted with `pg_stat_statements` preloaded and a JSON server log) serves one `j0 serve`
//! process. Two things record what that server sends:
//!
//! - the server log, with `log_statement = all` on the capture database: every statement's
//!   text, its parameters' values as text, its session and its transaction (`vxid`);
//! - a small proxy between `j0 serve` and the cluster that reads the protocol's `Parse`
//!   messages: the parameter types j0 declared for each statement, which the log does not show
//!   and which a replay must restate (pgbench sends its parameters untyped).
//!
//! What belongs to a request: the server's background tasks (sequencer, hub, sweeper, pruning)
//! send statements all the time, so the capture first listens to the server idle for a few
//! seconds and learns their texts. A transaction (or autocommit statement) is the request's
//! when none of its statements was heard while idle; the pool's checkout check (a statement heard
//! while idle) counts for the request when it is the one directly before a request's statement
//! on the same connection. Each step is bracketed by marker statements the bench sends on its
//! own connection, so what falls between two markers is that step's. Three lifecycles are
//! captured and the steps must read the same in at least two of them.
//!
//! The requester, worker and job ids are made distinctive (the identity sequences are moved
//! before each is created) and the idempotency key is the bench's, so the replay can tell
//! which parameter values are per-transaction: see [`Capture`].

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, UnixStream},
};
use tokio_postgres::{Client, NoTls, types::Type};

use j0_client::{JobId, UserId, Wallet};
use j0_pg_local::PrivateCluster;
use j0_testkit::{Session, process::Serving, sign_in_at};

use crate::{
    Bench,
    lifecycle::{REQUESTER_CENTS, bench_job},
    servers,
};

/// The capture database on the scratch cluster.
const DATABASE: &str = "j0_capture";
/// The requester's id in the capture: distinctive, so it can be recognised inside values.
pub const REQUESTER_ID: i64 = 27_182_818;
/// The worker's id in the capture.
pub const WORKER_ID: i64 = 31_415_926;
/// The first captured job's id; each captured lifecycle takes the next.
pub const FIRST_JOB_ID: i64 = 48_151_623;
/// How long the idle server is listened to for its background statements: longer than the
/// slowest frequent background task (events are pruned every 5 s).
const IDLE_LISTEN: Duration = Duration::from_secs(6);
/// Lifecycles captured; their steps must agree in a majority.
const CAPTURED: usize = 3;
/// Lifecycles run before the capture, so the pool's connections and statement caches exist.
const WARM_UP: usize = 20;
/// The steps of a lifecycle, in order.
pub const STEPS: [&str; 3] = ["post", "accept", "complete"];

/// A scratch cluster with `pg_stat_statements` and a JSON server log, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    cluster: PrivateCluster,
    root: PathBuf,
}

impl Scratch {
    /// initdb (through the private-cluster supervisor), then a restart with the extension
    /// preloaded and the log collector writing JSON.
    async fn start() -> Self {
        let root = std::env::temp_dir().join(format!("j0-bench-pg-{}", std::process::id()));
        let cluster = blocking_start(root.clone()).await;
        let admin = connect(&cluster.url("postgres")).await;
        for setting in [
            "shared_preload_libraries = 'pg_stat_statements'",
            "logging_collector = on",
            "log_destination = 'jsonlog'",
            "log_filename = 'statements.log'",
            "log_parameter_max_length = -1",
        ] {
            admin
                .batch_execute(&format!("ALTER SYSTEM SET {setting}"))
                .await
                .expect("configure the scratch cluster");
        }
        drop(admin);
        let stopping = cluster.clone();
        tokio::task::spawn_blocking(move || stopping.stop().expect("stop the scratch cluster"))
            .await
            .expect("stop task");
        let cluster = blocking_start(root.clone()).await;
        Self { cluster, root }
    }

    /// The JSON server log.
    fn log_file(&self) -> PathBuf {
        self.cluster.data_dir().join("log").join("statements.json")
    }

    /// A direct URL of `database` (Unix socket).
    pub fn url(&self, database: &str) -> String {
        self.cluster.url(database)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn blocking_start(root: PathBuf) -> PrivateCluster {
    tokio::task::spawn_blocking(move || {
        PrivateCluster::start_or_reuse(&root).expect("start the scratch PostgreSQL cluster")
    })
    .await
    .expect("start task")
}

/// A connection of the bench's own.
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// What the proxy saw: each statement text with the parameter types j0 declared for it, and
/// when each named statement was parsed.
#[derive(Debug, Default, Clone)]
struct Seen {
    types: HashMap<String, Vec<u32>>,
    parses: Vec<(String, Instant)>,
}

/// [`Seen`], shared with the proxy's tasks.
type Declared = Arc<Mutex<Seen>>;

/// Forwards TCP connections on a local port to the cluster's Unix socket, noting every `Parse`.
async fn proxy(socket: PathBuf, declared: Declared) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the capture proxy");
    let port = listener.local_addr().expect("proxy address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let socket = socket.clone();
            let declared = declared.clone();
            tokio::spawn(async move {
                let Ok(server) = UnixStream::connect(&socket).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                let _ = relay_client(&mut from_client, &mut to_server, &declared).await;
            });
        }
    });
    port
}

/// Copies the client's messages to the server, reading each: the startup messages have no type
/// byte, every later one does; a `P` (Parse) carries the statement and its parameter types.
async fn relay_client(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    declared: &Declared,
) -> std::io::Result<()> {
    const SSL_REQUEST: u32 = 80_877_103;
    loop {
        // Startup phase: an SSLRequest (answered by the server with one byte) or the startup
        // message itself.
        let len = from.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from.read_exact(&mut body).await?;
        to.write_u32(len).await?;
        to.write_all(&body).await?;
        let code = body
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if code != Some(SSL_REQUEST) {
            break;
        }
    }
    loop {
        let kind = from.read_u8().await?;
        let len = from.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from.read_exact(&mut body).await?;
        if kind == b'P'
            && let Some((name, sql, types)) = parse_message(&body)
        {
            let mut seen = declared.lock().expect("the proxy's record");
            seen.types.insert(sql, types);
            seen.parses.push((name, Instant::now()));
        }
        to.write_u8(kind).await?;
        to.write_u32(len).await?;
        to.write_all(&body).await?;
    }
}

/// A Parse message's statement name, text and parameter type OIDs.
fn parse_message(body: &[u8]) -> Option<(String, String, Vec<u32>)> {
    let name_end = body.iter().position(|&b| b == 0)?;
    let name = String::from_utf8_lossy(&body[..name_end]).into_owned();
    let rest = &body[name_end + 1..];
    let sql_end = rest.iter().position(|&b| b == 0)?;
    let sql = String::from_utf8_lossy(&rest[..sql_end]).into_owned();
    let rest = &rest[sql_end + 1..];
    let n = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let types = (0..n)
        .map(|i| {
            let at = 2 + 4 * i;
            Some(u32::from_be_bytes([
                *rest.get(at)?,
                *rest.get(at + 1)?,
                *rest.get(at + 2)?,
                *rest.get(at + 3)?,
            ]))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((name, sql, types))
}

/// One statement as j0 sent it.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    /// The text, `$n` for each parameter.
    pub sql: String,
    /// PostgreSQL's query id (`pg_stat_statements.queryid`).
    pub query_id: i64,
    /// Each parameter's value as text (`None` for NULL), in order.
    pub params: Vec<Option<String>>,
    /// Each parameter's declared type (`None` when j0 left it to the server), in order.
    pub types: Vec<Option<String>>,
    /// Sent through the simple protocol (`BEGIN`, `COMMIT`): no parameters, one round trip.
    pub simple: bool,
    /// Parsed (prepared) during this request rather than taken from the connection's cache:
    /// one more round trip.
    pub prepared_in_call: bool,
    /// The declared parameter types' OIDs (0: left to the server).
    #[serde(skip)]
    pub oids: Vec<u32>,
    /// The names of the columns it returns.
    pub columns: Vec<String>,
}

impl Statement {
    /// Round trips it cost: one, plus one when it was prepared in the call.
    pub fn round_trips(&self) -> usize {
        1 + usize::from(self.prepared_in_call)
    }
}

/// One transaction (or one autocommit statement) of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// `BEGIN … COMMIT` around the statements.
    pub transaction: bool,
    /// The statements, transaction control included.
    pub statements: Vec<Statement>,
}

/// One step of the lifecycle as j0 sent it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `post`, `accept` or `complete`.
    pub name: &'static str,
    /// Its transactions and autocommit statements, in the order they were sent.
    pub groups: Vec<Group>,
}

impl Step {
    /// Every statement, transaction control included.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.groups.iter().flat_map(|g| g.statements.iter())
    }
}

/// One captured lifecycle and the values that were its own.
#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    /// Post, accept and complete.
    pub steps: Vec<Step>,
    /// The job the lifecycle posted.
    pub job_id: i64,
    /// The idempotency key the post carried.
    pub key: String,
    /// Texts heard from the idle server (its background tasks).
    pub background: Vec<String>,
    /// Their query ids.
    pub background_ids: HashSet<i64>,
    /// Whether the idle server ran transactions (`BEGIN`/`COMMIT` are sent by both then).
    pub background_transactions: bool,
    /// Lifecycles (of [`CAPTURED`]) whose steps read like the one kept.
    pub agreeing: usize,
}

/// A `j0 serve` process on the scratch cluster behind the proxy, with its users.
#[derive(Debug)]
pub struct Rig {
    /// The server.
    pub server: Serving,
    /// The requester, funded, with id [`REQUESTER_ID`].
    pub requester: Session,
    /// The worker, with id [`WORKER_ID`].
    pub worker: Session,
    /// The bench's own connection to the capture database.
    pub admin: Client,
    /// The capture database's direct URL.
    pub url: String,
    declared: Declared,
    scratch: Scratch,
}

impl Rig {
    /// Starts the scratch cluster, the proxy and `j0 serve`; signs in and funds the users.
    pub async fn start(bench: &Bench) -> Self {
        let scratch = Scratch::start().await;
        let postgres = connect(&scratch.url("postgres")).await;
        postgres
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .expect("create the capture database");
        postgres
            .batch_execute(&format!(
                "ALTER DATABASE {DATABASE} SET log_statement = 'all'"
            ))
            .await
            .expect("log the capture database's statements");
        drop(postgres);
        let url = scratch.url(DATABASE);
        let admin = connect(&url).await;
        admin
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .expect("create pg_stat_statements");
        let declared = Declared::default();
        let port = proxy(
            scratch.cluster.socket_dir().join(".s.PGSQL.5432"),
            declared.clone(),
        )
        .await;
        let server = servers::serve(&bench.j0, &through_proxy(&url, port), &[]);
        let requester = signed_in_as(&admin, &server.base, REQUESTER_ID).await;
        let worker = signed_in_as(&admin, &server.base, WORKER_ID).await;
        servers::grant_promo(&bench.j0, &url, &[requester.user_id], REQUESTER_CENTS);
        admin
            .batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('jobs', 'id'), {})",
                FIRST_JOB_ID - 1
            ))
            .await
            .expect("move the jobs sequence");
        Self {
            server,
            requester,
            worker,
            admin,
            url,
            declared,
            scratch,
        }
    }

    /// Sends a marker statement on the bench's own connection.
    async fn mark(&self, label: &str) {
        self.admin
            .batch_execute(&format!("SELECT 'j0-bench:{label}'"))
            .await
            .expect("mark the log");
    }

    /// Marks the log with `label`, then reads every statement line of it up to that marker.
    async fn log_until(&self, label: &str) -> Vec<Line> {
        self.mark(label).await;
        read_log(&self.scratch.log_file(), &format!("'j0-bench:{label}'")).await
    }

    /// One lifecycle by the rig's pair, with `key` on the post; markers around each step when
    /// `marked` is given (the lifecycle's number). Returns the job's id and each step's window.
    pub async fn lifecycle(
        &self,
        key: String,
        marked: Option<usize>,
    ) -> (i64, Vec<(Instant, Instant)>) {
        let mut windows = Vec::new();
        let mut job_id = 0;
        for step in STEPS {
            if let Some(n) = marked {
                self.mark(&format!("{n}:{step}:begin")).await;
            }
            let began = Instant::now();
            match step {
                "post" => {
                    let job = bench_job().idempotency_key(key.clone());
                    job_id = self
                        .requester
                        .post_job(job)
                        .await
                        .expect("post")
                        .job_id
                        .get();
                }
                "accept" => {
                    self.worker.accept_job(JobId(job_id)).await.expect("accept");
                }
                _ => {
                    self.worker
                        .complete_job(JobId(job_id), "done")
                        .await
                        .expect("complete");
                }
            }
            windows.push((began, Instant::now()));
            if let Some(n) = marked {
                self.mark(&format!("{n}:{step}:end")).await;
            }
        }
        (job_id, windows)
    }

    /// Learns the idle server's statements, then captures [`CAPTURED`] lifecycles and keeps the
    /// one the majority agrees with.
    pub async fn capture(&self) -> Capture {
        for i in 0..WARM_UP {
            self.lifecycle(format!("j0-bench-warm-up-{i}"), None).await;
        }
        self.mark("idle:begin").await;
        tokio::time::sleep(IDLE_LISTEN).await;
        self.mark("idle:end").await;
        let mut runs = Vec::new();
        for n in 0..CAPTURED {
            let key = format!("j0-bench-capture-key-{n}");
            let (job_id, windows) = self.lifecycle(key.clone(), Some(n)).await;
            runs.push((job_id, key, windows));
        }
        let log = self.log_until("capture:end").await;
        let marker_session = session_of(&log, "idle:begin").expect("the idle marker in the log");
        let idle = between(&log, "idle:begin", "idle:end", &marker_session);
        let background: HashSet<String> = idle
            .iter()
            .map(|l| l.text.clone())
            .filter(|t| !is_transaction_control(t))
            .collect();
        let background_ids: HashSet<i64> = idle.iter().map(|l| l.query_id).collect();
        let seen = self.declared.lock().expect("the proxy's record").clone();
        let types = type_names(&self.admin, &seen.types).await;
        let mut captures: Vec<Capture> = Vec::new();
        for (n, (job_id, key, windows)) in runs.into_iter().enumerate() {
            let steps = STEPS
                .iter()
                .zip(&windows)
                .map(|(&name, window)| {
                    let lines = between(
                        &log,
                        &format!("{n}:{name}:begin"),
                        &format!("{n}:{name}:end"),
                        &marker_session,
                    );
                    Step {
                        name,
                        groups: request_groups(&lines, &background, &seen, &types, *window),
                    }
                })
                .collect();
            captures.push(Capture {
                steps,
                job_id,
                key,
                background: background.iter().cloned().collect(),
                background_ids: background_ids.clone(),
                background_transactions: idle.iter().any(|l| is_transaction_control(&l.text)),
                agreeing: 0,
            });
        }
        let shape = |c: &Capture| -> Vec<Vec<String>> {
            c.steps
                .iter()
                .map(|s| s.statements().map(|st| st.sql.clone()).collect())
                .collect()
        };
        let mut best = captures
            .iter()
            .max_by_key(|c| captures.iter().filter(|o| shape(o) == shape(c)).count())
            .cloned()
            .expect("a captured lifecycle");
        best.agreeing = captures.iter().filter(|o| shape(o) == shape(&best)).count();
        for step in &mut best.steps {
            for group in &mut step.groups {
                for statement in &mut group.statements {
                    statement.columns = self.columns(statement).await;
                }
            }
        }
        assert!(
            best.agreeing * 2 > CAPTURED,
            "the captured lifecycles disagree on what each step sends: {:#?}",
            captures.iter().map(shape).collect::<Vec<_>>()
        );
        best
    }

    /// The columns `statement` returns, as PostgreSQL describes it with the types j0 declared.
    async fn columns(&self, statement: &Statement) -> Vec<String> {
        if statement.simple {
            return Vec::new();
        }
        let types: Option<Vec<Type>> = statement
            .oids
            .iter()
            .map(|&oid| Type::from_oid(oid))
            .collect();
        let Some(types) = types else {
            return Vec::new();
        };
        match self.admin.prepare_typed(&statement.sql, &types).await {
            Ok(prepared) => prepared
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The query ids of every statement j0's own sessions sent so far (the log, without the
    /// bench's marker connection): what is in `pg_stat_statements` but not here ran inside
    /// PostgreSQL (foreign-key checks, functions).
    pub async fn sent_query_ids(&self) -> HashSet<i64> {
        let log = self.log_until("sent:end").await;
        let marker = session_of(&log, "sent:end").unwrap_or_default();
        log.iter()
            .filter(|l| l.session != marker)
            .map(|l| l.query_id)
            .collect()
    }

    /// `pg_stat_statements` of the capture database: each statement's query id, text and calls.
    pub async fn statement_calls(&self) -> Vec<(i64, String, i64)> {
        self.admin
            .query(
                "SELECT queryid, query, calls FROM pg_stat_statements
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                 ORDER BY calls DESC",
                &[],
            )
            .await
            .expect("read pg_stat_statements")
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    }

    /// Empties `pg_stat_statements`, so what follows is counted alone.
    pub async fn reset_statements(&self) {
        self.admin
            .batch_execute("SELECT pg_stat_statements_reset()")
            .await
            .expect("reset pg_stat_statements");
    }
}

/// `url` (a Unix-socket URL of the private cluster) pointed at the proxy's TCP port instead.
fn through_proxy(url: &str, port: u16) -> String {
    let (credentials, rest) = url.split_once("@/").expect("a private-cluster URL");
    let database = rest.split('?').next().unwrap_or(DATABASE);
    format!("{credentials}@127.0.0.1:{port}/{database}")
}

/// Signs a new wallet in with `id` as its user id (the identity sequence moved just before).
async fn signed_in_as(admin: &Client, api: &str, id: i64) -> Session {
    admin
        .batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), {})",
            id - 1
        ))
        .await
        .expect("move the users sequence");
    let session = sign_in_at(api, Wallet::random()).await;
    assert_eq!(
        session.user_id,
        UserId(id),
        "the user took the id set for it"
    );
    session
}

/// The type names of every OID `declared` holds, from the capture database.
async fn type_names(admin: &Client, declared: &HashMap<String, Vec<u32>>) -> HashMap<u32, String> {
    let oids: HashSet<u32> = declared
        .values()
        .flatten()
        .copied()
        .filter(|&o| o != 0)
        .collect();
    let mut names = HashMap::new();
    for oid in oids {
        let row = admin
            .query_one("SELECT format_type($1::oid, NULL)", &[&oid])
            .await
            .expect("name a type");
        names.insert(oid, row.get(0));
    }
    names
}

/// One statement line of the server log.
#[derive(Debug, Clone)]
struct Line {
    session: String,
    /// PostgreSQL's query id, the same as `pg_stat_statements.queryid`.
    query_id: i64,
    vxid: String,
    /// The statement's name (`s12`, `<unnamed>`), or `None` for the simple protocol.
    name: Option<String>,
    text: String,
    params: Vec<Option<String>>,
}

/// `BEGIN`, `COMMIT` or `ROLLBACK`.
pub fn is_transaction_control(text: &str) -> bool {
    matches!(text.trim(), "BEGIN" | "COMMIT" | "ROLLBACK")
}

/// Reads the JSON log until a line containing `last` has arrived; every statement line.
async fn read_log(path: &std::path::Path, last: &str) -> Vec<Line> {
    let waiting = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(last) {
            return text.lines().filter_map(log_line).collect();
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "the capture's last marker never reached {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The session that logged the marker `label`: the bench's own connection.
fn session_of(log: &[Line], label: &str) -> Option<String> {
    let marker = format!("'j0-bench:{label}'");
    log.iter()
        .find(|l| l.text.contains(&marker))
        .map(|l| l.session.clone())
}

/// A statement line (`execute <name>: …` or `statement: …`) of the JSON log, parsed.
fn log_line(json: &str) -> Option<Line> {
    let entry: Value = serde_json::from_str(json).ok()?;
    let message = entry["message"].as_str()?;
    let (name, text) = if let Some(rest) = message.strip_prefix("execute ") {
        let (name, text) = rest.split_once(": ")?;
        (Some(name.to_owned()), text.to_owned())
    } else {
        (None, message.strip_prefix("statement: ")?.to_owned())
    };
    let params = entry["detail"]
        .as_str()
        .and_then(|d| d.strip_prefix("parameters: "))
        .map(parse_parameters)
        .unwrap_or_default();
    Some(Line {
        session: entry["session_id"].as_str()?.to_owned(),
        query_id: entry["query_id"].as_i64().unwrap_or_default(),
        vxid: entry["vxid"].as_str().unwrap_or_default().to_owned(),
        name,
        text,
        params,
    })
}

/// `$1 = '1', $2 = NULL, $3 = 'it''s'` → `[Some("1"), None, Some("it's")]`.
fn parse_parameters(detail: &str) -> Vec<Option<String>> {
    let mut params = Vec::new();
    let mut rest = detail;
    while let Some(start) = rest.find(" = ") {
        rest = &rest[start + 3..];
        if let Some(after) = rest.strip_prefix("NULL") {
            params.push(None);
            rest = after;
            continue;
        }
        let Some(quoted) = rest.strip_prefix('\'') else {
            break;
        };
        let mut value = String::new();
        let mut chars = quoted.char_indices().peekable();
        let mut end = quoted.len();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    value.push('\'');
                    chars.next();
                } else {
                    end = i + 1;
                    break;
                }
            } else {
                value.push(c);
            }
        }
        params.push(Some(value));
        rest = &quoted[end..];
    }
    params
}

/// The statement lines strictly between the markers `from` and `to`, without the marker
/// session's own.
fn between(log: &[Line], from: &str, to: &str, marker_session: &str) -> Vec<Line> {
    let at = |label: &str| {
        log.iter()
            .position(|l| l.text.contains(&format!("'j0-bench:{label}'")))
            .unwrap_or_else(|| panic!("marker {label} in the log"))
    };
    log[at(from) + 1..at(to)]
        .iter()
        .filter(|l| l.session != marker_session)
        .cloned()
        .collect()
}

/// The request's transactions and autocommit statements among `lines` (see the module docs).
fn request_groups(
    lines: &[Line],
    background: &HashSet<String>,
    seen: &Seen,
    types: &HashMap<u32, String>,
    window: (Instant, Instant),
) -> Vec<Group> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: HashMap<(String, String), Vec<Line>> = HashMap::new();
    for line in lines {
        let key = (line.session.clone(), line.vxid.clone());
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(line.clone());
    }
    // A transaction holding any statement of the background tasks is theirs (the sequencer's
    // `pg_notify` is only heard when there are events, inside its own transaction).
    let is_request = |key: &(String, String)| {
        let statements = || {
            groups[key]
                .iter()
                .filter(|l| !is_transaction_control(&l.text))
        };
        statements().next().is_some() && statements().all(|l| !background.contains(&l.text))
    };
    let mut kept: Vec<&(String, String)> = Vec::new();
    for (i, key) in order.iter().enumerate() {
        let attached = groups[key].len() == 1
            && order[i + 1..]
                .iter()
                .find(|other| other.0 == key.0)
                .is_some_and(&is_request);
        if is_request(key) || attached {
            kept.push(key);
        }
    }
    kept.into_iter()
        .map(|key| {
            let lines = &groups[key];
            Group {
                transaction: lines.first().is_some_and(|l| l.text.trim() == "BEGIN"),
                statements: lines
                    .iter()
                    .map(|l| statement(l, seen, types, window))
                    .collect(),
            }
        })
        .collect()
}

/// A log line as a [`Statement`]: its types from the proxy's record, and whether the proxy saw
/// it parsed while its request ran (`window`).
fn statement(
    line: &Line,
    seen: &Seen,
    types: &HashMap<u32, String>,
    window: (Instant, Instant),
) -> Statement {
    let oids: Vec<u32> = seen.types.get(&line.text).cloned().unwrap_or_default();
    let prepared_in_call = line.name.as_deref().is_some_and(|name| {
        name != "<unnamed>"
            && seen
                .parses
                .iter()
                .any(|(n, at)| n == name && window.0 <= *at && *at <= window.1)
    }) || line.name.as_deref() == Some("<unnamed>");
    let types = (0..line.params.len())
        .map(|i| oids.get(i).and_then(|oid| types.get(oid)).cloned())
        .collect();
    Statement {
        sql: line.text.clone(),
        query_id: line.query_id,
        params: line.params.clone(),
        types,
        simple: line.name.is_none(),
        prepared_in_call,
        oids,
        columns: Vec::new(),
    }
}
