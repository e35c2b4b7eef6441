//! Request extractors that refuse bad input with the contract's error envelope.
//!
//! actix's own `Json`, `Path` and `Query` answer failures in plain text and without the field's
//! name; these read the same inputs and answer `VALIDATION_ERROR` naming the field, or 413/415.

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    http::{StatusCode, header},
};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

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
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "Content-Type must be application/json",
                ));
            }
            let body = read_body(payload, limit).await?;
            let (value, document) = parse_json(&body)?;
            Ok(Json { value, document })
        })
    }
}

/// A positive 64-bit id from the path's `{id}`: text that is not one is a 400, `0` a 404.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub i64);

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

/// Query parameters read with serde, refusing bad values with the field's name.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = serde_urlencoded::from_str::<T>(req.query_string())
            .map(Query)
            .map_err(|e| ApiError::validation(format!("query: {e}")));
        std::future::ready(parsed)
    }
}

/// Reads `limit` for a list: default when absent, capped at `max`, 400 below 1.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if n < 1 => Err(ApiError::validation("limit: must be at least 1")),
        Some(n) => Ok(n.min(max)),
    }
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
        assert_eq!(page_limit(Some(500), 50, 100).ok(), Some(100));
        assert!(page_limit(Some(0), 50, 100).is_err());
    }
}
