//! Rate limits shared through Redis (contract §8): two instances on one database give a client
//! one budget, Redis keys expire by themselves, and an instance whose Redis stops keeps serving
//! under its own limiter, then shares again once Redis is back.

use std::time::{Duration, Instant};

use j0_testkit::{
    Config, Response, Session, TestApp,
    redis::{RedisServer, SHARED_REDIS_URL, keys_with_ttl, unique_prefix},
    spawn_app_with,
};

async fn challenge(app: &TestApp) -> Response {
    app.challenge("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
        .await
}

/// Two instances limiting through the Redis at `redis_url` under `prefix`, with `limits`.
async fn two_sharing(
    redis_url: String,
    prefix: &str,
    limits: impl FnOnce(&mut Config),
) -> (TestApp, TestApp) {
    let a = spawn_app_with(|c| {
        limits(c);
        c.limits.redis_url = Some(redis_url.into());
        c.limits.redis_prefix = prefix.to_owned();
    })
    .await;
    let b = a.spawn_peer().await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_exactly_one_budget() {
    let prefix = unique_prefix();
    let (a, b) = two_sharing(SHARED_REDIS_URL.to_owned(), &prefix, |c| {
        c.limits.auth_per_min = 4;
        c.limits.user_per_min = 6;
    })
    .await;

    // Signing in spends two of the four on A; one more on each instance spends the rest, and
    // the next is refused although neither instance alone has seen four.
    let user = a.new_user().await;
    challenge(&a).await.ok();
    challenge(&b).await.ok();
    challenge(&a).await.assert_limited();
    challenge(&b).await.assert_limited();

    // Three requests per instance spend the user's six; neither instance alone reached six.
    for app in [&a, &b, &a, &b, &a, &b] {
        user.on(app).balance().await.unwrap();
    }
    user.raw().get("/credits/balance").await.assert_limited();
    user.on(&b).raw().get("/users/me").await.assert_limited();

    let keys = keys_with_ttl(SHARED_REDIS_URL, &prefix).await;
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{prefix}auth:127.0.0.1"),
            format!("{prefix}user:{}", user.user_id)
        ],
        "the IP limit is off, so only the auth and user limits write keys"
    );
    for (key, ttl) in keys {
        assert!(
            (1..=60_000).contains(&ttl),
            "{key} must expire within its burst period, has {ttl} ms"
        );
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_keys_expire_after_their_burst_period() {
    let prefix = unique_prefix();
    let app = spawn_app_with(|c| {
        c.limits.ip_per_min = 60;
        c.limits.redis_url = Some(SHARED_REDIS_URL.into());
        c.limits.redis_prefix = prefix.clone();
    })
    .await;
    app.raw().get("/health").await.ok();
    let keys = keys_with_ttl(SHARED_REDIS_URL, &prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (key, ttl) = &keys[0];
    assert_eq!(key, &format!("{prefix}ip:127.0.0.1"));
    // At 60 a minute one request leaves one second of the burst period to run down.
    assert!((1..=1000).contains(ttl), "{key} has {ttl} ms left");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(keys_with_ttl(SHARED_REDIS_URL, &prefix).await.is_empty());
}

/// Calls `GET /credits/balance` as `user` on `app`, asserting no 5xx (raw: the status is the
/// point).
async fn balance(user: &Session, app: &TestApp) -> Response {
    let r = user.on(app).raw().get("/credits/balance").await;
    assert!(
        !r.status.is_server_error(),
        "Redis being down must never be a 5xx: {} {}",
        r.status,
        r.body
    );
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_keep_serving_when_redis_stops_and_share_again_when_it_is_back() {
    let mut redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let (a, b) = two_sharing(redis.url(), &prefix, |c| c.limits.user_per_min = 10).await;
    let user = a.new_user().await;
    for app in [&a, &b].repeat(5) {
        balance(&user, app).await.ok();
    }
    balance(&user, &a).await.assert_limited();

    redis.stop();
    // B's own limiter has counted five of its ten: five more pass, then it refuses by itself.
    for _ in 0..5 {
        balance(&user, &b).await.ok();
    }
    balance(&user, &b).await.assert_limited();

    redis.start_again().await;
    // Redis came back empty: each instance writes its users' keys again once it reconnected.
    let (on_a, on_b) = (a.new_user().await, a.new_user().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        balance(&on_a, &a).await;
        balance(&on_b, &b).await;
        let keys = keys_with_ttl(&redis.url(), &prefix).await;
        let written = |s: &Session| {
            let name = format!("{prefix}user:{}", s.user_id);
            keys.iter().any(|(k, _)| *k == name)
        };
        if written(&on_a) && written(&on_b) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the instances never wrote to Redis again: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let again = a.new_user().await;
    for app in [&a, &b].repeat(5) {
        balance(&again, app).await.ok();
    }
    balance(&again, &b).await.assert_limited();
    a.stop().await;
    b.stop().await;
}
