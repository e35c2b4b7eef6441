//! Stripe, behind j0's [`PaymentProvider`] port: creating Checkout Sessions and reading
//! webhooks.
//!
//! Why it is shaped so:
//!
//! - **Checkout goes through async-stripe.** Its typed request builder owns the form encoding
//!   (`line_items[0][price_data][unit_amount]=1000`, …), the `Authorization` and
//!   `Stripe-Version` headers and the error body format, so none of that is hand-rolled here.
//!   The API base is configurable (`J0_STRIPE_API_BASE`) so tests point it at a local fake.
//!   Every failure — unreachable, timed out, an error status, a response without a `url` — is
//!   one [`CheckoutError`]: the caller answers 503 `PAYMENTS_UNAVAILABLE` whatever the cause.
//! - **Webhooks do not go through `stripe_webhook`.** Its `Webhook::construct_event` checks the
//!   signature the same way, but then deserialises the whole event strictly into the SDK's
//!   types for the API version it is pinned to: an event rendered with another API version, or
//!   one missing a field the SDK thinks is required, is refused, and it insists on a UTF-8
//!   `&str` payload. j0 needs four fields of one object, so the `webhook` module verifies the
//!   `Stripe-Signature` itself (HMAC-SHA256, constant-time comparison, ±300 s around the
//!   caller's `now`) before looking at the body, and then reads only what it uses.
//! - **Secrets stay inside.** [`StripeGateway`]'s `Debug` is written by hand and never prints the
//!   secret key or the webhook secret; nothing here logs.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData,
};
use stripe_types::Currency;
use time::OffsetDateTime;

use j0_ports::payments::{
    CheckoutError, CheckoutRequest, CheckoutSession, PaymentEvent, PaymentProvider, WebhookError,
};

mod webhook;

/// How long one call to Stripe may take before checkout gives up (503 to the user).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Checkout Session could not be created; carried inside [`CheckoutError`] for the log.
#[derive(Debug, thiserror::Error)]
enum GatewayError {
    /// The client could not be built from the configuration (a secret key that is not a
    /// valid header value, an API base that is not a URL).
    #[error("Stripe client misconfigured: {0}")]
    Config(String),
    /// Transport failure, timeout, error status or an unreadable response.
    #[error(transparent)]
    Stripe(#[from] stripe::StripeError),
    /// Stripe created the session but gave no URL to send the customer to.
    #[error("Checkout Session {session_id} has no url")]
    NoUrl { session_id: String },
}

impl From<GatewayError> for CheckoutError {
    fn from(err: GatewayError) -> Self {
        CheckoutError(Box::new(err))
    }
}

/// j0's [`PaymentProvider`] backed by Stripe Checkout and Stripe webhooks.
pub struct StripeGateway {
    /// The client, or why it could not be built: [`StripeGateway::new`] cannot fail, so a bad
    /// configuration surfaces as a [`CheckoutError`] on every checkout instead.
    client: Result<stripe::Client, String>,
    /// Normalised to end with `/`, as async-stripe appends `v1/...` to it.
    api_base: String,
    /// The endpoint's signing secret (`whsec_…`), as bytes: the HMAC key.
    webhook_secret: Box<[u8]>,
}

impl StripeGateway {
    /// A gateway calling Stripe at `api_base` (`https://api.stripe.com`, or
    /// `http://127.0.0.1:PORT` for a local fake) with `secret_key`, and verifying webhooks with
    /// the endpoint secret `webhook_secret`.
    ///
    /// Never fails: a configuration the client refuses makes every
    /// [`create_checkout`](PaymentProvider::create_checkout) return a [`CheckoutError`], and an
    /// empty `webhook_secret` makes every webhook an invalid signature.
    pub fn new(secret_key: &str, webhook_secret: &str, api_base: &str) -> Self {
        let api_base = format!("{}/", api_base.trim_end_matches('/'));
        let client = stripe::ClientBuilder::new(secret_key)
            .url(api_base.clone())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| err.to_string());
        Self {
            client,
            api_base,
            webhook_secret: webhook_secret.as_bytes().into(),
        }
    }
}

impl fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeGateway")
            .field("api_base", &self.api_base)
            .field("client_ok", &self.client.is_ok())
            .field("secret_key", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

/// The Checkout Session j0 asks for: one USD line item priced inline, so no Product or Price
/// has to exist in the Stripe account beforehand.
fn checkout_session_params(request: &CheckoutRequest) -> CreateCheckoutSession {
    let user_id = request.user.get().to_string();
    let mut price = CreateCheckoutSessionLineItemsPriceData::new(Currency::USD);
    price.unit_amount = Some(i64::from(request.amount_usd) * 100);
    price.product_data = Some(ProductData::new(format!(
        "j0 credits (${}.00)",
        request.amount_usd
    )));
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price_data = Some(price);
    item.quantity = Some(1);
    let metadata = [
        ("user_id".to_owned(), user_id.clone()),
        (
            "credit_cents".to_owned(),
            request.credit_cents.get().to_string(),
        ),
    ];
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![item])
        .client_reference_id(user_id)
        .metadata(std::collections::HashMap::from(metadata))
        .success_url(request.success_url.clone())
        .cancel_url(request.cancel_url.clone())
}

#[async_trait]
impl PaymentProvider for StripeGateway {
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, CheckoutError> {
        let client = self
            .client
            .as_ref()
            .map_err(|msg| GatewayError::Config(msg.clone()))?;
        let session = checkout_session_params(request)
            .send(client)
            .await
            .map_err(GatewayError::from)?;
        match session.url {
            Some(url) if !url.is_empty() => Ok(CheckoutSession {
                id: session.id.as_str().to_owned(),
                url,
            }),
            _ => Err(GatewayError::NoUrl {
                session_id: session.id.as_str().to_owned(),
            }
            .into()),
        }
    }

    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<PaymentEvent, WebhookError> {
        webhook::verify_signature(
            payload,
            signature_header,
            &self.webhook_secret,
            now.unix_timestamp(),
        )?;
        webhook::parse_event(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_both_secrets() {
        let gateway = StripeGateway::new(
            "sk_test_VERYSECRET",
            "whsec_ALSOSECRET",
            "http://127.0.0.1:9",
        );
        let shown = format!("{gateway:?}");
        assert!(!shown.contains("VERYSECRET"), "{shown}");
        assert!(!shown.contains("ALSOSECRET"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:9/"), "{shown}");
    }

    #[test]
    fn api_base_is_normalised_to_one_trailing_slash() {
        for base in [
            "https://api.stripe.com",
            "https://api.stripe.com/",
            "https://api.stripe.com//",
        ] {
            let gateway = StripeGateway::new("sk_test_x", "whsec_x", base);
            assert_eq!(gateway.api_base, "https://api.stripe.com/");
            assert!(gateway.client.is_ok());
        }
    }

    #[test]
    fn verify_webhook_goes_through_the_signature_check() {
        let gateway = StripeGateway::new("sk_test_x", "whsec_x", "http://127.0.0.1:9");
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            gateway.verify_webhook(b"{}", None, now),
            Err(WebhookError::InvalidSignature)
        );
    }
}
