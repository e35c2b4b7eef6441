//! The WebSocket (contract §9): authentication before the upgrade, who receives what, capability
//! subscriptions, resume with `since`, delivery across instances, slow consumers, a lost
//! listener, and the going-away close.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use j0_domain::Cents;
use j0_testkit::{Ended, Session, TestApp, WsClient, spawn_app, spawn_app_with};

use crate::metrics::{Metrics, scrape_until, spawn_metered};

const QUIET: Duration = Duration::from_millis(700);

fn names(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["event"].as_str().unwrap_or_default())
        .collect()
}

async fn connect(app: &TestApp, user: &Session) -> WsClient {
    WsClient::connect(app, &user.token, None).await
}

fn job(capability: &str) -> Value {
    json!({"capability": capability, "credits": 5, "timeout_sec": 10, "prompt": "p"})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_upgrade_requires_a_valid_unrevoked_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let request = |token: Option<&str>| {
        let mut req = app.ws_url().into_client_request().unwrap();
        if let Some(token) = token {
            req.headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        }
        req
    };
    let refused = |r: Result<WsClient, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "UNAUTHORIZED");
        }
        other => panic!("expected 401 before the upgrade, got {other:?}"),
    };
    refused(WsClient::connect_request(request(None)).await);
    refused(WsClient::connect_request(request(Some("nonsense"))).await);
    WsClient::connect_request(request(Some(&user.token)))
        .await
        .unwrap();
    let mut cookie = app.ws_url().into_client_request().unwrap();
    cookie.headers_mut().insert(
        "Cookie",
        format!("j0_token={}", user.token).parse().unwrap(),
    );
    WsClient::connect_request(cookie).await.unwrap();
    WsClient::connect(&app, &user.token, None).await;

    user.post_empty(&app, "/auth/logout").await.ok();
    refused(WsClient::connect_request(request(Some(&user.token))).await);
    let query = format!("{}?token={}", app.ws_url(), user.token)
        .into_client_request()
        .unwrap();
    refused(WsClient::connect_request(query).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_event_reaches_exactly_its_audience() {
    let app = spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await;
    let requester = app.new_user().await;
    let worker = app.new_user().await;
    let stranger = app.new_user().await;
    let mut s = connect(&app, &stranger).await;
    let mut r = connect(&app, &requester).await;
    let mut w = connect(&app, &worker).await;

    app.core
        .grant_promo(requester.user_id, Cents(100))
        .await
        .unwrap();
    let prompt = "x".repeat(300);
    let body = json!({"capability": "opus", "credits": 10, "timeout_sec": 10, "prompt": prompt});
    let id = requester.post(&app, "/jobs", &body).await.ok()["job"]["job_id"]
        .as_i64()
        .unwrap();
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    worker
        .post(
            &app,
            &format!("/jobs/{id}/complete"),
            &json!({"result": "secret result"}),
        )
        .await
        .ok();
    let late = requester.post_job(&app, 5).await;
    worker
        .post_empty(&app, &format!("/jobs/{late}/accept"))
        .await
        .ok();
    app.clock.advance(time::Duration::seconds(31));
    assert_eq!(app.core.expire_due(10).await.unwrap(), 1);
    let to_r = r.take(10).await;
    assert_eq!(
        names(&to_r),
        [
            "balance.updated",
            "job.posted",
            "balance.updated",
            "job.accepted",
            "job.completed",
            "job.posted",
            "balance.updated",
            "job.accepted",
            "job.timeout",
            "balance.updated",
        ]
    );
    let ids: Vec<i64> = to_r.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
    assert!(
        to_r.iter()
            .all(|m| m["timestamp"].as_str().unwrap().ends_with('Z'))
    );
    assert_eq!(
        to_r[1]["data"]["prompt"],
        "x".repeat(200),
        "job.posted is the public view"
    );
    assert_eq!(to_r[1]["data"]["prompt_truncated"], true);
    assert_eq!(to_r[3]["data"]["prompt"], prompt);
    assert_eq!(to_r[4]["data"]["result"], "secret result");
    assert!(to_r[4]["data"].get("credits_earned").is_none());
    assert_eq!(
        to_r[9]["data"],
        requester.get(&app, "/credits/balance").await.ok()
    );
    r.assert_silent(QUIET).await;

    let to_w = w.take(5).await;
    assert_eq!(
        names(&to_w),
        [
            "job.posted",
            "job.completed",
            "balance.updated",
            "job.posted",
            "job.timeout"
        ]
    );
    assert_eq!(to_w[1]["data"]["credits_earned"], 9);
    assert_eq!(to_w[1]["data"]["result"], "secret result");
    assert_eq!(
        to_w[2]["data"],
        json!({"cash_cents": 9, "promo_cents": 0, "total_cents": 9})
    );
    assert_eq!(
        to_w[4]["data"]["prompt"], "Summarize this",
        "the worker sees the full prompt"
    );
    w.assert_silent(QUIET).await;

    let to_s = s.take(2).await;
    assert_eq!(names(&to_s), ["job.posted", "job.posted"]);
    assert!(to_s.iter().all(|m| m["data"]["result"].is_null()));
    assert_eq!(to_s[0]["data"]["prompt_truncated"], true);
    s.assert_silent(QUIET).await;
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_narrows_job_posted_by_capability() {
    let app = spawn_app().await;
    let poster = app.funded_user(1_000).await;
    let watcher = app.new_user().await;
    let mut ws = connect(&app, &watcher).await;
    ws.send(&json!({"action": "subscribe", "capabilities": ["sonnet", "dall-e-3"]}))
        .await;
    assert_eq!(
        ws.next().await,
        json!({"event": "subscribed", "data": {"capabilities": ["sonnet", "dall-e-3"]}})
    );
    poster.post(&app, "/jobs", &job("opus")).await.ok();
    let sonnet = poster.post(&app, "/jobs", &job("sonnet")).await.ok();
    let got = ws.next().await;
    assert_eq!(
        (got["event"].as_str(), &got["data"]["job_id"]),
        (Some("job.posted"), &sonnet["job"]["job_id"])
    );

    ws.send(&json!({"action": "subscribe", "capabilities": ["gpt5"]}))
        .await;
    let error = ws.next().await;
    assert_eq!(
        (error["event"].as_str(), error["data"]["code"].as_str()),
        (Some("error"), Some("VALIDATION_ERROR"))
    );
    ws.send(&json!({"action": "dance"})).await;
    assert_eq!(ws.next().await["event"], "error");
    poster.post(&app, "/jobs", &job("opus")).await.ok();
    let dalle = poster.post(&app, "/jobs", &job("dall-e-3")).await.ok();
    assert_eq!(
        ws.next().await["data"]["job_id"],
        dalle["job"]["job_id"],
        "the old filter still holds"
    );

    ws.send(&json!({"action": "subscribe", "capabilities": []}))
        .await;
    assert_eq!(ws.next().await["event"], "subscribed");
    let opus = poster.post(&app, "/jobs", &job("opus")).await.ok();
    assert_eq!(
        ws.next().await["data"]["job_id"],
        opus["job"]["job_id"],
        "an empty list means all"
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_with_since_replays_exactly_what_was_missed_then_goes_live() {
    let app = spawn_app().await;
    let poster = app.funded_user(1_000).await;
    let watcher = app.new_user().await;
    let mut ws = connect(&app, &watcher).await;
    let first = poster.post(&app, "/jobs", &job("opus")).await.ok();
    let seen = ws.next().await;
    assert_eq!(seen["data"]["job_id"], first["job"]["job_id"]);
    drop(ws);

    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(poster.post(&app, "/jobs", &job("opus")).await.ok()["job"]["job_id"].clone());
    }
    let mut ws = WsClient::connect(&app, &watcher.token, seen["id"].as_i64()).await;
    let replayed = ws.take(3).await;
    assert_eq!(
        replayed
            .iter()
            .map(|m| m["data"]["job_id"].clone())
            .collect::<Vec<_>>(),
        missed
    );
    let live = poster.post(&app, "/jobs", &job("opus")).await.ok();
    assert_eq!(ws.next().await["data"]["job_id"], live["job"]["job_id"]);
    ws.assert_silent(QUIET).await;

    let mut all = WsClient::connect(&app, &watcher.token, Some(0)).await;
    assert_eq!(names(&all.take(5).await), ["job.posted"; 5]);
    all.assert_silent(QUIET).await;
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_older_than_the_retention_starts_with_events_truncated() {
    let app = spawn_app().await;
    let poster = app.funded_user(1_000).await;
    let watcher = app.new_user().await;
    let mut ws = connect(&app, &watcher).await;
    poster.post(&app, "/jobs", &job("opus")).await.ok();
    ws.next().await;
    app.clock.advance(time::Duration::hours(2));
    let live = poster.post(&app, "/jobs", &job("opus")).await.ok();
    let live_event = ws.next().await;
    assert_eq!(live_event["data"]["job_id"], live["job"]["job_id"]);
    assert_eq!(
        app.core
            .prune_events(time::Duration::hours(1))
            .await
            .unwrap(),
        3,
        "the grant and the first post"
    );

    let mut resumed = WsClient::connect(&app, &watcher.token, Some(0)).await;
    assert_eq!(resumed.next().await["event"], "events.truncated");
    assert_eq!(
        resumed.next().await["data"]["job_id"],
        live["job"]["job_id"]
    );
    resumed.assert_silent(QUIET).await;
    let mut current = WsClient::connect(&app, &watcher.token, live_event["id"].as_i64()).await;
    current.assert_silent(QUIET).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_cross_instances_and_a_raced_accept_is_announced_once() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.spawn_peer().await);
    let requester = a.funded_user(1_000).await;
    let (w1, w2) = (a.new_user().await, b.new_user().await);
    let watcher = b.new_user().await;
    let mut on_b = connect(&b, &watcher).await;
    let mut r_on_a = connect(&a, &requester).await;
    let mut r_on_b = connect(&b, &requester).await;

    for _round in 0..5 {
        let id = requester.post_job(&a, 5).await;
        assert_eq!(on_b.next().await["data"]["job_id"], id);
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let accept = |app: Arc<TestApp>, w: Session, barrier: Arc<tokio::sync::Barrier>| {
            tokio::spawn(async move {
                barrier.wait().await;
                w.post_empty(&app, &format!("/jobs/{id}/accept")).await
            })
        };
        let (x, y) = (
            accept(a.clone(), w1.clone(), barrier.clone()),
            accept(b.clone(), w2.clone(), barrier),
        );
        let (x, y) = (x.await.unwrap(), y.await.unwrap());
        assert_eq!(
            [x.status.is_success(), y.status.is_success()]
                .iter()
                .filter(|ok| **ok)
                .count(),
            1
        );
        for socket in [&mut r_on_a, &mut r_on_b] {
            let seen = socket.take(3).await;
            assert_eq!(
                names(&seen),
                ["job.posted", "balance.updated", "job.accepted"]
            );
            assert_eq!(seen[2]["data"]["job_id"], id);
        }
    }
    r_on_a.assert_silent(QUIET).await;
    r_on_b.assert_silent(QUIET).await;
    a.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_closed_while_others_keep_receiving() {
    let app = spawn_app().await;
    let poster = app.funded_user(1_000).await;
    let (slow_user, fast_user) = (app.new_user().await, app.new_user().await);
    let mut slow = connect(&app, &slow_user).await;
    let mut fast = connect(&app, &fast_user).await;

    // 4,000 broadcast events of 50 KB each: 200 MB, far more than socket buffers hold (loopback
    // receive buffers grow to 32 MB here).
    app.insert_broadcast_events(4_000, 50_000).await;
    let mut received = 0;
    while received < 4_000 {
        fast.next().await;
        received += 1;
    }
    let live = poster.post(&app, "/jobs", &job("opus")).await.ok();
    assert_eq!(fast.next().await["data"]["job_id"], live["job"]["job_id"]);

    match slow.ended(Duration::from_secs(60)).await {
        Ended::Closed(code, reason) => {
            assert_eq!((code, reason.as_str()), (1008, "client too slow"))
        }
        Ended::Dropped => {}
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_listener_connection_loses_no_event() {
    let app = spawn_app().await;
    let poster = app.funded_user(1_000).await;
    let watcher = app.new_user().await;
    let mut ws = connect(&app, &watcher).await;
    poster.post(&app, "/jobs", &job("opus")).await.ok();
    ws.next().await;
    for _ in 0..3 {
        assert!(
            app.kill_event_listeners().await >= 1,
            "a listener was connected"
        );
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(poster.post(&app, "/jobs", &job("opus")).await.ok()["job"]["job_id"].clone());
        }
        let got: Vec<Value> = ws
            .take(3)
            .await
            .iter()
            .map(|m| m["data"]["job_id"].clone())
            .collect();
        assert_eq!(got, ids);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    ws.assert_silent(QUIET).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_closes_sockets_as_going_away() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ws = connect(&app, &user).await;
    app.stop().await;
    assert_eq!(
        ws.ended(Duration::from_secs(15)).await,
        Ended::Closed(1001, "server shutting down".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_pings_and_closes_a_silent_connection() {
    let app = spawn_app_with(|c| {
        c.ws_ping_sec = 1;
        c.ws_idle_sec = 3;
    })
    .await;
    let user = app.new_user().await;
    let mut silent = connect(&app, &user).await;
    let mut lively = connect(&app, &user).await;
    // Reading answers the server's pings (the client library pongs), so this one stays alive.
    lively.assert_silent(Duration::from_secs(5)).await;
    lively
        .send(&json!({"action": "subscribe", "capabilities": []}))
        .await;
    assert_eq!(lively.next().await["event"], "subscribed");
    // The silent one never read, so never ponged: the server closed it as idle. Reading now,
    // the client library answers the queued pings on a socket the server already closed, so it
    // may see a reset instead of the close frame.
    match silent.ended(Duration::from_secs(5)).await {
        Ended::Closed(code, reason) => assert_eq!((code, reason.as_str()), (1001, "idle timeout")),
        Ended::Dropped => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_on_one_instance_closes_the_tokens_sockets_on_every_instance() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let (user, other) = (a.new_user().await, a.new_user().await);
    // A second session of the same user (another token) stays open.
    let same_user_other_token = a.sign_in((*user.wallet).clone()).await;
    let mut on_b = connect(&b, &user).await;
    let mut on_a = connect(&a, &user).await;
    let mut kept = connect(&b, &same_user_other_token).await;
    let mut stranger = connect(&b, &other).await;
    // The sockets are registered before the sign-out: a subscription round trip proves it.
    for ws in [&mut on_b, &mut on_a, &mut kept, &mut stranger] {
        ws.send(&json!({"action": "subscribe", "capabilities": []}))
            .await;
        assert_eq!(ws.next().await["event"], "subscribed");
    }

    user.post_empty(&a, "/auth/logout").await.ok();
    let revoked = Ended::Closed(1008, "token revoked".into());
    assert_eq!(on_b.ended(Duration::from_secs(10)).await, revoked);
    assert_eq!(on_a.ended(Duration::from_secs(10)).await, revoked);
    kept.send(&json!({"action": "subscribe", "capabilities": ["opus"]}))
        .await;
    assert_eq!(kept.next().await["event"], "subscribed");
    stranger
        .send(&json!({"action": "subscribe", "capabilities": ["opus"]}))
        .await;
    assert_eq!(stranger.next().await["event"], "subscribed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_closes_when_its_token_expires() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // Two seconds before the token's exp by the server's clock.
    app.clock.advance(time::Duration::seconds(86_400 - 2));
    let mut ws = connect(&app, &user).await;
    ws.send(&json!({"action": "subscribe", "capabilities": []}))
        .await;
    assert_eq!(ws.next().await["event"], "subscribed");
    assert_eq!(
        ws.ended(Duration::from_secs(10)).await,
        Ended::Closed(1008, "token expired".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_since_beyond_the_last_event_or_beyond_64_bits_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let refused = |since: &'static str| {
        let url = format!("{}?token={}&since={since}", app.ws_url(), user.token);
        async move {
            match WsClient::connect_request(url.into_client_request().unwrap()).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 400, "since={since}");
                    let body: Value =
                        serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                    assert_eq!(body["code"], "VALIDATION_ERROR");
                    body["error"].as_str().unwrap().to_owned()
                }
                other => panic!("since={since}: expected 400, got {:?}", other.map(|_| ())),
            }
        }
    };
    assert_eq!(
        refused("9223372036854775808").await,
        "since must be at most 9223372036854775807"
    );
    assert!(
        refused("9223372036854775807")
            .await
            .starts_with("since must be at most 0")
    );
    assert_eq!(refused("-1").await, "since must be at least 0");
    assert_eq!(refused("x").await, "since must be an integer");
    // At the last id exactly is a resume with nothing missed.
    let mut ws = WsClient::connect(&app, &user.token, Some(0)).await;
    ws.assert_silent(QUIET).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_falling_behind_by_more_bytes_than_the_bound_is_closed() {
    let app = spawn_metered(|c| c.ws_max_backlog_bytes = 1024 * 1024).await;
    let dropped = |m: &Metrics| m.sum("j0_ws_slow_consumers_dropped_total", &[]);
    let before = dropped(&Metrics::scrape(&app).await);
    let user = app.new_user().await;
    let mut slow = connect(&app, &user).await;
    // 2,000 events of 50 KB: half the count bound, 100 MB. The client reads, slowly, so no send
    // waits long enough to time out: only the byte bound can close it.
    app.insert_broadcast_events(2_000, 50_000).await;
    let read = slow
        .read_slowly(Duration::from_secs(4), Duration::from_millis(20))
        .await;
    assert!(read > 0, "the client was reading");
    // Reading at full speed now, it reaches the close behind what the socket buffers held.
    match slow.ended(Duration::from_secs(30)).await {
        Ended::Closed(code, reason) => {
            assert_eq!((code, reason.as_str()), (1008, "client too slow"))
        }
        Ended::Dropped => {}
    }
    let after = scrape_until(&app, |m| dropped(m) > before).await;
    assert_eq!(
        dropped(&after),
        before + 1.0,
        "counted as a dropped slow consumer"
    );
}
