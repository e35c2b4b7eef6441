//! A local fake of Stripe's HTTP API, for tests that must not touch the network.
//!
//! Stripe is faked at the wire, not behind the port: the real adapter (async-stripe) sends its
//! real form-encoded request to [`FakeStripe`], which records it and answers with a Checkout
//! Session JSON carrying every field async-stripe requires (it parses responses strictly, so a
//! thinner body would fail as "unreadable response", not as the test meant). Webhooks go the
//! other way: [`sign_webhook`] and the event builders produce what Stripe would POST to j0.
//!
//! Test code: a fake that cannot start panics with a message.
#![allow(clippy::expect_used)]

use std::{
    fmt,
    net::TcpListener,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    dev::ServerHandle,
    http::{StatusCode, header},
    web,
};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The API version the fake claims to render, the one async-stripe 1.0.0-rc.10 is pinned to.
pub const API_VERSION: &str = "2026-09-30.endive";

/// One `POST /v1/checkout/sessions` as received.
#[derive(Debug, Clone)]
struct Recorded {
    form: Vec<(String, String)>,
    authorization: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<Recorded>,
    fail_next: Option<u16>,
    sessions_created: u64,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not turn every later assertion into a poison error.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stripe's API on `127.0.0.1:<random port>`: `POST /v1/checkout/sessions` creates a session
/// (`cs_test_1`, `cs_test_2`, …); anything else is a Stripe-shaped 404. Stops when dropped.
pub struct FakeStripe {
    base_url: String,
    state: Shared,
    handle: ServerHandle,
}

impl fmt::Debug for FakeStripe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeStripe")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeStripe {
    /// Starts the fake on a free local port. Call inside a Tokio runtime (`#[tokio::test]`).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake Stripe");
        let addr = listener.local_addr().expect("the fake Stripe's address");
        let state = Shared::default();
        let app_state = web::Data::new(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .route(
                    "/v1/checkout/sessions",
                    web::post().to(create_checkout_session),
                )
                .default_service(web::to(not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listening for the fake Stripe")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://{addr}"),
            state,
            handle,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: what `J0_STRIPE_API_BASE` takes.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every `POST /v1/checkout/sessions` body received so far (failed ones included), in
    /// order, each decoded into `(key, value)` pairs in the order sent, with keys such as
    /// `line_items[0][price_data][unit_amount]`.
    pub fn checkout_requests(&self) -> Vec<Vec<(String, String)>> {
        lock(&self.state)
            .requests
            .iter()
            .map(|r| r.form.clone())
            .collect()
    }

    /// The `Authorization` header of each of [`checkout_requests`](Self::checkout_requests),
    /// in the same order (`Bearer sk_test_…`).
    pub fn checkout_authorizations(&self) -> Vec<Option<String>> {
        lock(&self.state)
            .requests
            .iter()
            .map(|r| r.authorization.clone())
            .collect()
    }

    /// Makes the next request (only that one) fail with `status` and a Stripe error body, as
    /// Stripe does when it is down (`503`) or refuses the key (`401`).
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).fail_next = Some(status);
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        // The stop command is sent eagerly; the returned future only awaits completion.
        drop(self.handle.stop(false));
    }
}

/// The value of the first pair named `key` in a decoded form.
pub fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn decode_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(part: &[u8]) -> String {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    }
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&pair[..eq]), decode(&pair[eq + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn stripe_error(status: StatusCode, error_type: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Stripe-Should-Retry", "false"))
        .json(json!({
            "error": {
                "type": error_type,
                "message": message,
                "code": null,
                "doc_url": null,
                "param": null,
                "request_log_url": null
            }
        }))
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!(
            "Unrecognized request URL ({} {}).",
            request.method(),
            request.path()
        ),
    )
}

async fn create_checkout_session(
    state: web::Data<Shared>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = decode_form(&body);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (failure, n) = {
        let mut state = lock(&state);
        state.requests.push(Recorded {
            form: form.clone(),
            authorization,
        });
        let failure = state.fail_next.take();
        if failure.is_none() {
            state.sessions_created += 1;
        }
        (failure, state.sessions_created)
    };
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return stripe_error(
            status,
            "api_error",
            "The fake Stripe was told to fail this request.",
        );
    }
    HttpResponse::Ok().json(created_session(n, &form))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The session Stripe answers a create with: `open`, `unpaid`, with a `url`.
fn created_session(n: u64, form: &[(String, String)]) -> Value {
    let get = |key: &str| form_value(form, key);
    let unit_amount: i64 = get("line_items[0][price_data][unit_amount]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let quantity: i64 = get("line_items[0][quantity]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((name.to_owned(), Value::String(v.clone())))
        })
        .collect();
    let id = format!("cs_test_{n}");
    let mut session = session_object(
        &id,
        get("client_reference_id"),
        unit_amount * quantity,
        get("line_items[0][price_data][currency]").unwrap_or("usd"),
        "open",
        "unpaid",
        Value::Object(metadata),
    );
    session["mode"] = json!(get("mode").unwrap_or("payment"));
    session["success_url"] = json!(get("success_url"));
    session["cancel_url"] = json!(get("cancel_url"));
    session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    session
}

/// A Checkout Session as the API renders it. Besides what j0 reads, it carries every field
/// async-stripe's `CheckoutSession` requires (`automatic_tax`, `created`, `custom_fields`,
/// `custom_text`, `expires_at`, `id`, `livemode`, `mode`, `payment_method_types`,
/// `payment_status`, `shipping_options`); the nullable ones it cares about are `null`.
fn session_object(
    id: &str,
    client_reference_id: Option<&str>,
    amount_total: i64,
    currency: &str,
    status: &str,
    payment_status: &str,
    metadata: Value,
) -> Value {
    let created = now_unix();
    // Field by field: one `json!` this size exceeds the macro recursion limit.
    let fields = [
        ("id", json!(id)),
        ("object", json!("checkout.session")),
        ("adaptive_pricing", Value::Null),
        ("after_expiration", Value::Null),
        ("allow_promotion_codes", Value::Null),
        ("amount_subtotal", json!(amount_total)),
        ("amount_total", json!(amount_total)),
        (
            "automatic_tax",
            json!({"enabled": false, "liability": null, "provider": null, "status": null}),
        ),
        ("billing_address_collection", Value::Null),
        ("cancel_url", Value::Null),
        ("client_reference_id", json!(client_reference_id)),
        ("client_secret", Value::Null),
        ("consent", Value::Null),
        ("consent_collection", Value::Null),
        ("created", json!(created)),
        ("currency", json!(currency)),
        ("currency_conversion", Value::Null),
        ("custom_fields", json!([])),
        (
            "custom_text",
            json!({ "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null }),
        ),
        ("customer", Value::Null),
        ("customer_creation", json!("if_required")),
        ("customer_details", Value::Null),
        ("customer_email", Value::Null),
        ("discounts", json!([])),
        ("expires_at", json!(created + 24 * 3600)),
        ("invoice", Value::Null),
        ("invoice_creation", Value::Null),
        ("livemode", json!(false)),
        ("locale", Value::Null),
        ("metadata", metadata),
        ("mode", json!("payment")),
        ("payment_intent", Value::Null),
        ("payment_link", Value::Null),
        ("payment_method_collection", json!("if_required")),
        ("payment_method_configuration_details", Value::Null),
        ("payment_method_options", json!({})),
        ("payment_method_types", json!(["card"])),
        ("payment_status", json!(payment_status)),
        ("phone_number_collection", json!({"enabled": false})),
        ("recovered_from", Value::Null),
        ("saved_payment_method_options", Value::Null),
        ("setup_intent", Value::Null),
        ("shipping_address_collection", Value::Null),
        ("shipping_cost", Value::Null),
        ("shipping_options", json!([])),
        ("status", json!(status)),
        ("submit_type", Value::Null),
        ("subscription", Value::Null),
        ("success_url", Value::Null),
        (
            "total_details",
            json!({"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}),
        ),
        ("ui_mode", json!("hosted")),
        ("url", Value::Null),
    ];
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A `Stripe-Signature` header for `payload` signed with the endpoint `secret` at `timestamp`
/// (unix seconds): `t=<timestamp>,v1=<hex HMAC-SHA256 of "{timestamp}.{payload}">`.
pub fn sign_webhook(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// An event envelope of type `event_type` around `object`, as Stripe POSTs it to a webhook.
pub fn event_json(event_id: &str, event_type: &str, object: Value) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": now_unix(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type
    })
    .to_string()
}

fn completed_session(
    session_id: &str,
    user_id: i64,
    amount_total: i64,
    payment_status: &str,
) -> Value {
    let user = user_id.to_string();
    let credit_cents = amount_total * 95 / 100;
    session_object(
        session_id,
        Some(&user),
        amount_total,
        "usd",
        "complete",
        payment_status,
        json!({"user_id": user, "credit_cents": credit_cents.to_string()}),
    )
}

/// `checkout.session.completed` for the session `session_id` of user `user_id`, paying
/// `amount_total` cents, with the given `payment_status` (`paid`, `unpaid`, …).
pub fn checkout_completed_event(
    event_id: &str,
    session_id: &str,
    user_id: i64,
    amount_total: i64,
    payment_status: &str,
) -> String {
    event_json(
        event_id,
        "checkout.session.completed",
        completed_session(session_id, user_id, amount_total, payment_status),
    )
}

/// `checkout.session.async_payment_succeeded`: a delayed payment method's money arrived.
pub fn async_payment_succeeded_event(
    event_id: &str,
    session_id: &str,
    user_id: i64,
    amount_total: i64,
) -> String {
    event_json(
        event_id,
        "checkout.session.async_payment_succeeded",
        completed_session(session_id, user_id, amount_total, "paid"),
    )
}
