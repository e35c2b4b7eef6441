//! Prometheus metrics (docs/operations.md) on their own loopback listener: scraped around what a
//! server does, the counters move. The recorder is one per process and tests may share a
//! process, so every assertion is on a difference between two scrapes, or on presence.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::Duration as Span;

use j0_client::{Capability, PostJob};
use j0_testkit::{TestApp, WsClient, spawn_app_with};

/// The request counter.
const REQUESTS: &str = "j0_http_requests_total";
/// How the accept route is labelled: its pattern, never its path.
const ACCEPT: &str = "/api/v1/jobs/{id}/accept";

/// The metrics listener on a free loopback port.
pub fn loopback() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// A server with its metrics listener on, changed by `adjust`.
pub async fn spawn_metered(adjust: impl FnOnce(&mut j0_server::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.http.metrics_bind = loopback();
        adjust(c);
    })
    .await
}

/// One sample line of the exposition text.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One scrape, parsed.
#[derive(Debug)]
pub struct Metrics {
    text: String,
    samples: Vec<Sample>,
}

/// `key="value",…` up to the end of `text`, unescaping `\\`, `\"` and `\n` in the values.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("a label");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => match chars.next().expect("an escape").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("a sample and its value");
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (
            name,
            parse_labels(labels.strip_suffix('}').expect("labels end with }")),
        ),
        None => (series, BTreeMap::new()),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value: value.parse().unwrap_or_else(|_| panic!("a number: {line}")),
    }
}

impl Metrics {
    /// Scrapes `app`'s metrics listener.
    pub async fn scrape(app: &TestApp) -> Self {
        let text = app.scrape_metrics().await;
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(parse_sample)
            .collect();
        Self { text, samples }
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
    }

    /// The sum of the samples of `name` carrying `labels` (and any others); 0 when none does.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// Whether a sample of `name` carries `labels`.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    /// The exposition text, for failure messages.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every value the label `label` takes on `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.matching(name, &[])
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

/// Scrapes `app` until `done` holds for the scrape (bounded); the last scrape.
pub async fn scrape_until(app: &TestApp, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let mut metrics = Metrics::scrape(app).await;
    for _ in 0..100 {
        if done(&metrics) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = Metrics::scrape(app).await;
    }
    metrics
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lifecycle_moves_the_counters_of_its_routes_by_pattern() {
    let app = spawn_metered(|_| {}).await;
    let before = Metrics::scrape(&app).await;

    let requester = app.funded_user(100).await;
    let worker = app.new_user().await;
    let posted = requester
        .on(&app)
        .post_job(PostJob::new(Capability::Opus, 10, 30, "p"))
        .await
        .unwrap();
    worker.on(&app).accept_job(posted.job_id).await.unwrap();
    worker
        .on(&app)
        .complete_job(posted.job_id, "r")
        .await
        .unwrap();
    let public = app.get_page("/metrics").await;
    assert_eq!(
        public.status(),
        StatusCode::NOT_FOUND,
        "the public listener never serves the metrics"
    );

    let after = Metrics::scrape(&app).await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    let accepted = [("method", "POST"), ("route", ACCEPT), ("status", "200")];
    assert_eq!(
        moved(REQUESTS, &accepted),
        1.0,
        "one accept:\n{}",
        after.text
    );
    let completed = [
        ("method", "POST"),
        ("route", "/api/v1/jobs/{id}/complete"),
        ("status", "200"),
    ];
    assert_eq!(moved(REQUESTS, &completed), 1.0);
    assert!(
        moved(REQUESTS, &[("route", "unmatched"), ("status", "404")]) >= 1.0,
        "the public /metrics was counted as matching no route"
    );

    let timed = [("method", "POST"), ("route", ACCEPT)];
    assert!(moved("j0_http_request_duration_seconds_count", &timed) >= 1.0);
    assert!(
        after.has(
            "j0_http_request_duration_seconds_bucket",
            &[("route", ACCEPT), ("le", "+Inf")]
        ),
        "a histogram with buckets, not a summary:\n{}",
        after.text
    );
    assert!(after.sum("j0_http_request_duration_seconds_sum", &timed) > 0.0);

    for state in ["in_use", "idle"] {
        assert!(after.has("j0_db_pool_connections", &[("state", state)]));
    }
    assert!(after.has("j0_db_pool_waiting", &[]));
    assert!(after.has("j0_outbox_lag_events", &[]));
    assert!(after.sum("j0_sweeper_runs_total", &[]) >= 1.0);

    let job_path = format!("/jobs/{}", posted.job_id.get());
    assert!(
        !after.text.contains(&job_path),
        "no raw path is a label:\n{}",
        after.text
    );
    for route in after.label_values(REQUESTS, "route") {
        assert!(
            !route
                .replace("/api/v1", "")
                .contains(|c: char| c.is_ascii_digit()),
            "a route pattern, not a path: {route}"
        );
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_listener_serves_only_get_metrics() {
    let app = spawn_metered(|_| {}).await;
    let addr = app.metrics_addr.expect("a metrics listener");
    assert!(addr.ip().is_loopback());
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/api/v1/health"),
        (Method::POST, "/metrics"),
    ] {
        let r = app
            .http
            .request(method.clone(), format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    Metrics::scrape(&app).await;
    app.stop().await;
    let refused = reqwest::get(format!("http://{addr}/metrics")).await;
    assert!(refused.is_err(), "the listener stops with the server");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_by_a_rate_limit_are_counted_by_scope() {
    let app = spawn_metered(|c| {
        c.limits.ip_per_min = 2;
        c.limits.auth_per_min = 1;
    })
    .await;
    let before = Metrics::scrape(&app).await;
    let body = json!({ "public_key": "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23" });
    app.raw().post("/auth/challenge", &body).await.ok();
    let r = app.raw().post("/auth/challenge", &body).await;
    r.assert_error(429, "RATE_LIMITED");
    let r = app.raw().get("/health").await;
    r.assert_error(429, "RATE_LIMITED");

    let after = Metrics::scrape(&app).await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    assert_eq!(moved("j0_rate_limited_total", &[("scope", "auth")]), 1.0);
    assert_eq!(moved("j0_rate_limited_total", &[("scope", "ip")]), 1.0);
    assert_eq!(moved("j0_rate_limited_total", &[("scope", "user")]), 0.0);
    assert_eq!(
        moved(REQUESTS, &[("route", "/api/v1/health"), ("status", "429")]),
        1.0,
        "refused before routing, still labelled by the route its path names"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweeper_counts_its_runs_and_refunds() {
    let app = spawn_metered(|_| {}).await;
    let before = Metrics::scrape(&app).await;
    let refunds = |m: &Metrics| m.sum("j0_sweeper_refunds_total", &[]);
    let requester = app.funded_user(100).await;
    requester.post_opus(10).await;
    app.clock.advance(Span::seconds(421));
    let after = scrape_until(&app, |m| refunds(m) > refunds(&before)).await;
    assert_eq!(refunds(&after) - refunds(&before), 1.0, "one job timed out");
    assert!(after.sum("j0_sweeper_runs_total", &[]) > before.sum("j0_sweeper_runs_total", &[]));
    assert_eq!(requester.buckets().await, (0, 100));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_websockets_are_counted_until_they_close() {
    let app = spawn_metered(|_| {}).await;
    let open = |m: &Metrics| m.sum("j0_ws_connections", &[]);
    let before = open(&Metrics::scrape(&app).await);
    let user = app.new_user().await;
    let ws = WsClient::connect(&app, &user.token, None).await;
    let during = scrape_until(&app, |m| open(m) == before + 1.0).await;
    assert_eq!(open(&during), before + 1.0);
    drop(ws);
    let after = scrape_until(&app, |m| open(m) == before).await;
    assert_eq!(
        open(&after),
        before,
        "the closed connection is no longer counted"
    );
}
