//! The HTTP edge of j0 (actix-web): routes under `/api/v1`, the error envelope, authentication
//! and body limits. Handlers parse the request into domain types, call one use case of
//! [`j0_app::App`], and print the answer; nothing here decides a business rule.

use actix_web::{
    HttpMessage, HttpRequest, HttpResponse,
    body::{BoxBody, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode, header},
    middleware::Next,
    web,
};

pub mod error;
pub mod extract;
mod routes;
pub mod token;

use error::ApiError;
use extract::{BodyLimit, DEFAULT_BODY_LIMIT};
pub use routes::jobs::IDEMPOTENCY_KEY;
pub use token::TokenService;

/// The base path of every REST route.
pub const BASE_PATH: &str = "/api/v1";

/// Body limit of `POST /jobs` (and the Stripe webhook).
pub const JOB_BODY_LIMIT: usize = 256 * 1024;
/// Body limit of `POST /jobs/:id/complete`.
pub const RESULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The use cases.
    pub app: j0_app::App,
    /// Token signing and checking.
    pub tokens: TokenService,
    /// Whether the session cookie is marked `Secure`.
    pub cookie_secure: bool,
}

/// Registers the REST routes, the JSON error answers for unknown routes and methods, and the
/// shared state.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        use routes::{auth, credits, health, jobs, payments, users};
        cfg.app_data(web::Data::new(state)).service(
            web::scope(BASE_PATH)
                .service(resource("/auth/challenge").route(web::post().to(auth::challenge)))
                .service(resource("/auth/verify").route(web::post().to(auth::verify)))
                .service(resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(resource("/users/me").route(web::get().to(users::me)))
                .service(resource("/users/{id}").route(web::get().to(users::by_id)))
                .service(resource("/credits/balance").route(web::get().to(credits::balance)))
                .service(
                    resource("/credits/transactions").route(web::get().to(credits::transactions)),
                )
                .service(
                    resource("/jobs")
                        .app_data(BodyLimit(JOB_BODY_LIMIT))
                        .route(web::get().to(jobs::list))
                        .route(web::post().to(jobs::post)),
                )
                .service(resource("/jobs/{id}").route(web::get().to(jobs::get)))
                .service(resource("/jobs/{id}/accept").route(web::post().to(jobs::accept)))
                .service(
                    resource("/jobs/{id}/complete")
                        .app_data(BodyLimit(RESULT_BODY_LIMIT))
                        .route(web::post().to(jobs::complete)),
                )
                .service(resource("/jobs/{id}/cancel").route(web::post().to(jobs::cancel)))
                .service(
                    resource("/payments/stripe/checkout").route(web::post().to(payments::checkout)),
                )
                .service(
                    resource("/payments/stripe/webhook").route(web::post().to(payments::webhook)),
                )
                .service(
                    resource("/payments/usdc/address").route(web::get().to(payments::usdc_address)),
                )
                .service(resource("/health").route(web::get().to(health::health))),
        );
    }
}

/// A resource that answers 405 in the envelope for methods it has no route for.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// The answer for a known path asked with a method it does not serve.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
    ))
}

/// The answer for a path no route matches.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "NOT_FOUND",
        &format!("No route for {} {}", req.method(), req.path()),
    ))
}

/// The body limit the contract sets for a request, known from its method and path alone.
pub fn declared_body_limit(method: &Method, path: &str) -> usize {
    let Some(rest) = path.strip_prefix(BASE_PATH) else {
        return DEFAULT_BODY_LIMIT;
    };
    if method == Method::POST && (rest == "/jobs" || rest == "/payments/stripe/webhook") {
        JOB_BODY_LIMIT
    } else if method == Method::POST && rest.starts_with("/jobs/") && rest.ends_with("/complete") {
        RESULT_BODY_LIMIT
    } else {
        DEFAULT_BODY_LIMIT
    }
}

/// Returns the request id that tracing records for each request as `x-request-id`, so a client
/// can quote it and an operator can find the request's log lines.
pub async fn echo_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string);
    let mut response = next.call(req).await?;
    if let Some(value) = id.and_then(|id| header::HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// Refuses a request whose declared `Content-Length` exceeds its route's limit before any
/// handler runs, so routes without a body cannot be made to read one either.
pub async fn limit_declared_body(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody, impl MessageBody>>, actix_web::Error> {
    let limit = declared_body_limit(req.method(), req.path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        let response =
            actix_web::ResponseError::error_response(&ApiError::payload_too_large(limit));
        return Ok(req.into_response(response).map_into_left_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_right_body)
}
