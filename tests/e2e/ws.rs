//! The WebSocket (contract §9): authentication before the upgrade, who receives what, capability
//! subscriptions, resume with `since`, delivery across instances, slow consumers, a lost
//! listener, and the going-away close. The sockets are read raw, as JSON.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, handshake::client::Request};

use j0_client::{Capability, PostJob};
use j0_domain::Cents;
use j0_testkit::{
    Ended, Session, TestApp, WsClient, both_at_once, no_sweeper, spawn_app, spawn_app_with,
};

use crate::metrics::{Metrics, scrape_until, spawn_metered};

const QUIET: Duration = Duration::from_millis(700);

fn names(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["event"].as_str().unwrap_or_default())
        .collect()
}

/// Posts a job of 5 credits for `capability` and returns its id.
async fn post(poster: &Session, capability: Capability) -> i64 {
    let job = PostJob::new(capability, 5, 10, "p");
    poster.post_job(job).await.unwrap().job_id.get()
}

/// The ids of the jobs `messages` are about.
fn job_ids(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["data"]["job_id"].as_i64().unwrap())
        .collect()
}

/// A poster holding 1,000 cents, a watcher, and the watcher's socket.
async fn poster_and_watcher(app: &TestApp) -> (Session, Session, WsClient) {
    let [poster, watcher] = app.users([1_000, 0]).await;
    let ws = WsClient::as_user(app, &watcher).await;
    (poster, watcher, ws)
}

/// [`poster_and_watcher`], the socket live: it has seen the poster's first job, whose event
/// comes last.
async fn watching(app: &TestApp) -> (Session, Session, WsClient, Value) {
    let (poster, watcher, mut ws) = poster_and_watcher(app).await;
    let first = post(&poster, Capability::Opus).await;
    let seen = ws.next().await;
    assert_eq!(seen["data"]["job_id"], first);
    (poster, watcher, ws, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_upgrade_requires_a_valid_unrevoked_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let request = |header: Option<(&'static str, String)>| {
        let mut req = app.ws_url().into_client_request().unwrap();
        if let Some((name, value)) = header {
            req.headers_mut().insert(name, value.parse().unwrap());
        }
        req
    };
    let bearer = |token: &str| Some(("Authorization", format!("Bearer {token}")));
    let refused = async |req: Request| {
        let (status, body) = WsClient::refusal(req).await;
        assert_eq!((status, &body["code"]), (401, &json!("UNAUTHORIZED")));
    };
    refused(request(None)).await;
    refused(request(bearer("nonsense"))).await;
    WsClient::connect_request(request(bearer(&user.token)))
        .await
        .unwrap();
    let cookie = Some(("Cookie", format!("j0_token={}", user.token)));
    WsClient::connect_request(request(cookie)).await.unwrap();
    WsClient::as_user(&app, &user).await;

    user.logout().await.unwrap();
    refused(request(bearer(&user.token))).await;
    let query = format!("{}?token={}", app.ws_url(), user.token)
        .into_client_request()
        .unwrap();
    refused(query).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_event_reaches_exactly_its_audience() {
    let app = spawn_app_with(no_sweeper).await;
    let [requester, worker, stranger] = app.users([0, 0, 0]).await;
    let mut s = WsClient::as_user(&app, &stranger).await;
    let mut r = WsClient::as_user(&app, &requester).await;
    let mut w = WsClient::as_user(&app, &worker).await;

    app.core
        .grant_promo(requester.user_id, Cents::new(100))
        .await
        .unwrap();
    let prompt = "x".repeat(300);
    let job = PostJob::new(Capability::Opus, 10, 10, prompt.clone());
    let id = requester.post_job(job).await.unwrap().job_id;
    worker.accept_job(id).await.unwrap();
    worker.complete_job(id, "secret result").await.unwrap();
    requester.job_accepted_by(&worker, 5).await;
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
    let balance = requester.raw().get("/credits/balance").await.ok();
    assert_eq!(to_r[9]["data"], balance, "the balance, as the API shows it");
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
    let (poster, _, mut ws) = poster_and_watcher(&app).await;
    assert_eq!(
        ws.subscribe(&["sonnet", "dall-e-3"]).await,
        json!({"event": "subscribed", "data": {"capabilities": ["sonnet", "dall-e-3"]}})
    );
    post(&poster, Capability::Opus).await;
    let sonnet = post(&poster, Capability::Sonnet).await;
    let got = ws.next().await;
    assert_eq!(
        (got["event"].as_str(), got["data"]["job_id"].as_i64()),
        (Some("job.posted"), Some(sonnet))
    );

    let error = ws.subscribe(&["gpt5"]).await;
    assert_eq!(
        (error["event"].as_str(), error["data"]["code"].as_str()),
        (Some("error"), Some("VALIDATION_ERROR"))
    );
    ws.send(&json!({"action": "dance"})).await;
    assert_eq!(ws.next().await["event"], "error");
    post(&poster, Capability::Opus).await;
    let dalle = post(&poster, Capability::DallE3).await;
    assert_eq!(
        ws.next().await["data"]["job_id"],
        dalle,
        "the old filter still holds"
    );

    assert_eq!(ws.subscribe(&[]).await["event"], "subscribed");
    let opus = post(&poster, Capability::Opus).await;
    assert_eq!(
        ws.next().await["data"]["job_id"],
        opus,
        "an empty list means all"
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_with_since_replays_exactly_what_was_missed_then_goes_live() {
    let app = spawn_app().await;
    let (poster, watcher, ws, seen) = watching(&app).await;
    drop(ws);

    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(post(&poster, Capability::Opus).await);
    }
    let mut ws = WsClient::connect(&app, &watcher.token, seen["id"].as_i64()).await;
    assert_eq!(job_ids(&ws.take(3).await), missed);
    let live = post(&poster, Capability::Opus).await;
    assert_eq!(ws.next().await["data"]["job_id"], live);
    ws.assert_silent(QUIET).await;

    let mut all = WsClient::connect(&app, &watcher.token, Some(0)).await;
    assert_eq!(names(&all.take(5).await), ["job.posted"; 5]);
    all.assert_silent(QUIET).await;
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_older_than_the_retention_starts_with_events_truncated() {
    let app = spawn_app().await;
    let (poster, watcher, mut ws, _) = watching(&app).await;
    app.clock.advance(time::Duration::hours(2));
    let live = post(&poster, Capability::Opus).await;
    let live_event = ws.next().await;
    assert_eq!(live_event["data"]["job_id"], live);
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
    assert_eq!(resumed.next().await["data"]["job_id"], live);
    resumed.assert_silent(QUIET).await;
    let mut current = WsClient::connect(&app, &watcher.token, live_event["id"].as_i64()).await;
    current.assert_silent(QUIET).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_cross_instances_and_a_raced_accept_is_announced_once() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let requester = a.funded_user(1_000).await;
    let (w1, w2) = (a.new_user().await, b.new_user().await);
    let watcher = b.new_user().await;
    let mut on_b = WsClient::as_user(&b, &watcher).await;
    let mut r_on_a = WsClient::as_user(&a, &requester).await;
    let mut r_on_b = WsClient::as_user(&b, &requester).await;

    for _round in 0..5 {
        let id = requester.post_opus(5).await;
        assert_eq!(on_b.next().await["data"]["job_id"], id.get());
        let accept = |w: Session| async move { w.accept_job(id).await };
        let (x, y) = both_at_once(accept(w1.clone()), accept(w2.clone())).await;
        assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1);
        for socket in [&mut r_on_a, &mut r_on_b] {
            let seen = socket.take(3).await;
            assert_eq!(
                names(&seen),
                ["job.posted", "balance.updated", "job.accepted"]
            );
            assert_eq!(seen[2]["data"]["job_id"], id.get());
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
    let mut slow = WsClient::as_user(&app, &slow_user).await;
    let mut fast = WsClient::as_user(&app, &fast_user).await;

    // 4,000 broadcast events of 50 KB each: 200 MB, far more than socket buffers hold (loopback
    // receive buffers grow to 32 MB here).
    app.insert_broadcast_events(4_000, 50_000).await;
    for _ in 0..4_000 {
        fast.next().await;
    }
    let live = post(&poster, Capability::Opus).await;
    assert_eq!(fast.next().await["data"]["job_id"], live);

    slow.assert_closed_unless_dropped(Duration::from_secs(60), 1008, "client too slow")
        .await;
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_listener_connection_loses_no_event() {
    let app = spawn_app().await;
    let (poster, _, mut ws, _) = watching(&app).await;
    for _ in 0..3 {
        assert!(
            app.kill_event_listeners().await >= 1,
            "a listener was connected"
        );
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(post(&poster, Capability::Opus).await);
        }
        assert_eq!(job_ids(&ws.take(3).await), ids);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    ws.assert_silent(QUIET).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_closes_sockets_as_going_away() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut ws = WsClient::as_user(&app, &user).await;
    app.stop().await;
    assert_eq!(
        ws.ended(Duration::from_secs(15)).await,
        Ended::Closed(1001, "server shutting down".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_pings_and_closes_a_silent_connection() {
    let app = spawn_app_with(|c| {
        c.realtime.ping_sec = 1;
        c.realtime.idle_sec = 3;
    })
    .await;
    let user = app.new_user().await;
    let mut silent = WsClient::as_user(&app, &user).await;
    let mut lively = WsClient::as_user(&app, &user).await;
    // Reading answers the server's pings (the client library pongs), so this one stays alive.
    lively.assert_silent(Duration::from_secs(5)).await;
    assert_eq!(lively.subscribe(&[]).await["event"], "subscribed");
    // The silent one never read, so never ponged: the server closed it as idle. Reading now,
    // the client library answers the queued pings on a socket the server already closed, so it
    // may see a reset instead of the close frame.
    silent
        .assert_closed_unless_dropped(Duration::from_secs(5), 1001, "idle timeout")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_on_one_instance_closes_the_tokens_sockets_on_every_instance() {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    let (user, other) = (a.new_user().await, a.new_user().await);
    // A second session of the same user (another token) stays open.
    let same_user_other_token = a.sign_in((*user.wallet).clone()).await;
    let mut on_b = WsClient::as_user(&b, &user).await;
    let mut on_a = WsClient::as_user(&a, &user).await;
    let mut kept = WsClient::as_user(&b, &same_user_other_token).await;
    let mut stranger = WsClient::as_user(&b, &other).await;
    // The sockets are registered before the sign-out: a subscription round trip proves it.
    for ws in [&mut on_b, &mut on_a, &mut kept, &mut stranger] {
        assert_eq!(ws.subscribe(&[]).await["event"], "subscribed");
    }

    user.logout().await.unwrap();
    let revoked = Ended::Closed(1008, "token revoked".into());
    assert_eq!(on_b.ended(Duration::from_secs(10)).await, revoked);
    assert_eq!(on_a.ended(Duration::from_secs(10)).await, revoked);
    for ws in [&mut kept, &mut stranger] {
        assert_eq!(ws.subscribe(&["opus"]).await["event"], "subscribed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_closes_when_its_token_expires() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // Two seconds before the token's exp by the server's clock.
    app.clock.advance(time::Duration::seconds(86_400 - 2));
    let mut ws = WsClient::as_user(&app, &user).await;
    assert_eq!(ws.subscribe(&[]).await["event"], "subscribed");
    assert_eq!(
        ws.ended(Duration::from_secs(10)).await,
        Ended::Closed(1008, "token expired".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_since_beyond_the_last_event_or_beyond_64_bits_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let refused = async |since: &str| {
        let url = format!("{}?token={}&since={since}", app.ws_url(), user.token);
        let (status, body) = WsClient::refusal(url.into_client_request().unwrap()).await;
        assert_eq!(
            (status, &body["code"]),
            (400, &json!("VALIDATION_ERROR")),
            "since={since}"
        );
        body["error"].as_str().unwrap().to_owned()
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
    let app = spawn_metered(|c| c.realtime.max_backlog_bytes = 1024 * 1024).await;
    let dropped = |m: &Metrics| m.sum("j0_ws_slow_consumers_dropped_total", &[]);
    let before = dropped(&Metrics::scrape(&app).await);
    let user = app.new_user().await;
    let mut slow = WsClient::as_user(&app, &user).await;
    // 2,000 events of 50 KB: half the count bound, 100 MB. The client reads, slowly, so no send
    // waits long enough to time out: only the byte bound can close it.
    app.insert_broadcast_events(2_000, 50_000).await;
    let read = slow
        .read_slowly(Duration::from_secs(4), Duration::from_millis(20))
        .await;
    assert!(read > 0, "the client was reading");
    // Reading at full speed now, it reaches the close behind what the socket buffers held.
    slow.assert_closed_unless_dropped(Duration::from_secs(30), 1008, "client too slow")
        .await;
    let after = scrape_until(&app, |m| dropped(m) > before).await;
    assert_eq!(
        dropped(&after),
        before + 1.0,
        "counted as a dropped slow consumer"
    );
}
