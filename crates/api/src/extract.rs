//! Request extractors that refuse bad input with the contract's error envelope.
//!
//! actix's own `Json`, `Path` and `Query` answer failures in plain text and without the field's
//! name; these read the same inputs and answer `VALIDATION_ERROR` naming the field, or 413/415.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// The largest body accepted where no route says otherwise: 16 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// A route's body limit, set with `.app_data(BodyLimit(..))` on its resource.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The limit for `req`'s route.
pub fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0)
}

/// A JSON body: the parsed document and the typed value read from it.
#[derive(Debug)]
pub struct Json<T> {
    /// The typed body.
    pub value: T,
    /// The body as parsed JSON, for comparisons that must ignore formatting.
    pub document: serde_json::Value,
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.len() > 5 && mime[mime.len() - 5..].eq_ignore_ascii_case("+json"))
        })
}

/// The whole body, refused with 413 as soon as it passes `limit`.
pub(crate) async fn read_body(mut payload: Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::validation(format!("body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads `T` from JSON text, naming the offending field in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, serde_json::Value), ApiError> {
    let document: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::validation(format!("body: malformed JSON: {e}")))?;
    let value = serde_path_to_error::deserialize(&document).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::validation(format!("{field}: {}", e.into_inner()))
    })?;
    Ok((value, document))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = body_limit(req);
        let payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
            }
            let body = read_body(payload, limit).await?;
            let (value, document) = parse_json(&body)?;
            Ok(Json { value, document })
        })
    }
}

/// A positive 64-bit id from the path's `{id}`: text that is not one is a 400, `0` a 404.
#[derive(Debug, Clone, Copy, utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct PathId(
    /// A positive 64-bit integer. `0` or an unknown id is a 404 with the resource's
    /// `*_NOT_FOUND` code; text that is not a positive integer (`abc`, `1.5`, overflow) is a
    /// 400 `VALIDATION_ERROR`.
    #[param(minimum = 1)]
    pub i64,
);

/// Parses a path id; `Ok(None)` for `0`, which names nothing.
pub fn parse_id(text: &str) -> Result<Option<i64>, ApiError> {
    let invalid = || ApiError::validation(format!("id: {text:?} is not a positive integer"));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let id: i64 = text.parse().map_err(|_| invalid())?;
    Ok((id > 0).then_some(id))
}

impl PathId {
    /// The id, or the resource's 404 when it is `0`.
    pub fn from_request_with(
        req: &HttpRequest,
        not_found: fn() -> ApiError,
    ) -> Result<Self, ApiError> {
        let text = req.match_info().get("id").unwrap_or_default();
        parse_id(text)?.map(PathId).ok_or_else(not_found)
    }
}

/// Query parameters read with serde, refusing bad values with the parameter's name first
/// (`limit must be an integer`).
#[derive(Debug)]
pub struct Query<T>(pub T);

/// Reads `T` from a query string, naming the offending parameter in the error.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let parser = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(parser).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::validation(format!("query string {inner}"))
        } else {
            ApiError::validation(format!("{path} {inner}"))
        }
    })
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

/// An integer query parameter. Its errors read after the parameter's name: "must be an
/// integer", or "must be at most 9223372036854775807" for one that does not fit in 64 bits
/// (never wrapped, never clamped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryInt(pub i64);

impl<'de> serde::Deserialize<'de> for QueryInt {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = QueryInt;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<QueryInt, E> {
                let digits = text.strip_prefix('-').unwrap_or(text);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom("must be an integer"));
                }
                text.parse().map(QueryInt).map_err(|_| {
                    if text.starts_with('-') {
                        E::custom(format!("must be at least {}", i64::MIN))
                    } else {
                        E::custom(format!("must be at most {}", i64::MAX))
                    }
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// `value` of the parameter `name`, refused below `min` with the parameter's name first.
pub fn at_least(name: &str, value: Option<QueryInt>, min: i64) -> Result<Option<i64>, ApiError> {
    match value {
        Some(QueryInt(n)) if n < min => Err(ApiError::validation(format!(
            "{name} must be at least {min}"
        ))),
        other => Ok(other.map(|q| q.0)),
    }
}

/// Reads `limit` for a list: default when absent, capped at `max`, 400 below 1.
pub fn page_limit(limit: Option<QueryInt>, default: i64, max: i64) -> Result<i64, ApiError> {
    Ok(at_least("limit", limit, 1)?.map_or(default, |n| n.min(max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(parse_id("42").ok(), Some(Some(42)));
        assert_eq!(parse_id("0").ok(), Some(None));
        for bad in ["abc", "1.5", "-1", "+1", "", "9223372036854775808", " 1"] {
            assert!(parse_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_cap_and_refuse() {
        assert_eq!(page_limit(None, 50, 100).ok(), Some(50));
        assert_eq!(page_limit(Some(QueryInt(500)), 50, 100).ok(), Some(100));
        assert!(page_limit(Some(QueryInt(0)), 50, 100).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Params {
        limit: Option<QueryInt>,
        #[allow(dead_code)]
        status: Option<String>,
    }

    fn message(query: &str) -> String {
        match parse_query::<Params>(query) {
            Ok(p) => format!("ok {:?}", p.limit),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_query_parameters_name_themselves_first() {
        assert_eq!(message("limit=7&status=posted"), "ok Some(QueryInt(7))");
        assert_eq!(message(""), "ok None");
        for bad in ["abc", "1.5", "", "-", "1e3", "%20"] {
            assert_eq!(
                message(&format!("limit={bad}")),
                "400 VALIDATION_ERROR: limit must be an integer",
                "{bad:?}"
            );
        }
        assert_eq!(
            message("limit=9223372036854775808"),
            "400 VALIDATION_ERROR: limit must be at most 9223372036854775807"
        );
        assert_eq!(message("limit=-3"), "ok Some(QueryInt(-3))");
        assert_eq!(
            at_least("worker_id", Some(QueryInt(0)), 1)
                .unwrap_err()
                .to_string(),
            "400 VALIDATION_ERROR: worker_id must be at least 1"
        );
    }
}
