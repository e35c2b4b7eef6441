//! The HTTP request metrics (`docs/operations.md`): how many requests each route answered with
//! each status, and how long it took.
//!
//! A route is named by the pattern it matched (`/api/v1/jobs/{id}/accept`), never by its raw
//! path: ids in paths would make a label value per job, and the exporter would keep every one.
//! Methods outside the standard few are counted together, for the same reason.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::Method,
    middleware::Next,
};

/// Requests answered, by `method`, `route` and `status`.
pub const REQUESTS: &str = "j0_http_requests_total";
/// Seconds from a request's arrival to its answer's head, by `method` and `route`.
pub const DURATION: &str = "j0_http_request_duration_seconds";
/// The `route` of requests that matched no route (unknown paths, and requests refused before
/// routing).
pub const UNMATCHED: &str = "unmatched";

/// The `method` label: the method's name when standard, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware, outermost but for the request log: counts and times every answer, the refused
/// (429, 413) and the unrouted (404) ones included.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = method_label(req.method());
    let started = Instant::now();
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(response) => (response.request().match_pattern(), response.status()),
        Err(e) => (None, e.as_response_error().status_code()),
    };
    let route = route.unwrap_or_else(|| UNMATCHED.to_owned());
    metrics::histogram!(DURATION, "method" => method, "route" => route.clone())
        .record(started.elapsed());
    metrics::counter!(
        REQUESTS,
        "method" => method,
        "route" => route,
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_have_their_own_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "other");
    }
}
