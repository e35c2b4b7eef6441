//! The Stripe adapter against a local fake of Stripe's API: the real form-encoded Checkout
//! request, failures as `CheckoutError`, and webhooks signed the way the fake signs them.

use j0_adapters_stripe::StripeGateway;
use j0_domain::{Cents, UserId};
use j0_fakes::stripe::{
    FakeStripe, async_payment_succeeded_event, checkout_completed_event, form_value, sign_webhook,
};
use j0_ports::payments::{CheckoutRequest, PaymentEvent, PaymentProvider, WebhookError};
use time::OffsetDateTime;

const SECRET_KEY: &str = "sk_test_fake_key_123";
const WEBHOOK_SECRET: &str = "whsec_fake_secret_456";

fn request(user: i64, amount_usd: u32) -> CheckoutRequest {
    CheckoutRequest {
        user: UserId(user),
        amount_usd,
        credit_cents: Cents::new(i64::from(amount_usd) * 95),
        success_url: "https://j0.com/credits?paid=1".to_owned(),
        cancel_url: "https://j0.com/credits".to_owned(),
    }
}

#[tokio::test]
async fn checkout_sends_the_session_stripe_needs_and_returns_its_id_and_url() {
    let fake = FakeStripe::start().await;
    let gateway = StripeGateway::new(SECRET_KEY, WEBHOOK_SECRET, &fake.base_url());

    let session = gateway
        .create_checkout(&request(42, 10))
        .await
        .expect("checkout");
    assert_eq!(session.id, "cs_test_1");
    assert_eq!(session.url, "https://checkout.stripe.com/c/pay/cs_test_1");

    let requests = fake.checkout_requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    let expected = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "1000"),
        (
            "line_items[0][price_data][product_data][name]",
            "j0 credits ($10.00)",
        ),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", "42"),
        ("metadata[user_id]", "42"),
        ("metadata[credit_cents]", "950"),
        ("success_url", "https://j0.com/credits?paid=1"),
        ("cancel_url", "https://j0.com/credits"),
    ];
    for (key, value) in expected {
        assert_eq!(form_value(form, key), Some(value), "{key} in {form:?}");
    }
    // One line item, nothing priced twice.
    assert!(
        !form.iter().any(|(k, _)| k.starts_with("line_items[1]")),
        "a second line item in {form:?}"
    );
    assert_eq!(
        fake.checkout_authorizations(),
        vec![Some(format!("Bearer {SECRET_KEY}"))]
    );
}

#[tokio::test]
async fn each_checkout_is_a_new_session() {
    let fake = FakeStripe::start().await;
    // A trailing slash on the base is as good as none.
    let gateway = StripeGateway::new(SECRET_KEY, WEBHOOK_SECRET, &format!("{}/", fake.base_url()));
    let first = gateway
        .create_checkout(&request(7, 5))
        .await
        .expect("first");
    let second = gateway
        .create_checkout(&request(8, 100))
        .await
        .expect("second");
    assert_ne!(first, second);
    let requests = fake.checkout_requests();
    assert_eq!(
        form_value(&requests[1], "line_items[0][price_data][unit_amount]"),
        Some("10000")
    );
    assert_eq!(
        form_value(&requests[1], "metadata[credit_cents]"),
        Some("9500")
    );
}

#[tokio::test]
async fn a_failing_stripe_is_a_checkout_error_and_the_next_call_works_again() {
    let fake = FakeStripe::start().await;
    let gateway = StripeGateway::new(SECRET_KEY, WEBHOOK_SECRET, &fake.base_url());

    for status in [503, 500, 401, 400] {
        fake.fail_next(status);
        let err = gateway
            .create_checkout(&request(42, 20))
            .await
            .expect_err("must fail");
        // The fake's error body is one async-stripe reads as a Stripe error, not as garbage.
        let cause = std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            cause.contains(&format!("status code: {status}")),
            "{status}: {cause}"
        );
    }
    assert!(gateway.create_checkout(&request(42, 20)).await.is_ok());
    assert_eq!(fake.checkout_requests().len(), 5);
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_checkout_error() {
    let closed = {
        let fake = FakeStripe::start().await;
        fake.base_url()
    };
    // Give the stopped server a moment to close its socket.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let gateway = StripeGateway::new(SECRET_KEY, WEBHOOK_SECRET, &closed);
    assert!(gateway.create_checkout(&request(42, 10)).await.is_err());

    let nowhere = StripeGateway::new(SECRET_KEY, WEBHOOK_SECRET, "not a url at all");
    assert!(nowhere.create_checkout(&request(42, 10)).await.is_err());
}

#[test]
fn events_signed_like_the_fake_signs_them_verify() {
    let now = OffsetDateTime::now_utc();
    let gateway = StripeGateway::new(SECRET_KEY, WEBHOOK_SECRET, "http://127.0.0.1:9");

    let paid = checkout_completed_event("evt_1", "cs_test_9", 42, 1000, "paid");
    let header = sign_webhook(&paid, WEBHOOK_SECRET, now.unix_timestamp());
    assert_eq!(
        gateway.verify_webhook(paid.as_bytes(), Some(&header), now),
        Ok(PaymentEvent::SessionPaid {
            event_id: "evt_1".to_owned(),
            session: "cs_test_9".to_owned(),
            user: UserId(42),
            amount: Cents::new(1000),
        })
    );

    let unpaid = checkout_completed_event("evt_2", "cs_test_9", 42, 1000, "unpaid");
    let header = sign_webhook(&unpaid, WEBHOOK_SECRET, now.unix_timestamp());
    assert!(matches!(
        gateway.verify_webhook(unpaid.as_bytes(), Some(&header), now),
        Ok(PaymentEvent::Ignored { .. })
    ));

    let late = async_payment_succeeded_event("evt_3", "cs_test_9", 42, 2000);
    let header = sign_webhook(&late, WEBHOOK_SECRET, now.unix_timestamp());
    assert!(matches!(
        gateway.verify_webhook(late.as_bytes(), Some(&header), now),
        Ok(PaymentEvent::SessionPaid { amount, .. }) if amount == Cents::new(2000)
    ));

    let stale = sign_webhook(&paid, WEBHOOK_SECRET, now.unix_timestamp() - 301);
    assert_eq!(
        gateway.verify_webhook(paid.as_bytes(), Some(&stale), now),
        Err(WebhookError::InvalidSignature)
    );
}
