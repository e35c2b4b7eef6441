//! `POST /payments/stripe/checkout`, `POST /payments/stripe/webhook`, `GET /payments/usdc/address`.

use actix_web::{HttpRequest, HttpResponse, web};
use j0_app::{CheckoutFailure, WebhookFailure};
use j0_ports::{ErrorChain, payments::WebhookError};
use j0_wire::payments::{
    Checkout, CheckoutRequest, DepositAddress, NETWORK_NAME, TOKEN_NAME, WebhookReceived,
};

use super::{CheckoutRefusals, DepositRefusals, Reply, State, WebhookRefusals};
use crate::{
    error::{ApiError, ErrorCode},
    extract::{Json, body_limit, read_body},
    token::Caller,
};

fn payments_unavailable() -> ApiError {
    ApiError::new(ErrorCode::PaymentsUnavailable)
}

/// Creates a Stripe Checkout Session for a credit purchase.
#[utoipa::path(
    post, path = "/payments/stripe/checkout", operation_id = "createCheckout",
    request_body = CheckoutRequest,
    responses(
        (status = 200, description = "The Checkout Session's URL", body = Checkout),
        CheckoutRefusals,
    ),
)]
pub(crate) async fn checkout(state: State, caller: Caller, body: Json<CheckoutRequest>) -> Reply {
    match state
        .app
        .create_checkout(caller.user, body.value.amount_usd)
        .await
    {
        Ok(checkout_url) => Ok(HttpResponse::Ok().json(Checkout { checkout_url })),
        Err(CheckoutFailure::InvalidAmount) => Err(ApiError::new(ErrorCode::InvalidAmount)),
        Err(CheckoutFailure::NotConfigured) => Err(payments_unavailable()),
        Err(CheckoutFailure::Provider(e)) => {
            tracing::warn!(error = %ErrorChain(&e), user_id = %caller.user, "creating a checkout session failed");
            Err(payments_unavailable())
        }
        Err(CheckoutFailure::Store(e)) => Err(e.into()),
    }
}

/// Receives Stripe events; the signature is checked before anything is parsed. Paid Checkout
/// Sessions credit `floor(amount_total * 95 / 100)` cents exactly once.
#[utoipa::path(
    post, path = "/payments/stripe/webhook", operation_id = "stripeWebhook",
    params((
        "Stripe-Signature" = String,
        Header,
        description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">` with the endpoint secret; 5-minute tolerance either way.",
    )),
    request_body(
        content = Object,
        content_type = "application/json",
        description = "A Stripe event, exactly as Stripe signed it",
    ),
    responses(
        (status = 200, description = "Handled; a credit, if any, has committed", body = WebhookReceived),
        WebhookRefusals,
    ),
)]
pub(crate) async fn webhook(state: State, req: HttpRequest, payload: web::Payload) -> Reply {
    // The raw body, as signed, read in full (up to the route's limit) before anything is parsed.
    let body = read_body(payload.into_inner(), body_limit(&req)).await?;
    let signature = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok());
    match state.app.stripe_webhook(&body, signature).await {
        Ok(()) => Ok(HttpResponse::Ok().json(WebhookReceived { received: true })),
        Err(WebhookFailure::Refused(WebhookError::InvalidSignature)) => {
            Err(ApiError::new(ErrorCode::InvalidWebhookSignature))
        }
        Err(WebhookFailure::Refused(WebhookError::NotAnEvent(reason))) => Err(
            ApiError::validation(format!("body: not a Stripe event: {reason}")),
        ),
        Err(WebhookFailure::NotConfigured) => Err(payments_unavailable()),
        Err(WebhookFailure::Store(e)) => Err(e.into()),
    }
}

/// The caller's USDC deposit address: 1 USDC credits 100 cents of cash after the configured
/// confirmations.
#[utoipa::path(
    get, path = "/payments/usdc/address", operation_id = "getUsdcAddress",
    responses(
        (status = 200, description = "The deposit address", body = DepositAddress),
        DepositRefusals,
    ),
)]
pub(crate) async fn usdc_address(state: State, caller: Caller) -> Reply {
    let info = state.app.deposit_address(caller.user).await?;
    Ok(HttpResponse::Ok().json(DepositAddress {
        address: info.address,
        network: NETWORK_NAME.to_owned(),
        chain_id: info.chain_id,
        token: TOKEN_NAME.to_owned(),
        token_contract: info.token_contract,
        min_confirmations: info.min_confirmations,
    }))
}
