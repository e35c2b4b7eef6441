//! Buying credits by card (contract §7): the Checkout request Stripe receives, and a webhook
//! that credits each paid session exactly once however it is delivered, and nothing when it is
//! not genuine.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use j0_client::HistoryType;
use j0_testkit::{
    Response, Session, TestApp, assert_refused, spawn_app, spawn_app_with,
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
        c.payments.stripe_secret_key = Some(KEY.into());
        c.payments.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
        c.payments.stripe_api_base = base;
        c.payments.checkout_success_url = "https://agents.example/paid".into();
        c.payments.checkout_cancel_url = "https://agents.example/cancel".into();
    })
    .await
}

/// Delivers a webhook as Stripe would: raw, its body signed (or not) byte for byte.
async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> Response {
    let mut request = app
        .raw()
        .request(Method::POST, "/payments/stripe/webhook")
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    Response::of(request).await
}

/// A Checkout Session j0 created for `user` buying `usd` dollars: its id (the fake's URLs end
/// with it).
async fn session_for(app: &TestApp, user: &Session, usd: i64) -> String {
    let checkout = user.on(app).buy_credits(usd).await.unwrap();
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
    let checkout = user.buy_credits(10).await.unwrap();
    assert!(
        checkout
            .checkout_url
            .starts_with("https://checkout.stripe.com/")
    );

    let requests = fake.checkout_requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    let user_id = user.user_id.to_string();
    for (key, value) in [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1000"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", &user_id),
        ("metadata[user_id]", &user_id),
        ("metadata[credit_cents]", "950"),
        ("success_url", "https://agents.example/paid"),
        ("cancel_url", "https://agents.example/cancel"),
    ] {
        assert_eq!(form_value(form, key), Some(value), "{key}");
    }
    assert_eq!(
        fake.checkout_authorizations()[0].as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );

    for amount in [7, 0] {
        assert_refused!(user.buy_credits(amount).await => 400, "INVALID_AMOUNT", InvalidAmount);
    }
    // Raw: amounts the client's types cannot say, and nobody signed in.
    for amount in [json!(10.5), json!("10")] {
        user.raw()
            .post(
                "/payments/stripe/checkout",
                &json!({ "amount_usd": amount }),
            )
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    fake.fail_next(500);
    assert_refused!(user.buy_credits(5).await => 503, "PAYMENTS_UNAVAILABLE", PaymentsUnavailable);
    app.raw()
        .post("/payments/stripe/checkout", &json!({ "amount_usd": 5 }))
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        fake.checkout_requests().len(),
        2,
        "refused amounts never reach Stripe"
    );
    assert_eq!(user.buckets().await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_stripe_configuration_payments_are_unavailable() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_refused!(user.buy_credits(10).await => 503, "PAYMENTS_UNAVAILABLE", PaymentsUnavailable);
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
    assert_eq!(user.buckets().await, (950, 0));
    let purchases = async || user.transactions_of(HistoryType::Purchase).await;
    let rows = purchases().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].amount_cents.get(), rows[0].description.as_str()),
        (950, "Purchased via Stripe ($10.00)")
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
    assert_eq!(user.buckets().await, (950, 0));
    assert_eq!(purchases().await.len(), 1);

    let odd_session = session_for(&app, &user, 20).await;
    let odd = checkout_completed_event("evt_c", &odd_session, user.user_id.0, 1234, "paid");
    deliver(&app, &odd, signed(&odd)).await.ok();
    let newest = &purchases().await[0];
    assert_eq!(
        (newest.amount_cents.get(), newest.description.as_str()),
        (1172, "Purchased via Stripe ($12.34)")
    );
    let balance_event = app
        .outbox()
        .await
        .into_iter()
        .rev()
        .find(|(e, _, _)| e == "balance.updated")
        .unwrap();
    assert_eq!(balance_event.1, Some(user.user_id.0));
    let balance = user.raw().get("/credits/balance").await.ok();
    assert_eq!(balance_event.2, balance, "the balance, as the API shows it");
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
    assert_eq!(user.buckets().await, (0, 0));

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
    assert_eq!(user.buckets().await, (0, 0));
    assert!(user.transactions_of(HistoryType::Purchase).await.is_empty());
    app.assert_ledger_clean().await;
}
