//! The OpenAPI 3.1 document of the whole contract, generated from the handlers.
//!
//! Each handler carries its own `#[utoipa::path]` (body, parameters, 200 answer, security), and
//! the request types their own limits, so the document moves with the code. What is the same
//! for many operations is added here once, after generation, so it cannot drift between them:
//!
//! - the error answers, from one table of `code`s per operation ([`ERRORS`]); each becomes a
//!   response whose schema pins `code` to exactly those values, plus `401 UNAUTHORIZED` on every
//!   authenticated operation and `429 RATE_LIMITED` (with `Retry-After`) on every operation;
//! - the security schemes, `bearer` (the `Authorization` header) and `cookie` (`j0_token`);
//! - `GET /ws` and the WebSocket messages, which live in `j0-ws` but belong to the contract;
//! - `additionalProperties: false` on every object the server prints, so a client (or a
//!   schema checker) learns of any field the document does not list.
//!
//! The bodies' schemas come from the types that serialize them (`j0-wire`, feature `openapi`);
//! the domain's jobs and balances are described there by mirror types (`JobSchema`,
//! `BalanceSchema`), which tests compare with what the server really sends.
//!
//! Paths are written in full (`/api/v1/jobs`, `/ws`) with the one server `/`, so a tool pointed
//! at the served document reaches every operation on the same host.

use actix_web::{HttpResponse, http::Method, web};
use utoipa::{
    IntoParams, OpenApi,
    openapi::{
        self, ContentBuilder, ObjectBuilder, RefOr, Schema, Type,
        header::HeaderBuilder,
        path::{Operation, PathItem},
        response::ResponseBuilder,
        schema::{AdditionalProperties, AllOfBuilder, SchemaFormat},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        server::Server,
    },
};

use j0_domain::{
    job::{Capability, JobStatus},
    view::{BalanceView, JobView},
};
use j0_wire::events::{
    ClientMessage, ErrorMessage, StoredEvent, SubscribedMessage, TruncatedMessage,
};
use j0_wire::schema::string_enum;

use crate::{
    BASE_PATH, declared_body_limit,
    error::{ErrorAnswer, RateLimitedAnswer},
    routes,
};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// Where the interactive documentation is served.
pub const DOCS_PATH: &str = "/docs";
/// Path of the WebSocket (outside [`BASE_PATH`]).
pub const WS_PATH: &str = "/ws";

/// The REST operations, relative to [`BASE_PATH`].
#[derive(OpenApi)]
#[openapi(paths(
    routes::auth::challenge,
    routes::auth::verify,
    routes::auth::logout,
    routes::users::me,
    routes::users::by_id,
    routes::credits::balance,
    routes::credits::transactions,
    routes::jobs::post,
    routes::jobs::list,
    routes::jobs::get,
    routes::jobs::accept,
    routes::jobs::complete,
    routes::jobs::cancel,
    routes::payments::checkout,
    routes::payments::webhook,
    routes::payments::usdc_address,
    routes::health::health,
    serve,
))]
struct Rest;

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
        JobView,
        BalanceView,
        Capability,
        JobStatus,
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
    add_error_responses(&mut doc);
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
    responses((
        status = 101,
        description = "Switched to the WebSocket protocol. The server sends `WsEvent` messages \
            (`{id, event, data, timestamp}`) addressed to the caller, and answers a \
            `WsSubscribe` message with `WsSubscribed` or `WsError`; a replay from a `since` \
            older than the oldest kept event starts with `WsEventsTruncated`. The server pings \
            every 20 s and closes a connection silent for 60 s.",
    )),
)]
#[allow(dead_code, reason = "describes j0-ws's handler; never called")]
fn ws() {}

/// Query parameters of `GET /ws`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "describes the query; never built")]
struct WsQuery {
    /// Replay every event addressed to the caller with a larger id first, then go live.
    #[param(minimum = 0)]
    since: Option<i64>,
}

/// A path id: a positive 64-bit integer.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "describes the path; never built")]
pub(crate) struct IdParam {
    /// A positive 64-bit integer. `0` or an unknown id is a 404 with the resource's
    /// `*_NOT_FOUND` code; text that is not a positive integer (`abc`, `1.5`, overflow) is a
    /// 400 `VALIDATION_ERROR`.
    #[param(minimum = 1)]
    id: i64,
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

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(openapi::Ref::from_schema_name(name))
}

fn int64(minimum: Option<i64>) -> RefOr<Schema> {
    RefOr::T(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(openapi::KnownFormat::Int64)))
            .minimum(minimum)
            .into(),
    )
}

/// Error codes a response may carry.
type Codes = &'static [&'static str];

/// The error answers of each operation (by `operationId`), besides the `401 UNAUTHORIZED` of
/// every authenticated operation and the `429 RATE_LIMITED` of every operation.
pub(crate) const ERRORS: &[(&str, &[(u16, Codes)])] = &[
    (
        "createChallenge",
        &[
            (400, &["VALIDATION_ERROR"]),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (415, &["UNSUPPORTED_MEDIA_TYPE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "verifySignature",
        &[
            (400, &["VALIDATION_ERROR"]),
            (
                401,
                &[
                    "INVALID_SIGNATURE",
                    "CHALLENGE_NOT_FOUND",
                    "CHALLENGE_EXPIRED",
                    "CHALLENGE_USED",
                ],
            ),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (415, &["UNSUPPORTED_MEDIA_TYPE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "logout",
        &[
            (413, &["PAYLOAD_TOO_LARGE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    ("getMe", &[(503, &["SERVICE_UNAVAILABLE"])]),
    (
        "getUser",
        &[
            (400, &["VALIDATION_ERROR"]),
            (404, &["USER_NOT_FOUND"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    ("getBalance", &[(503, &["SERVICE_UNAVAILABLE"])]),
    (
        "listTransactions",
        &[
            (400, &["VALIDATION_ERROR"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "postJob",
        &[
            (
                400,
                &[
                    "VALIDATION_ERROR",
                    "INSUFFICIENT_CREDITS",
                    "IDEMPOTENCY_KEY_REUSED",
                ],
            ),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (415, &["UNSUPPORTED_MEDIA_TYPE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "listJobs",
        &[
            (400, &["VALIDATION_ERROR"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "getJob",
        &[
            (400, &["VALIDATION_ERROR"]),
            (404, &["JOB_NOT_FOUND"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "acceptJob",
        &[
            (
                400,
                &[
                    "VALIDATION_ERROR",
                    "JOB_ALREADY_ACCEPTED",
                    "JOB_EXPIRED",
                    "JOB_NOT_AVAILABLE",
                    "TOO_MANY_OPEN_JOBS",
                ],
            ),
            (403, &["OWN_JOB"]),
            (404, &["JOB_NOT_FOUND"]),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "completeJob",
        &[
            (
                400,
                &["VALIDATION_ERROR", "JOB_NOT_ACCEPTED", "TIMEOUT_EXPIRED"],
            ),
            (403, &["NOT_THE_WORKER"]),
            (404, &["JOB_NOT_FOUND"]),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (415, &["UNSUPPORTED_MEDIA_TYPE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "cancelJob",
        &[
            (
                400,
                &[
                    "VALIDATION_ERROR",
                    "JOB_ALREADY_ACCEPTED",
                    "JOB_NOT_AVAILABLE",
                ],
            ),
            (403, &["NOT_THE_REQUESTER"]),
            (404, &["JOB_NOT_FOUND"]),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "createCheckout",
        &[
            (400, &["VALIDATION_ERROR", "INVALID_AMOUNT"]),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (415, &["UNSUPPORTED_MEDIA_TYPE"]),
            (503, &["PAYMENTS_UNAVAILABLE", "SERVICE_UNAVAILABLE"]),
        ],
    ),
    (
        "stripeWebhook",
        &[
            (400, &["INVALID_WEBHOOK_SIGNATURE", "VALIDATION_ERROR"]),
            (413, &["PAYLOAD_TOO_LARGE"]),
            (503, &["PAYMENTS_UNAVAILABLE", "SERVICE_UNAVAILABLE"]),
        ],
    ),
    ("getUsdcAddress", &[(503, &["SERVICE_UNAVAILABLE"])]),
    ("health", &[]),
    ("getOpenApi", &[]),
    (
        "connectWebSocket",
        &[
            (400, &["VALIDATION_ERROR"]),
            (503, &["SERVICE_UNAVAILABLE"]),
        ],
    ),
];

/// What each code means, for the responses' descriptions.
const MEANINGS: &[(&str, &str)] = &[
    (
        "VALIDATION_ERROR",
        "malformed JSON, a wrong type, an unknown or missing field, a value out of range, or a \
         bad path id, query parameter or header; the message names the field",
    ),
    (
        "UNAUTHORIZED",
        "missing, malformed, expired, revoked or tampered token",
    ),
    (
        "INVALID_SIGNATURE",
        "the signature is malformed or not by `public_key`",
    ),
    (
        "CHALLENGE_NOT_FOUND",
        "no such nonce, or a nonce issued to another address",
    ),
    ("CHALLENGE_EXPIRED", "the challenge is older than 60 s"),
    (
        "CHALLENGE_USED",
        "the challenge was already exchanged for a token",
    ),
    ("USER_NOT_FOUND", "no user has this id"),
    ("JOB_NOT_FOUND", "no job has this id"),
    (
        "INSUFFICIENT_CREDITS",
        "`Insufficient credits: have <total_cents>, need <credits>`",
    ),
    (
        "IDEMPOTENCY_KEY_REUSED",
        "this `Idempotency-Key` was used in the last 24 h with a different body",
    ),
    (
        "JOB_ALREADY_ACCEPTED",
        "the job is `accepted` or `completed`",
    ),
    (
        "JOB_EXPIRED",
        "the job timed out, or its acceptance window has passed",
    ),
    (
        "JOB_NOT_AVAILABLE",
        "the job is `cancelled`, `timeout`, or past its acceptance window",
    ),
    (
        "JOB_NOT_ACCEPTED",
        "the job was never accepted, or is already completed",
    ),
    ("TIMEOUT_EXPIRED", "the worker's time ran out"),
    (
        "TOO_MANY_OPEN_JOBS",
        "the caller already holds `J0_MAX_OPEN_JOBS_PER_WORKER` unexpired accepted jobs \
         (default 10); checked after every other rule, and nothing changed",
    ),
    ("OWN_JOB", "the caller posted this job"),
    ("NOT_THE_WORKER", "the caller did not accept this job"),
    ("NOT_THE_REQUESTER", "the caller did not post this job"),
    (
        "INVALID_AMOUNT",
        "`amount_usd` is not one of 5, 10, 20, 50, 100",
    ),
    (
        "INVALID_WEBHOOK_SIGNATURE",
        "`Stripe-Signature` is missing, wrong or outside the 5-minute tolerance; nothing changed",
    ),
    (
        "PAYMENTS_UNAVAILABLE",
        "Stripe is not configured, unreachable or failing; nothing was recorded",
    ),
    (
        "SERVICE_UNAVAILABLE",
        "the database is out of reach; retry later",
    ),
    (
        "UNSUPPORTED_MEDIA_TYPE",
        "`Content-Type` is not `application/json`",
    ),
    ("PAYLOAD_TOO_LARGE", "the body is over the route's limit"),
];

fn meaning(code: &str) -> &'static str {
    MEANINGS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, m)| *m)
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

/// A JSON error response whose `code` is one of `codes`.
fn error_response(codes: &[&str], detail: Option<String>) -> ResponseBuilder {
    let mut description = codes
        .iter()
        .map(|code| format!("- `{code}`: {}", meaning(code)))
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(detail) = detail {
        description = format!("{description}\n\n{detail}");
    }
    let narrowed = ObjectBuilder::new().property("code", string_enum(codes.iter().copied()));
    let schema = Schema::AllOf(
        AllOfBuilder::new()
            .item(reference("Error"))
            .item(narrowed)
            .build(),
    );
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    )
}

fn rate_limited_response() -> openapi::Response {
    ResponseBuilder::new()
        .description("- `RATE_LIMITED`: too many requests from this IP or user; retry after `retry_after` seconds")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(reference("RateLimited")))
                .build(),
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(int64(Some(1))))
                .description(Some("Whole seconds to wait, the same as `retry_after`"))
                .build(),
        )
        .build()
}

fn add_error_responses(doc: &mut openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            let id = op.operation_id.clone().unwrap_or_default();
            let mut errors: Vec<(u16, Vec<&str>)> = ERRORS
                .iter()
                .find(|(op_id, _)| *op_id == id)
                .map(|(_, list)| list.iter().map(|(s, c)| (*s, c.to_vec())).collect())
                .unwrap_or_default();
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                match errors.iter_mut().find(|(status, _)| *status == 401) {
                    Some((_, codes)) => codes.insert(0, "UNAUTHORIZED"),
                    None => errors.push((401, vec!["UNAUTHORIZED"])),
                }
            }
            for (status, codes) in errors {
                let detail = (status == 413).then(|| {
                    format!(
                        "This route's limit is {} bytes.",
                        declared_body_limit(&method, path)
                    )
                });
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(error_response(&codes, detail).build()));
            }
            op.responses
                .responses
                .entry("429".into())
                .or_insert_with(|| RefOr::T(rate_limited_response()));
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

    #[test]
    fn every_operation_has_an_error_table_entry_and_a_429() {
        let doc = doc();
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                ids.push(id.to_owned());
                assert!(
                    ERRORS.iter().any(|(op_id, _)| *op_id == id),
                    "{method} {path}: {id} has no entry in ERRORS"
                );
                let limited = &op["responses"]["429"];
                assert!(limited["headers"]["Retry-After"].is_object(), "{id}");
                if op.get("security").is_some() {
                    assert!(op["responses"]["401"].is_object(), "{id}");
                }
            }
        }
        for (id, _) in ERRORS {
            assert!(ids.iter().any(|i| i == id), "ERRORS names unknown {id}");
        }
        for (_, list) in ERRORS {
            for (_, codes) in *list {
                for code in *codes {
                    assert!(!meaning(code).is_empty(), "{code} has no meaning");
                }
            }
        }
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
