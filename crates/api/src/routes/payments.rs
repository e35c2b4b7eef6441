//! `POST /payments/stripe/checkout`, `POST /payments/stripe/webhook`, `GET /payments/usdc/address`.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use j0_app::{CheckoutFailure, WebhookFailure};
use j0_domain::WalletAddress;
use j0_ports::payments::WebhookError;

use crate::{ApiState, JOB_BODY_LIMIT, error::ApiError, extract::Json, token::Caller};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckoutRequest {
    amount_usd: i64,
}

#[derive(Debug, Serialize)]
struct CheckoutResponse {
    checkout_url: String,
}

#[derive(Debug, Serialize)]
struct Received {
    received: bool,
}

#[derive(Debug, Serialize)]
struct DepositAddress {
    address: WalletAddress,
    network: &'static str,
    chain_id: u64,
    token: &'static str,
    token_contract: WalletAddress,
    min_confirmations: u64,
}

fn payments_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "PAYMENTS_UNAVAILABLE",
        "Payments are temporarily unavailable",
    )
}

pub(crate) async fn checkout(
    state: web::Data<ApiState>,
    caller: Caller,
    body: Json<CheckoutRequest>,
) -> Result<HttpResponse, ApiError> {
    match state
        .app
        .create_checkout(caller.user, body.value.amount_usd)
        .await
    {
        Ok(checkout_url) => Ok(HttpResponse::Ok().json(CheckoutResponse { checkout_url })),
        Err(CheckoutFailure::InvalidAmount) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_AMOUNT",
            "amount_usd must be one of 5, 10, 20, 50, 100",
        )),
        Err(CheckoutFailure::NotConfigured) => Err(payments_unavailable()),
        Err(CheckoutFailure::Provider(e)) => {
            tracing::warn!(error = %e, user_id = %caller.user, "creating a checkout session failed");
            Err(payments_unavailable())
        }
    }
}

/// The raw body, as signed: read in full (up to the route's limit) before anything is parsed.
async fn raw_body(mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::validation(format!("body: {e}")))?;
        if body.len() + chunk.len() > JOB_BODY_LIMIT {
            return Err(ApiError::payload_too_large(JOB_BODY_LIMIT));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) async fn webhook(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = raw_body(payload).await?;
    let signature = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok());
    match state.app.stripe_webhook(&body, signature).await {
        Ok(()) => Ok(HttpResponse::Ok().json(Received { received: true })),
        Err(WebhookFailure::Refused(WebhookError::InvalidSignature)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_WEBHOOK_SIGNATURE",
            "Invalid webhook signature",
        )),
        Err(WebhookFailure::Refused(WebhookError::NotAnEvent(reason))) => Err(
            ApiError::validation(format!("body: not a Stripe event: {reason}")),
        ),
        Err(WebhookFailure::NotConfigured) => Err(payments_unavailable()),
        Err(WebhookFailure::Store(e)) => Err(e.into()),
    }
}

pub(crate) async fn usdc_address(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let info = state.app.deposit_address(caller.user).await?;
    Ok(HttpResponse::Ok().json(DepositAddress {
        address: info.address,
        network: "Base L2",
        chain_id: info.chain_id,
        token: "USDC",
        token_contract: info.token_contract,
        min_confirmations: info.min_confirmations,
    }))
}
