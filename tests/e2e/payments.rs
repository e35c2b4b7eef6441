//! Buying credits by card (contract §7): the Checkout request Stripe receives, and a webhook
//! that credits each paid session exactly once however it is delivered, and nothing when it is
//! not genuine.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use j0_testkit::{
    Session, TestApp, spawn_app, spawn_app_with,
    stripe_fake::{
        FakeStripe, async_payment_succeeded_event, checkout_completed_event, event_json,
        form_value, sign_webhook,
    },
};

const KEY: &str = "sk_test_j0_key";
const WEBHOOK_SECRET: &str = "whsec_j0_test_secret";

async fn with_stripe(fake: &FakeStripe) -> TestApp {
    let base = fake.base_url();
    spawn_app_with(move |c| {
        c.stripe_secret_key = Some(KEY.into());
        c.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        c.stripe_api_base = base;
        c.checkout_success_url = "https://agents.example/paid".into();
        c.checkout_cancel_url = "https://agents.example/cancel".into();
    })
    .await
}

async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> j0_testkit::Response {
    let mut request = app
        .http
        .post(app.url("/payments/stripe/webhook"))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    TestApp::read(request.send().await.unwrap()).await
}

/// A Checkout Session j0 created for `user` buying `usd` dollars: its id (the fake's URLs end
/// with it).
async fn session_for(app: &TestApp, user: &Session, usd: i64) -> String {
    let checkout = user.client_on(app).buy_credits(usd).await.unwrap();
    checkout.checkout_url.rsplit('/').next().unwrap().to_owned()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn signed(body: &str) -> Option<String> {
    Some(sign_webhook(body, WEBHOOK_SECRET, now()))
}

#[tokio::test(flavor = "multi_thread")]
async fn checkout_sends_stripe_the_session_the_contract_describes() {
    let fake = FakeStripe::start().await;
    let app = with_stripe(&fake).await;
    let user = app.new_user().await;
    let r = user
        .post(
            &app,
            "/payments/stripe/checkout",
            &json!({ "amount_usd": 10 }),
        )
        .await
        .ok();
    assert!(
        r["checkout_url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.com/")
    );

    let requests = fake.checkout_requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    let field = |key: &str| form_value(form, key).map(str::to_owned);
    assert_eq!(field("mode").as_deref(), Some("payment"));
    assert_eq!(
        field("line_items[0][price_data][currency]").as_deref(),
        Some("usd")
    );
    assert_eq!(
        field("line_items[0][price_data][unit_amount]").as_deref(),
        Some("1000")
    );
    assert_eq!(field("line_items[0][quantity]").as_deref(), Some("1"));
    assert_eq!(field("client_reference_id"), Some(user.user_id.to_string()));
    assert_eq!(field("metadata[user_id]"), Some(user.user_id.to_string()));
    assert_eq!(field("metadata[credit_cents]").as_deref(), Some("950"));
    assert_eq!(
        field("success_url").as_deref(),
        Some("https://agents.example/paid")
    );
    assert_eq!(
        field("cancel_url").as_deref(),
        Some("https://agents.example/cancel")
    );
    assert_eq!(
        fake.checkout_authorizations()[0].as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );

    for (amount, code) in [
        (json!(7), "INVALID_AMOUNT"),
        (json!(0), "INVALID_AMOUNT"),
        (json!(10.5), "VALIDATION_ERROR"),
        (json!("10"), "VALIDATION_ERROR"),
    ] {
        user.post(
            &app,
            "/payments/stripe/checkout",
            &json!({ "amount_usd": amount }),
        )
        .await
        .assert_error(400, code);
    }
    fake.fail_next(500);
    user.post(
        &app,
        "/payments/stripe/checkout",
        &json!({ "amount_usd": 5 }),
    )
    .await
    .assert_error(503, "PAYMENTS_UNAVAILABLE");
    app.call(
        Method::POST,
        "/payments/stripe/checkout",
        None,
        Some(&json!({ "amount_usd": 5 })),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        fake.checkout_requests().len(),
        2,
        "refused amounts never reach Stripe"
    );
    assert_eq!(user.balance(&app).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_stripe_configuration_payments_are_unavailable() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    user.post(
        &app,
        "/payments/stripe/checkout",
        &json!({ "amount_usd": 10 }),
    )
    .await
    .assert_error(503, "PAYMENTS_UNAVAILABLE");
    let body = checkout_completed_event("evt_1", "cs_1", user.user_id.0, 1000, "paid");
    deliver(&app, &body, signed(&body))
        .await
        .assert_error(503, "PAYMENTS_UNAVAILABLE");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_session_is_credited_once_however_often_it_is_delivered() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(with_stripe(&fake).await);
    let user = app.new_user().await;
    let once = session_for(&app, &user, 10).await;
    let body = checkout_completed_event("evt_a", &once, user.user_id.0, 1000, "paid");
    let first = deliver(&app, &body, signed(&body)).await.ok();
    assert_eq!(first, json!({ "received": true }));
    assert_eq!(user.balance(&app).await, (950, 0));
    let rows = user.transactions_of(&app, "purchase").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0]["amount_cents"].as_i64(),
            rows[0]["description"].as_str()
        ),
        (Some(950), Some("Purchased via Stripe ($10.00)"))
    );

    for _ in 0..20 {
        deliver(&app, &body, signed(&body)).await.ok();
    }
    let at_once = (0..20).map(|_| {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move { deliver(&app, &body, signed(&body)).await })
    });
    for r in join_all(at_once).await {
        r.unwrap().ok();
    }
    let other_event = async_payment_succeeded_event("evt_b", &once, user.user_id.0, 1000);
    deliver(&app, &other_event, signed(&other_event)).await.ok();
    assert_eq!(user.balance(&app).await, (950, 0));
    assert_eq!(user.transactions_of(&app, "purchase").await.len(), 1);

    let odd_session = session_for(&app, &user, 20).await;
    let odd = checkout_completed_event("evt_c", &odd_session, user.user_id.0, 1234, "paid");
    deliver(&app, &odd, signed(&odd)).await.ok();
    let newest = &user.transactions_of(&app, "purchase").await[0];
    assert_eq!(
        (
            newest["amount_cents"].as_i64(),
            newest["description"].as_str()
        ),
        (Some(1172), Some("Purchased via Stripe ($12.34)"))
    );
    let balance_event = app
        .outbox()
        .await
        .into_iter()
        .rev()
        .find(|(e, _, _)| e == "balance.updated")
        .unwrap();
    assert_eq!(balance_event.1, Some(user.user_id.0));
    assert_eq!(
        balance_event.2,
        user.get(&app, "/credits/balance").await.ok()
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_stale_or_unsigned_webhooks_change_nothing() {
    let fake = FakeStripe::start().await;
    let app = with_stripe(&fake).await;
    let user = app.new_user().await;
    let session = session_for(&app, &user, 100).await;
    let body = checkout_completed_event("evt_x", &session, user.user_id.0, 10_000, "paid");
    let tampered = body.replace("10000", "99999");
    let cases = [
        (
            "wrong secret",
            body.clone(),
            Some(sign_webhook(&body, "whsec_someone_else", now())),
        ),
        ("tampered body", tampered.clone(), signed(&body)),
        ("missing header", body.clone(), None),
        (
            "six minutes old",
            body.clone(),
            Some(sign_webhook(&body, WEBHOOK_SECRET, now() - 360)),
        ),
        (
            "six minutes ahead",
            body.clone(),
            Some(sign_webhook(&body, WEBHOOK_SECRET, now() + 360)),
        ),
        (
            "garbage header",
            body.clone(),
            Some("t=abc,v1=00".to_owned()),
        ),
    ];
    for (what, payload, signature) in cases {
        let r = deliver(&app, &payload, signature).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "INVALID_WEBHOOK_SIGNATURE"),
            "{what}: {}",
            r.body
        );
    }
    assert_eq!(user.balance(&app).await, (0, 0));

    let ignored = [
        event_json(
            "evt_i1",
            "customer.created",
            json!({ "id": "cus_1", "object": "customer" }),
        ),
        checkout_completed_event("evt_i2", &session, user.user_id.0, 1000, "unpaid"),
        checkout_completed_event("evt_i3", "cs_test_nobody", 999_999, 1000, "paid"),
        // Signed by the account, but not a session j0 created (a Payment Link, another
        // integration): its `client_reference_id` is whatever its creator chose.
        checkout_completed_event("evt_i4", "cs_live_elsewhere", user.user_id.0, 1000, "paid"),
        // A session j0 created for this user, claimed for another.
        checkout_completed_event("evt_i5", &session, user.user_id.0 + 1, 1000, "paid"),
    ];
    for body in ignored {
        assert_eq!(
            deliver(&app, &body, signed(&body)).await.ok(),
            json!({ "received": true })
        );
    }
    let not_an_event = r#"{"hello": "world"}"#;
    deliver(&app, not_an_event, signed(not_an_event))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(user.balance(&app).await, (0, 0));
    assert!(user.transactions_of(&app, "purchase").await.is_empty());
    app.assert_ledger_clean().await;
}
