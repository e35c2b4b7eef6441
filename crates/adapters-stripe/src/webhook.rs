//! Stripe webhooks: the `Stripe-Signature` check, then reading the few fields j0 acts on.
//!
//! The signature is checked before a byte of the body is parsed: a forged body must not reach
//! serde, let alone the ledger. Stripe signs `"{t}.{raw body}"` with HMAC-SHA256 under the
//! endpoint secret and sends `t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`; several `v1` appear while
//! a secret is being rolled, and any one of them may match. The timestamp must be within 300 s
//! of `now` in either direction: an old one is a replay, and one from the future would let a
//! captured request be replayed for longer than the window.
//!
//! After that, the body is read into small structs of our own rather than the SDK's `Event`, so
//! any API version's rendering of a Checkout Session works as long as it has the fields used.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use j0_domain::{Cents, UserId};
use j0_ports::payments::{PaymentEvent, WebhookError};

/// How far the signature's timestamp may be from now, either way.
const TOLERANCE_SEC: u64 = 300;

/// The parts of a `Stripe-Signature` header that matter.
struct SignatureHeader<'a> {
    /// `t` exactly as sent: it is what was signed.
    timestamp_text: &'a str,
    timestamp: i64,
    /// Every `v1` candidate, still hex.
    v1: Vec<&'a str>,
}

impl<'a> SignatureHeader<'a> {
    /// `None` for anything malformed: a part without `=`, a repeated or non-numeric `t`, no `t`,
    /// no `v1`. Unknown schemes (`v0`) are skipped, as Stripe documents.
    fn parse(header: &'a str) -> Option<Self> {
        let mut t = None;
        let mut v1 = Vec::new();
        for part in header.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "t" => {
                    if t.is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit())
                    {
                        return None;
                    }
                    t = Some((value, value.parse::<i64>().ok()?));
                }
                "v1" => v1.push(value),
                _ => {}
            }
        }
        let (timestamp_text, timestamp) = t?;
        if v1.is_empty() {
            return None;
        }
        Some(Self {
            timestamp_text,
            timestamp,
            v1,
        })
    }
}

/// Checks `header` over the raw `payload` with `secret` at `now_unix`. Nothing of the payload
/// is interpreted here.
pub(crate) fn verify_signature(
    payload: &[u8],
    header: Option<&str>,
    secret: &[u8],
    now_unix: i64,
) -> Result<(), WebhookError> {
    // An empty secret would make the signature something anyone can compute.
    if secret.is_empty() {
        return Err(WebhookError::InvalidSignature);
    }
    let header = header
        .and_then(SignatureHeader::parse)
        .ok_or(WebhookError::InvalidSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| WebhookError::InvalidSignature)?;
    mac.update(header.timestamp_text.as_bytes());
    mac.update(b".");
    mac.update(payload);
    // `verify_slice` compares in constant time; which candidate matched is no secret.
    let matched = header.v1.iter().any(|candidate| {
        hex::decode(candidate).is_ok_and(|tag| mac.clone().verify_slice(&tag).is_ok())
    });
    if !matched || now_unix.abs_diff(header.timestamp) > TOLERANCE_SEC {
        return Err(WebhookError::InvalidSignature);
    }
    Ok(())
}

/// The envelope every Stripe event has, whatever its API version.
#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Map<String, Value>,
}

/// What a paid Checkout Session must carry for j0 to credit it.
#[derive(Deserialize)]
struct PaidSession {
    id: String,
    client_reference_id: Option<String>,
    amount_total: i64,
    currency: String,
}

/// Reads a verified body. Only called after [`verify_signature`] succeeded.
pub(crate) fn parse_event(payload: &[u8]) -> Result<PaymentEvent, WebhookError> {
    let envelope: Envelope = serde_json::from_slice(payload)
        .map_err(|err| WebhookError::NotAnEvent(format!("event envelope: {err}")))?;
    let Envelope {
        id: event_id,
        event_type,
        data,
    } = envelope;
    let paid = match event_type.as_str() {
        "checkout.session.completed" => {
            // Delayed payment methods complete the session unpaid; the money is announced by
            // `async_payment_succeeded` later.
            data.object.get("payment_status").and_then(Value::as_str) == Some("paid")
        }
        "checkout.session.async_payment_succeeded" => true,
        _ => false,
    };
    if !paid {
        return Ok(PaymentEvent::Ignored {
            event_id,
            event_type,
        });
    }
    let session: PaidSession = serde_json::from_value(Value::Object(data.object))
        .map_err(|err| WebhookError::NotAnEvent(format!("data.object: {err}")))?;
    if session.amount_total < 0 {
        return Err(WebhookError::NotAnEvent(
            "data.object.amount_total is negative".to_owned(),
        ));
    }
    // j0 creates sessions in USD with the user's id as `client_reference_id`; anything else
    // on the same Stripe account is not a j0 purchase.
    let user = session
        .client_reference_id
        .as_deref()
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .map(UserId);
    let not_ours = |why| PaymentEvent::NotOurs {
        event_id: event_id.clone(),
        session: session.id.clone(),
        why,
    };
    let Some(user) = user else {
        return Ok(not_ours("it names no j0 user"));
    };
    if !session.currency.eq_ignore_ascii_case("usd") {
        return Ok(not_ours("it was not paid in US dollars"));
    }
    Ok(PaymentEvent::SessionPaid {
        event_id,
        session: session.id,
        user,
        amount: Cents::new(session.amount_total),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;

    fn sign(payload: &str, secret: &str, t: i64) -> String {
        format!("t={t},v1={}", tag(payload, secret, t))
    }

    fn tag(payload: &str, secret: &str, t: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(payload: &str, header: Option<&str>) -> Result<(), WebhookError> {
        verify_signature(payload.as_bytes(), header, SECRET.as_bytes(), NOW)
    }

    proptest::proptest! {
        /// Arbitrary headers and bodies never panic the verifier, and nothing unsigned passes.
        #[test]
        fn fuzz_signature_header(
            header in "\\PC{0,200}",
            shaped in "(t=[0-9]{0,12},)?(v1=[0-9a-f]{0,70},?){0,3}(v0=[a-z]{0,5})?",
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            for header in [&header, &shaped] {
                proptest::prop_assert_eq!(
                    verify_signature(&payload, Some(header), SECRET.as_bytes(), NOW),
                    Err(WebhookError::InvalidSignature)
                );
            }
            let _ = parse_event(&payload);
        }

        /// A genuine signature over any body verifies; the same header over a changed body
        /// does not.
        #[test]
        fn fuzz_signed_bodies(body in "\\PC{0,300}", flip in 0usize..300) {
            let header = sign(&body, SECRET, NOW);
            proptest::prop_assert_eq!(verify(&body, Some(&header)), Ok(()));
            let mut tampered = body.clone().into_bytes();
            if !tampered.is_empty() {
                let i = flip % tampered.len();
                tampered[i] ^= 0x01;
                proptest::prop_assert_eq!(
                    verify_signature(&tampered, Some(&header), SECRET.as_bytes(), NOW),
                    Err(WebhookError::InvalidSignature)
                );
            }
        }
    }

    fn session_event(event_type: &str, payment_status: &str) -> String {
        json!({
            "id": "evt_1",
            "object": "event",
            "api_version": "2026-09-30.endive",
            "created": NOW,
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": event_type,
            "data": {"object": {
                "id": "cs_test_1",
                "object": "checkout.session",
                "amount_subtotal": 1000,
                "amount_total": 1000,
                "client_reference_id": "42",
                "currency": "usd",
                "metadata": {"user_id": "42", "credit_cents": "950"},
                "mode": "payment",
                "payment_status": payment_status,
                "status": "complete"
            }}
        })
        .to_string()
    }

    #[test]
    fn a_correct_signature_is_accepted() {
        let body = session_event("checkout.session.completed", "paid");
        assert_eq!(verify(&body, Some(&sign(&body, SECRET, NOW))), Ok(()));
    }

    #[test]
    fn a_signature_with_another_secret_is_refused() {
        let body = session_event("checkout.session.completed", "paid");
        let header = sign(&body, "whsec_someone_else", NOW);
        assert_eq!(
            verify(&body, Some(&header)),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let body = session_event("checkout.session.completed", "paid");
        let header = sign(&body, SECRET, NOW);
        let tampered = body.replace("1000", "100000");
        assert_ne!(tampered, body);
        assert_eq!(
            verify(&tampered, Some(&header)),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn a_missing_header_is_refused() {
        assert_eq!(verify("{}", None), Err(WebhookError::InvalidSignature));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let body = "{}";
        let good = tag(body, SECRET, NOW);
        for header in [
            String::new(),
            format!("t={NOW}"),
            format!("t={NOW},v0={good}"),
            format!("v1={good}"),
            format!("t=abc,v1={good}"),
            format!("t=-{NOW},v1={good}"),
            format!("t={NOW},t={NOW},v1={good}"),
            format!("t={NOW},garbage,v1={good}"),
            format!("t={NOW},v1=not-hex"),
        ] {
            assert_eq!(
                verify(body, Some(&header)),
                Err(WebhookError::InvalidSignature),
                "{header}"
            );
        }
    }

    #[test]
    fn the_timestamp_window_is_300_seconds_both_ways() {
        let body = "{}";
        for (t, ok) in [
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 301, false),
        ] {
            let expected = if ok {
                Ok(())
            } else {
                Err(WebhookError::InvalidSignature)
            };
            assert_eq!(
                verify(body, Some(&sign(body, SECRET, t))),
                expected,
                "t = now {:+}",
                t - NOW
            );
        }
    }

    #[test]
    fn any_v1_may_match() {
        let body = "{}";
        let stale = tag(body, "whsec_old_secret", NOW);
        let good = tag(body, SECRET, NOW);
        let header = format!("t={NOW},v1={stale},v1={good},v0=deadbeef");
        assert_eq!(verify(body, Some(&header)), Ok(()));
    }

    #[test]
    fn an_empty_secret_verifies_nothing() {
        let body = "{}";
        let header = sign(body, "", NOW);
        assert_eq!(
            verify_signature(body.as_bytes(), Some(&header), b"", NOW),
            Err(WebhookError::InvalidSignature)
        );
    }

    #[test]
    fn a_paid_completed_session_is_session_paid() {
        let event = parse_event(session_event("checkout.session.completed", "paid").as_bytes());
        assert_eq!(
            event,
            Ok(PaymentEvent::SessionPaid {
                event_id: "evt_1".to_owned(),
                session: "cs_test_1".to_owned(),
                user: UserId(42),
                amount: Cents::new(1000),
            })
        );
    }

    #[test]
    fn an_unpaid_completed_session_is_ignored() {
        let event = parse_event(session_event("checkout.session.completed", "unpaid").as_bytes());
        assert_eq!(
            event,
            Ok(PaymentEvent::Ignored {
                event_id: "evt_1".to_owned(),
                event_type: "checkout.session.completed".to_owned(),
            })
        );
    }

    #[test]
    fn async_payment_succeeded_is_session_paid() {
        let body = session_event("checkout.session.async_payment_succeeded", "paid");
        let event = parse_event(body.as_bytes());
        assert!(
            matches!(&event, Ok(PaymentEvent::SessionPaid { session, amount, .. }) if session == "cs_test_1" && *amount == Cents::new(1000)),
            "{event:?}"
        );
    }

    #[test]
    fn other_event_types_are_ignored() {
        for event_type in [
            "checkout.session.expired",
            "checkout.session.async_payment_failed",
        ] {
            let event = parse_event(session_event(event_type, "unpaid").as_bytes());
            assert_eq!(
                event,
                Ok(PaymentEvent::Ignored {
                    event_id: "evt_1".to_owned(),
                    event_type: event_type.to_owned()
                })
            );
        }
        let charge = json!({
            "id": "evt_2", "type": "charge.succeeded",
            "data": {"object": {"id": "ch_1", "object": "charge", "amount": 1000}}
        });
        assert_eq!(
            parse_event(charge.to_string().as_bytes()),
            Ok(PaymentEvent::Ignored {
                event_id: "evt_2".to_owned(),
                event_type: "charge.succeeded".to_owned()
            })
        );
    }

    #[test]
    fn a_paid_session_without_a_j0_user_or_not_in_dollars_is_not_ours() {
        let paid = session_event("checkout.session.completed", "paid");
        for (from, to, why) in [
            (
                r#""client_reference_id":"42""#,
                r#""client_reference_id":null"#,
                "it names no j0 user",
            ),
            (
                r#""client_reference_id":"42""#,
                r#""client_reference_id":"abc""#,
                "it names no j0 user",
            ),
            (
                r#""client_reference_id":"42""#,
                r#""client_reference_id":"0""#,
                "it names no j0 user",
            ),
            (
                r#""currency":"usd""#,
                r#""currency":"eur""#,
                "it was not paid in US dollars",
            ),
        ] {
            let body = paid.replace(from, to);
            assert_ne!(body, paid, "{to}");
            assert_eq!(
                parse_event(body.as_bytes()),
                Ok(PaymentEvent::NotOurs {
                    event_id: "evt_1".to_owned(),
                    session: "cs_test_1".to_owned(),
                    why,
                }),
                "{to}"
            );
        }
        let upper = paid.replace(r#""currency":"usd""#, r#""currency":"USD""#);
        assert!(matches!(
            parse_event(upper.as_bytes()),
            Ok(PaymentEvent::SessionPaid { .. })
        ));
    }

    #[test]
    fn bodies_that_are_not_events_are_not_an_event() {
        let not_events = [
            "not json".to_owned(),
            "[]".to_owned(),
            json!({"id": "evt_1"}).to_string(),
            json!({"id": 1, "type": "x", "data": {"object": {}}}).to_string(),
            json!({"id": "evt_1", "type": "x", "data": {}}).to_string(),
            json!({"id": "evt_1", "type": "x", "data": {"object": "cs_1"}}).to_string(),
            // A paid session must say which session and how much, as integers.
            json!({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {
                "payment_status": "paid", "amount_total": 1000, "currency": "usd"}}})
            .to_string(),
            json!({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {
                "id": "cs_1", "payment_status": "paid", "amount_total": 10.5, "currency": "usd"}}})
            .to_string(),
            json!({"id": "evt_1", "type": "checkout.session.async_payment_succeeded",
                "data": {"object": {"id": "cs_1", "currency": "usd"}}})
            .to_string(),
            json!({"id": "evt_1", "type": "checkout.session.async_payment_succeeded",
                "data": {"object": {"id": "cs_1", "amount_total": -5, "currency": "usd"}}})
            .to_string(),
        ];
        for body in not_events {
            let result = parse_event(body.as_bytes());
            assert!(
                matches!(result, Err(WebhookError::NotAnEvent(_))),
                "{body}: {result:?}"
            );
        }
        assert!(matches!(
            parse_event(&[0xff, 0xfe]),
            Err(WebhookError::NotAnEvent(_))
        ));
    }
}
