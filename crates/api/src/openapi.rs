//! The OpenAPI 3.1 document of the whole contract, derived from the code.
//!
//! Each handler carries its own `#[utoipa::path]` (body, parameters, 200 answer, and the codes
//! it can refuse with, from the `refusals!` table of `routes`; its tag is its module's name);
//! every body, view and WebSocket message derives its schema from the type that serializes it
//! (`j0-wire`, and `j0-domain`'s views, feature `openapi`), and every error response is built
//! from [`ErrorCode`], the table the server answers from. What is left here is the assembly
//! and a few modifiers that say once what holds for many operations, so it cannot drift
//! between them:
//!
//! - `429 RATE_LIMITED` (with `Retry-After`) on every operation, and each `413`'s limit, read
//!   from the route table ([`declared_body_limit`]);
//! - the security schemes, `bearer` (the `Authorization` header), `cookie` (`j0_token`) and
//!   `token_query` (`GET /ws` only), and `bearer` or `cookie` on every operation that can
//!   refuse `UNAUTHORIZED`;
//! - `GET /ws`, served by `j0-ws` (which depends on this crate) but part of the contract;
//! - flattened objects written out as one, and `additionalProperties: false` on every object
//!   the server prints, so a client (or a schema checker) learns of any field the document does
//!   not list.
//!
//! Paths are written in full (`/api/v1/jobs`, `/ws`) with the one server `/`, so a tool pointed
//! at the served document reaches every operation on the same host.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, http::Method, web};
use utoipa::{
    IntoParams, OpenApi, ToSchema,
    openapi::{
        self, ContentBuilder, ObjectBuilder, RefOr, Response, Schema, Type,
        header::HeaderBuilder,
        path::{Operation, PathItem},
        response::ResponseBuilder,
        schema::{AdditionalProperties, AllOfBuilder, SchemaFormat},
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
        server::Server,
    },
};

use j0_wire::{
    events::{ClientMessage, ErrorMessage, StoredEvent, SubscribedMessage, TruncatedMessage},
    schema::string_enum,
};

use crate::{
    BASE_PATH, Rest, declared_body_limit,
    error::{ErrorAnswer, ErrorCode, RateLimitedAnswer},
};

/// Declares each `$name`, the error answers of one operation: every code it can refuse with
/// (but `RATE_LIMITED`, which every operation can), each answered with its
/// [`ErrorCode::status`]. Name it in the operation's `responses(...)`. The REST operations'
/// are one table, in `routes`.
macro_rules! refusals {
    ($($(#[$doc:meta])* $name:ident = [$($code:ident),+ $(,)?];)+) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                $crate::openapi::error_responses(&[$($crate::error::ErrorCode::$code),+])
            }
        }
    )+};
}
pub(crate) use refusals;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// Where the interactive documentation is served.
pub const DOCS_PATH: &str = "/docs";
/// Path of the WebSocket (outside [`BASE_PATH`]).
pub const WS_PATH: &str = "/ws";

/// What lives outside [`BASE_PATH`], and the document's own description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "j0 API",
        version = "1",
        description = "A paid micro-jobs marketplace: requesters post jobs paid in credits \
            (integer cents), workers accept and complete them. Every error is \
            `{\"error\", \"code\"}`; a known path asked with another method is 405 \
            `METHOD_NOT_ALLOWED`, an unknown path 404 `NOT_FOUND`, and a request body over the \
            route's limit 413 `PAYLOAD_TOO_LARGE`. Timestamps in bodies are RFC 3339 UTC with \
            whole seconds and a `Z`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(ws),
    components(schemas(
        ErrorAnswer,
        RateLimitedAnswer,
        StoredEvent,
        ClientMessage,
        SubscribedMessage,
        ErrorMessage,
        TruncatedMessage,
    )),
    tags(
        (name = "auth", description = "Wallet sign-in and sessions"),
        (name = "users", description = "Users"),
        (name = "credits", description = "Balances and the credit history"),
        (name = "jobs", description = "Posting, accepting, completing and cancelling jobs"),
        (name = "payments", description = "Buying credits by card (Stripe) or USDC on Base"),
        (name = "events", description = "Real-time events over WebSocket"),
        (name = "operations", description = "Health and this document"),
    ),
)]
struct Outside;

/// The OpenAPI document of the whole API, as served at [`OPENAPI_PATH`].
pub fn document() -> openapi::OpenApi {
    let mut doc = Outside::openapi().nest(BASE_PATH, Rest::openapi());
    doc.servers = Some(vec![Server::new("/")]);
    add_security_schemes(&mut doc);
    add_security(&mut doc);
    add_rate_limits(&mut doc);
    add_body_limits(&mut doc);
    flatten_all_of(&mut doc);
    close_objects(&mut doc);
    doc
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)),
)]
pub(crate) async fn serve(doc: web::Data<openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}

// `GET /ws` is served by `j0-ws`; it is described here so the document covers the whole contract.
/// Opens the real-time event stream (WebSocket upgrade); 401 before any upgrade without a
/// valid token.
#[utoipa::path(
    get,
    path = "/ws",
    operation_id = "connectWebSocket",
    tag = "events",
    security(("bearer" = []), ("cookie" = []), ("token_query" = [])),
    params(WsQuery),
    responses(
        (
            status = 101,
            description = "Switched to the WebSocket protocol. The server sends `WsEvent` messages \
            (`{id, event, data, timestamp}`) addressed to the caller, and answers a \
            `WsSubscribe` message with `WsSubscribed` or `WsError`; a replay from a `since` \
            older than the oldest kept event starts with `WsEventsTruncated`. The server pings \
            every 20 s and closes a connection silent for 60 s.",
        ),
        WsRefusals,
    ),
)]
#[allow(dead_code, reason = "describes j0-ws's handler; never called")]
fn ws() {}

refusals! {
    /// What `GET /ws` answers instead of upgrading.
    WsRefusals = [ValidationError, Unauthorized, ServiceUnavailable];
}

/// Query parameters of `GET /ws`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query; never built")]
struct WsQuery {
    /// Replay every event addressed to the caller with a larger id first, then go live.
    #[param(minimum = 0)]
    since: Option<i64>,
}

/// Names of the security schemes.
const BEARER: &str = "bearer";
const COOKIE: &str = "cookie";
const TOKEN_QUERY: &str = "token_query";

fn add_security_schemes(doc: &mut openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "`Authorization: Bearer <token from POST /auth/verify>`",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::token::COOKIE_NAME,
            "The session cookie set by `POST /auth/verify`",
        ))),
    );
    components.add_security_scheme(
        TOKEN_QUERY,
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "token",
            "The session token in the query, for WebSocket clients that cannot set headers \
             (`GET /ws` only)",
        ))),
    );
}

/// `bearer` or `cookie` on every operation that can refuse `UNAUTHORIZED`: exactly the ones
/// whose handler asks for a signed-in caller. An operation that says its own (`GET /ws`) keeps
/// it.
fn add_security(doc: &mut openapi::OpenApi) {
    let status = ErrorCode::Unauthorized.status().to_string();
    let unauthorized = code_line(ErrorCode::Unauthorized);
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            let refuses_unauthorized = matches!(
                op.responses.responses.get(&status),
                Some(RefOr::T(response)) if response.description.lines().any(|l| l == unauthorized)
            );
            if refuses_unauthorized && op.security.is_none() {
                op.security = Some(vec![
                    SecurityRequirement::new(BEARER, Vec::<String>::new()),
                    SecurityRequirement::new(COOKIE, Vec::<String>::new()),
                ]);
            }
        }
    }
}

/// How an error response lists one of its codes: `` - `CODE`: what it means ``.
fn code_line(code: ErrorCode) -> String {
    format!("- `{code}`: {}", code.meaning())
}

/// One response per status of `codes`, each listing its codes (in the order given) with what
/// they mean, its schema the [`ErrorAnswer`] with `code` pinned to exactly those values.
pub(crate) fn error_responses(codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        by_status.entry(code.status()).or_default().push(*code);
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let description = codes
                .iter()
                .map(|code| code_line(*code))
                .collect::<Vec<_>>()
                .join("\n");
            let narrowed = ObjectBuilder::new()
                .property("code", string_enum(codes.iter().map(|c| c.as_str())));
            let schema = AllOfBuilder::new()
                .item(RefOr::Ref(openapi::Ref::from_schema_name(
                    ErrorAnswer::name(),
                )))
                .item(narrowed);
            let response = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            );
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

/// The operations of a path item, with their methods.
pub(crate) fn operations_mut(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::HEAD, item.head.as_mut()),
        (Method::OPTIONS, item.options.as_mut()),
        (Method::TRACE, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// `429 RATE_LIMITED` on every operation: the limiter stands in front of every route.
fn add_rate_limits(doc: &mut openapi::OpenApi) {
    let code = ErrorCode::RateLimited;
    let limited = ResponseBuilder::new()
        .description(code_line(code))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(openapi::Ref::from_schema_name(
                    RateLimitedAnswer::name(),
                ))))
                .build(),
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(openapi::KnownFormat::Int64)))
                        .minimum(Some(1)),
                ))
                .description(Some("Whole seconds to wait, the same as `retry_after`"))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            op.responses
                .responses
                .entry(code.status().to_string())
                .or_insert_with(|| RefOr::T(limited.clone()));
        }
    }
}

/// Says each `413`'s limit, from the route table the server enforces.
fn add_body_limits(doc: &mut openapi::OpenApi) {
    let status = ErrorCode::PayloadTooLarge.status().to_string();
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            if let Some(RefOr::T(response)) = op.responses.responses.get_mut(&status) {
                let limit = declared_body_limit(&method, path);
                response.description = format!(
                    "{}\n\nThis route's limit is {limit} bytes.",
                    response.description
                );
            }
        }
    }
}

/// Writes each component that is `allOf` objects (what `#[serde(flatten)]` derives, as
/// `EarnedJob` is `Job` and `credits_earned`) as the one object it stands for, so that it can
/// be closed like the others: `allOf` a closed object admits no field of the other parts.
fn flatten_all_of(doc: &mut openapi::OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let named = components.schemas.clone();
    let object_of = |part: &RefOr<Schema>| match part {
        RefOr::T(Schema::Object(object)) => Some(object.clone()),
        RefOr::Ref(reference) => {
            let name = reference.ref_location.rsplit('/').next()?;
            match named.get(name) {
                Some(RefOr::T(Schema::Object(object))) => Some(object.clone()),
                _ => None,
            }
        }
        RefOr::T(_) => None,
    };
    for schema in components.schemas.values_mut() {
        let RefOr::T(Schema::AllOf(all_of)) = schema else {
            continue;
        };
        let Some(parts) = all_of
            .items
            .iter()
            .map(object_of)
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let mut merged = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(all_of.description.clone())
            .build();
        for part in parts {
            merged.properties.extend(part.properties);
            merged.required.extend(part.required);
        }
        *schema = RefOr::T(Schema::Object(merged));
    }
}

/// Marks every object the server prints (each component, and the objects inlined in them) as
/// closed, so extra fields are a mismatch.
fn close_objects(doc: &mut openapi::OpenApi) {
    fn close(schema: &mut RefOr<Schema>) {
        if let RefOr::T(Schema::Object(object)) = schema
            && !object.properties.is_empty()
        {
            object
                .additional_properties
                .get_or_insert_with(|| Box::new(AdditionalProperties::FreeForm(false)));
            object.properties.values_mut().for_each(close);
        }
    }
    if let Some(components) = doc.components.as_mut() {
        components.schemas.values_mut().for_each(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn doc() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    #[test]
    fn is_openapi_3_1_with_the_contract_title() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "j0 API");
        assert_eq!(doc["info"]["version"], "1");
    }

    /// The codes an error response lists, read from its narrowed schema.
    fn codes_of(response: &Value) -> Vec<String> {
        response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
            .as_array()
            .map(|codes| {
                codes
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn every_operation_declares_its_refusals_and_a_429() {
        let doc = doc();
        let mut refusing = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                let responses = op["responses"].as_object().unwrap();
                let limited = &responses["429"];
                assert!(limited["headers"]["Retry-After"].is_object(), "{id}");
                // Each error response lists codes of its own status, and each with its meaning.
                for (status, response) in responses {
                    let codes = codes_of(response);
                    if !codes.is_empty() {
                        refusing += 1;
                    }
                    for code in &codes {
                        let known = ErrorCode::parse(code).unwrap();
                        assert_eq!(known.status().to_string(), *status, "{id} {code}");
                        let description = response["description"].as_str().unwrap();
                        assert!(
                            description.contains(&format!("- `{code}`: {}", known.meaning())),
                            "{method} {path}: {code} has no meaning"
                        );
                    }
                }
                // Authenticated exactly when it can refuse an unauthenticated caller.
                let secured = op.get("security").is_some();
                let unauthorized = responses
                    .get("401")
                    .is_some_and(|r| codes_of(r).iter().any(|c| c == "UNAUTHORIZED"));
                assert_eq!(secured, unauthorized, "{method} {path}: {id}");
            }
        }
        assert!(refusing > 0);
    }

    #[test]
    fn limits_match_the_domain() {
        use j0_domain::job::*;
        let doc = doc();
        let post = &doc["components"]["schemas"]["PostJobRequest"];
        assert_eq!(post["additionalProperties"], false);
        let props = &post["properties"];
        assert_eq!(props["credits"]["minimum"], json!(CREDITS_MIN));
        assert_eq!(props["credits"]["maximum"], json!(CREDITS_MAX));
        assert_eq!(props["timeout_sec"]["minimum"], json!(TIMEOUT_MIN_SEC));
        assert_eq!(props["timeout_sec"]["maximum"], json!(TIMEOUT_MAX_SEC));
        assert_eq!(props["prompt"]["maxLength"], json!(PROMPT_MAX_CHARS));
        let job = &doc["components"]["schemas"]["Job"]["properties"];
        assert_eq!(job["credits"]["minimum"], json!(CREDITS_MIN));
        assert_eq!(job["credits"]["maximum"], json!(CREDITS_MAX));
        assert_eq!(job["prompt"]["maxLength"], json!(PROMPT_MAX_CHARS));
        assert_eq!(job["result"]["maxLength"], json!(RESULT_MAX_CHARS));
        let complete = &doc["components"]["schemas"]["CompleteRequest"]["properties"];
        assert_eq!(complete["result"]["maxLength"], json!(RESULT_MAX_CHARS));
        assert_eq!(
            doc["components"]["schemas"]["Capability"]["enum"],
            json!(["opus", "sonnet", "gpt4", "gpt4-turbo", "dall-e-3"])
        );
    }

    #[test]
    fn mirror_schemas_list_exactly_what_the_domain_prints() {
        use j0_domain::{
            Cents, JobId, UserId,
            job::{Capability, Job, JobStatus},
            ledger::Balance,
            view::{BalanceView, EarnedJobView, JobView},
        };
        let at = time::OffsetDateTime::from_unix_timestamp(1_770_000_000).unwrap();
        let job = Job {
            id: JobId(9),
            requester_id: UserId(1),
            worker_id: Some(UserId(2)),
            capability: Capability::Opus,
            credits: Cents::new(10),
            timeout_sec: 30,
            status: JobStatus::Completed,
            prompt: "p".into(),
            result: Some("r".into()),
            created_at: at,
            accepted_at: Some(at),
            completed_at: Some(at),
            expires_at: at,
        };
        let view = JobView::new(&job, Some(UserId(1)));
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let required = |name: &str| {
            let mut r: Vec<String> = schemas[name]["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            r.sort();
            r
        };
        let printed = serde_json::to_value(&view).unwrap();
        assert_eq!(keys(&printed), keys(&schemas["Job"]["properties"]));
        assert_eq!(keys(&printed), required("Job"));
        let earned = serde_json::to_value(EarnedJobView {
            job: view,
            credits_earned: Cents::new(9),
        })
        .unwrap();
        assert_eq!(keys(&earned), keys(&schemas["EarnedJob"]["properties"]));
        assert_eq!(keys(&earned), required("EarnedJob"));
        let balance = serde_json::to_value(BalanceView::from(Balance::default())).unwrap();
        assert_eq!(keys(&balance), keys(&schemas["Balance"]["properties"]));
        assert_eq!(keys(&balance), required("Balance"));
        for name in [
            "Job",
            "EarnedJob",
            "Balance",
            "Me",
            "Transaction",
            "WsJobPosted",
        ] {
            assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
        }
    }
}
