//! The HTTP edge of j0 (actix-web): routes under `/api/v1`, the error envelope, authentication
//! and body limits. Handlers parse the request into domain types, call one use case of
//! [`j0_app::Marketplace`], and print the answer; nothing here decides a business rule.

use actix_web::{
    HttpMessage, HttpRequest, HttpResponse,
    body::{BoxBody, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web,
};

pub mod error;
pub mod extract;
pub mod openapi;
pub mod ratelimit;
pub mod request_metrics;
mod routes;
pub mod token;

use error::{ApiError, ErrorCode};
use extract::{BodyLimit, DEFAULT_BODY_LIMIT};
pub use j0_wire::IDEMPOTENCY_KEY;
pub use token::TokenService;
use utoipa_swagger_ui::SwaggerUi;

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
    pub app: j0_app::Marketplace,
    /// Token signing and checking.
    pub tokens: TokenService,
    /// Whether the session cookie is marked `Secure`.
    pub cookie_secure: bool,
    /// Request limits.
    pub limits: ratelimit::RateLimits,
}

/// One REST operation: its method, its path template under [`BASE_PATH`] and its handler.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The path template under [`BASE_PATH`], `{id}` standing for a path id.
    pub path: String,
    handler: fn(actix_web::Route) -> actix_web::Route,
}

impl Endpoint {
    /// The operations `P` documents (its methods at its path), each served by `handler`.
    fn all_of<P: utoipa::Path>(handler: fn(actix_web::Route) -> actix_web::Route) -> Vec<Self> {
        use utoipa::openapi::HttpMethod;
        P::methods()
            .iter()
            .map(|method| Self {
                method: match method {
                    HttpMethod::Get => Method::GET,
                    HttpMethod::Post => Method::POST,
                    HttpMethod::Put => Method::PUT,
                    HttpMethod::Delete => Method::DELETE,
                    HttpMethod::Options => Method::OPTIONS,
                    HttpMethod::Head => Method::HEAD,
                    HttpMethod::Patch => Method::PATCH,
                    HttpMethod::Trace => Method::TRACE,
                },
                path: P::path(),
                handler,
            })
            .collect()
    }
}

/// Names each REST handler once: the OpenAPI document describes these operations (`Rest`)
/// and [`endpoints`] routes them, each at the method and path of its own
/// `#[utoipa::path]`, so a route cannot exist undocumented, nor a documented operation unrouted.
macro_rules! rest_operations {
    ($($module:ident::$handler:ident),+ $(,)?) => {
        /// The REST operations, relative to [`crate::BASE_PATH`]. Each is named by its module,
        /// which utoipa takes as the operation's tag (`jobs`, `auth`, …) where the handler sets
        /// none.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),+))]
        pub(crate) struct Rest;

        /// Every REST operation, in registration order (`/users/me` before `/users/{id}`).
        pub fn endpoints() -> &'static [Endpoint] {
            static ENDPOINTS: std::sync::LazyLock<Vec<Endpoint>> = std::sync::LazyLock::new(|| {
                let mut all = Vec::new();
                $(all.extend(pastey::paste! {
                    Endpoint::all_of::<$module::[<__path_ $handler>]>(|r| r.to($module::$handler))
                });)+
                all
            });
            &ENDPOINTS
        }
    };
}

mod operations {
    use super::Endpoint;
    use crate::{
        openapi,
        routes::{auth, credits, health, jobs, payments, users},
    };

    rest_operations!(
        auth::challenge,
        auth::verify,
        auth::logout,
        users::me,
        users::by_id,
        credits::balance,
        credits::transactions,
        jobs::list,
        jobs::post,
        jobs::get,
        jobs::accept,
        jobs::complete,
        jobs::cancel,
        payments::checkout,
        payments::webhook,
        payments::usdc_address,
        health::health,
        openapi::serve,
    );
}
pub(crate) use operations::Rest;
pub use operations::endpoints;

/// Registers the REST routes of [`endpoints`] with their body limits, the JSON error answers for
/// unknown methods, the shared state, and the interactive documentation at `/docs`.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let mut scope = web::scope(BASE_PATH);
        let mut registered: Vec<&str> = Vec::new();
        for first in endpoints() {
            if registered.contains(&first.path.as_str()) {
                continue;
            }
            registered.push(&first.path);
            let same_path = || endpoints().iter().filter(|e| e.path == first.path);
            let full_path = format!("{BASE_PATH}{}", first.path);
            let limit = same_path()
                .map(|e| declared_body_limit(&e.method, &full_path))
                .max()
                .unwrap_or(DEFAULT_BODY_LIMIT);
            let methods: Vec<Method> = same_path().map(|e| e.method.clone()).collect();
            let mut resource = web::resource(first.path.as_str())
                .app_data(BodyLimit(limit))
                .default_service(method_not_allowed(&methods));
            for endpoint in same_path() {
                resource = resource.route((endpoint.handler)(
                    web::route().method(endpoint.method.clone()),
                ));
            }
            scope = scope
                .service(resource.wrap(actix_web::middleware::from_fn(ratelimit::limit_by_route)));
        }
        cfg.app_data(web::Data::new(state))
            .app_data(web::Data::new(openapi::document()))
            .service(scope)
            .service(web::redirect(
                openapi::DOCS_PATH,
                format!("{}/", openapi::DOCS_PATH),
            ))
            .service(
                SwaggerUi::new(format!("{}/{{_:.*}}", openapi::DOCS_PATH))
                    .config(utoipa_swagger_ui::Config::new([openapi::OPENAPI_PATH])),
            );
    }
}

/// The answer for a known path asked with a method it does not serve: 405 in the envelope,
/// with the `Allow` header listing the methods it does serve (RFC 9110 §15.5.6).
pub fn method_not_allowed(allowed: &[Method]) -> actix_web::Route {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    web::to(move || {
        let allow = header::HeaderValue::from_str(&allow).ok();
        async move {
            let error = ApiError::new(ErrorCode::MethodNotAllowed);
            let mut response = actix_web::ResponseError::error_response(&error);
            if let Some(allow) = allow {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            response
        }
    })
}

/// The answer for a path no route matches.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::with_message(
        ErrorCode::NotFound,
        format!("No route for {} {}", req.method(), req.path()),
    ))
}

/// The body limit the contract sets for a request, known from its method and its decoded path
/// alone.
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
    // The path as the router matches it (percent-encodings decoded), so that an encoded path
    // gets the limit of the route it reaches.
    let limit = declared_body_limit(req.method(), req.match_info().as_str());
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
