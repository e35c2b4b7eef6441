//! The WebSocket's messages (`GET /ws`), both ways.
//!
//! The server writes each event once into its outbox, as the domain rendered it
//! ([`j0_domain::event`]), and sends it in an [`Envelope`]; its own notices (`subscribed`,
//! `error`, `events.truncated`) are [`SubscribedMessage`], [`ErrorMessage`] and
//! [`TruncatedMessage`], and it reads [`ClientMessage`]. [`ServerMessage`] reads any of them
//! back, so a client sees the same views `GET /jobs/:id` and `GET /credits/balance` return.
//!
//! Each kind of message is also its own type ([`StoredEvent`]'s variants, the notices,
//! [`ClientMessage`]), with its `event` pinned to one name: with the `openapi` feature these
//! describe the socket in the OpenAPI document, and the tests hold them to what the server
//! sends.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use j0_domain::{
    Cents, EventId,
    job::Capability,
    time::serde_rfc3339,
    view::{EarnedJobView, JobView},
};

use crate::BalanceView;

/// A message from the server: `{"id", "event", "data", "timestamp"}`. Acknowledgements and
/// notices (`subscribed`, `error`, `events.truncated`) carry no `id` or `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMessage {
    /// The event's delivery id; what `?since=` resumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EventId>,
    /// The event and its data.
    #[serde(flatten)]
    pub body: EventBody,
    /// When the change committed.
    #[serde(
        default,
        with = "serde_rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<OffsetDateTime>,
}

/// What a message says, by its `event` name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data")]
pub enum EventBody {
    /// A new job, as a non-participant sees it.
    #[serde(rename = "job.posted")]
    JobPosted(JobView),
    /// The requester's job was accepted.
    #[serde(rename = "job.accepted")]
    JobAccepted(JobView),
    /// A job was completed: the requester's copy has the result, the worker's also what it
    /// earned.
    #[serde(rename = "job.completed")]
    JobCompleted(CompletedEvent),
    /// A job timed out and was refunded.
    #[serde(rename = "job.timeout")]
    JobTimeout(JobView),
    /// The recipient's balance changed.
    #[serde(rename = "balance.updated")]
    BalanceUpdated(BalanceView),
    /// Events after `since` were pruned before this replay: resync over REST.
    #[serde(rename = "events.truncated")]
    EventsTruncated(Truncated),
    /// The answer to a [`ClientMessage::Subscribe`].
    #[serde(rename = "subscribed")]
    Subscribed(Subscribed),
    /// A client message was refused; nothing changed.
    #[serde(rename = "error")]
    Error(WsError),
}

/// The data of `job.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedEvent {
    /// The job as the recipient sees it.
    #[serde(flatten)]
    pub job: JobView,
    /// What the worker earned; only in the worker's copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_earned: Option<Cents>,
}

/// The requested resume point and the oldest event kept: the data of `events.truncated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Truncated {
    /// The `since` the client asked for.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
    pub since: EventId,
    /// The oldest event id still kept, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, required = true))]
    pub oldest_id: Option<EventId>,
}

/// The list now in force: the data of `subscribed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscribed {
    /// The capabilities `job.posted` is now narrowed to; empty means all.
    pub capabilities: Vec<Capability>,
}

/// What was wrong with the message: the data of `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WsError {
    /// The contract's code, `VALIDATION_ERROR`.
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::validation_error_code)
    )]
    pub code: String,
    /// What was wrong.
    pub error: String,
}

/// Client message: receive `job.posted` only for these capabilities (empty: all); replaces the
/// previous list.
// The capabilities stay names, so that the server refuses an unknown one with the domain's own
// message, as it does a query's `capability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = WsSubscribe))]
#[serde(deny_unknown_fields)]
pub struct ClientMessage {
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub action: Action,
    /// The capabilities' names.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Capability>))]
    pub capabilities: Vec<String>,
}

impl ClientMessage {
    /// Narrow `job.posted` to `capabilities`; empty means all.
    pub fn subscribe(capabilities: &[Capability]) -> Self {
        Self {
            action: Action::Subscribe,
            capabilities: capabilities.iter().map(|c| c.as_str().to_owned()).collect(),
        }
    }
}

/// What the message asks for; `subscribe` is the only action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace the subscription.
    Subscribe,
}

/// The one-value names that tell the server's messages apart, each the `event` of one kind.
pub mod name {
    use serde::{Deserialize, Serialize};

    /// Declares a message name: a type with the one value `$value`. (Its schema is written
    /// here rather than derived: the derive does not see a `rename` a macro passes it.)
    macro_rules! name {
        ($($name:ident = $value:literal;)+) => {$(
            #[doc = concat!("`", $value, "`.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
            pub enum $name {
                #[doc = concat!("`", $value, "`.")]
                #[default]
                #[serde(rename = $value)]
                Name,
            }

            #[cfg(feature = "openapi")]
            impl utoipa::PartialSchema for $name {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                    utoipa::openapi::RefOr::T(crate::schema::string_enum([$value]))
                }
            }

            #[cfg(feature = "openapi")]
            impl utoipa::ToSchema for $name {}
        )+};
    }

    name! {
        JobPosted = "job.posted";
        JobAccepted = "job.accepted";
        JobCompleted = "job.completed";
        JobTimeout = "job.timeout";
        BalanceUpdated = "balance.updated";
        EventsTruncated = "events.truncated";
        Subscribed = "subscribed";
        Error = "error";
    }
}

/// A stored event as every server instance sends it: `{id, event, data, timestamp}`, the data
/// as the outbox holds it (rendered by [`j0_domain::event`] in the change's transaction).
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// The event's delivery id.
    pub id: EventId,
    /// Its name, one of [`j0_domain::event`]'s.
    pub event: &'a str,
    /// What its recipient may see.
    pub data: &'a serde_json::Value,
    /// When the change committed.
    #[serde(with = "serde_rfc3339")]
    pub timestamp: OffsetDateTime,
}

/// Declares the message of one stored event: the [`Envelope`] of `$data`, named `$event`.
///
/// The fields are those of [`Envelope`] and carry no doc comments of their own: the schema
/// derive wraps an inlined field that has one in an `allOf` with its description.
macro_rules! stored_event {
    ($(
        $(#[$doc:meta])*
        $name:ident as $schema:ident: $event:ident($(#[$data_meta:meta])* $data:ty);
    )+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = $schema))]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
            pub id: EventId,
            #[cfg_attr(feature = "openapi", schema(inline))]
            pub event: name::$event,
            $(#[$data_meta])*
            pub data: $data,
            #[serde(with = "serde_rfc3339")]
            #[cfg_attr(
                feature = "openapi",
                schema(inline, value_type = j0_domain::openapi::Timestamp)
            )]
            pub timestamp: OffsetDateTime,
        }
    )+};
}

stored_event! {
    /// To every client (narrowed by its subscription): a new job as a non-participant sees it.
    JobPostedMessage as WsJobPosted: JobPosted(JobView);
    /// To the requester: their job was accepted.
    JobAcceptedMessage as WsJobAccepted: JobAccepted(JobView);
    /// To the requester (the job with its result) and the worker (the job and `credits_earned`).
    JobCompletedMessage as WsJobCompleted: JobCompleted(
        #[cfg_attr(feature = "openapi", schema(inline))]
        CompletedData
    );
    /// To the requester and the worker, if any: the job timed out and was refunded.
    JobTimeoutMessage as WsJobTimeout: JobTimeout(JobView);
    /// To the user whose balance changed.
    BalanceUpdatedMessage as WsBalanceUpdated: BalanceUpdated(BalanceView);
}

/// The data of `job.completed`: the worker's copy has `credits_earned`, the requester's does
/// not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CompletedData {
    /// The worker's copy.
    Earned(EarnedJobView),
    /// The requester's copy.
    Job(JobView),
}

/// A message carrying a stored event; ids increase, and `?since=<id>` resumes after one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = WsEvent))]
#[serde(untagged)]
pub enum StoredEvent {
    /// `job.posted`.
    JobPosted(JobPostedMessage),
    /// `job.accepted`.
    JobAccepted(JobAcceptedMessage),
    /// `job.completed`.
    JobCompleted(JobCompletedMessage),
    /// `job.timeout`.
    JobTimeout(JobTimeoutMessage),
    /// `balance.updated`.
    BalanceUpdated(BalanceUpdatedMessage),
}

/// Declares a notice the server writes on its own, with no `id` or `timestamp`: `$data` named
/// `$event`.
macro_rules! notice {
    ($($(#[$doc:meta])* $name:ident as $schema:ident: $event:ident($data:ty);)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = $schema))]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[cfg_attr(feature = "openapi", schema(inline))]
            event: name::$event,
            #[cfg_attr(feature = "openapi", schema(inline))]
            data: $data,
        }

        impl $name {
            /// The notice carrying `data`.
            pub fn new(data: $data) -> Self {
                Self { event: name::$event::Name, data }
            }
        }
    )+};
}

notice! {
    /// Answer to `WsSubscribe`.
    SubscribedMessage as WsSubscribed: Subscribed(Subscribed);
    /// Answer to a client message that is not a valid `WsSubscribe`; nothing changes.
    ErrorMessage as WsError: Error(WsError);
    /// First message of a replay from a `since` older than the oldest kept event: resync over REST.
    TruncatedMessage as WsEventsTruncated: EventsTruncated(Truncated);
}

#[cfg(test)]
mod tests {
    use j0_domain::{
        JobId, UserId,
        event::{self as domain, Outgoing},
        job::{Job, JobStatus},
        ledger::Balance,
    };
    use serde_json::{Value, json};
    use time::macros::datetime;

    use super::*;

    #[test]
    fn names_are_the_domains_event_names() {
        let pairs = [
            (json!(name::JobPosted::Name), domain::JOB_POSTED),
            (json!(name::JobAccepted::Name), domain::JOB_ACCEPTED),
            (json!(name::JobCompleted::Name), domain::JOB_COMPLETED),
            (json!(name::JobTimeout::Name), domain::JOB_TIMEOUT),
            (json!(name::BalanceUpdated::Name), domain::BALANCE_UPDATED),
        ];
        for (name, event) in pairs {
            assert_eq!(name, event);
        }
    }

    fn job() -> Job {
        let at = datetime!(2026-02-13 23:00:00 UTC);
        Job {
            id: JobId(9),
            requester_id: UserId(1),
            worker_id: Some(UserId(2)),
            capability: Capability::Opus,
            credits: Cents::new(10),
            timeout_sec: 30,
            status: JobStatus::Completed,
            prompt: "p".repeat(300),
            result: Some("r".into()),
            created_at: at,
            accepted_at: Some(at),
            completed_at: Some(at),
            expires_at: at,
        }
    }

    /// `outgoing` as the server sends it, in its [`Envelope`].
    fn sent(outgoing: &Outgoing) -> Value {
        serde_json::to_value(Envelope {
            id: EventId(7),
            event: outgoing.event,
            data: &outgoing.data,
            timestamp: datetime!(2026-02-13 23:00:00 UTC),
        })
        .unwrap()
    }

    /// Every event the domain renders, sent in its envelope, is exactly one [`StoredEvent`]:
    /// it reads back as that type and writes out again unchanged, so the document's
    /// description of each message is what the server sends.
    #[test]
    fn every_stored_event_reads_as_its_message_type() {
        let job = job();
        let balance = Outgoing {
            event: domain::BALANCE_UPDATED,
            recipient: Some(UserId(1)),
            data: serde_json::to_value(BalanceView::from(Balance::default())).unwrap(),
        };
        let events: Vec<Outgoing> = [
            domain::job_posted(&job),
            domain::job_accepted(&job),
            domain::job_completed(&job, Cents::new(9)),
            domain::job_timeout(&job),
            vec![balance],
        ]
        .concat();
        let mut kinds = Vec::new();
        for outgoing in &events {
            let text = sent(outgoing);
            let read: StoredEvent = serde_json::from_value(text.clone()).unwrap();
            assert_eq!(
                serde_json::to_value(&read).unwrap(),
                text,
                "{}",
                outgoing.event
            );
            kinds.push(match read {
                StoredEvent::JobPosted(_) => domain::JOB_POSTED,
                StoredEvent::JobAccepted(_) => domain::JOB_ACCEPTED,
                StoredEvent::JobCompleted(m) => match m.data {
                    CompletedData::Earned(_) => "earned",
                    CompletedData::Job(_) => domain::JOB_COMPLETED,
                },
                StoredEvent::JobTimeout(_) => domain::JOB_TIMEOUT,
                StoredEvent::BalanceUpdated(_) => domain::BALANCE_UPDATED,
            });
        }
        let names: Vec<&str> = events.iter().map(|o| o.event).collect();
        assert_eq!(
            kinds,
            [
                names[0], names[1], names[2], "earned", names[4], names[5], names[6]
            ]
        );
    }

    #[test]
    fn a_client_reads_every_message_the_server_writes() {
        let read = |text: Value| serde_json::from_value::<ServerMessage>(text).unwrap();
        let subscribed = SubscribedMessage::new(Subscribed {
            capabilities: vec![Capability::Sonnet, Capability::DallE3],
        });
        assert_eq!(
            serde_json::to_value(&subscribed).unwrap(),
            json!({"event": "subscribed", "data": {"capabilities": ["sonnet", "dall-e-3"]}})
        );
        assert!(matches!(
            read(serde_json::to_value(&subscribed).unwrap()).body,
            EventBody::Subscribed(_)
        ));
        let error = ErrorMessage::new(WsError {
            code: "VALIDATION_ERROR".into(),
            error: "capability: must be one of …".into(),
        });
        assert!(matches!(
            read(serde_json::to_value(&error).unwrap()).body,
            EventBody::Error(WsError { code, .. }) if code == "VALIDATION_ERROR"
        ));
        let truncated = TruncatedMessage::new(Truncated {
            since: EventId(3),
            oldest_id: None,
        });
        assert_eq!(
            serde_json::to_value(&truncated).unwrap(),
            json!({"event": "events.truncated", "data": {"since": 3, "oldest_id": null}})
        );
        let message = read(serde_json::to_value(&truncated).unwrap());
        assert!(matches!(message.body, EventBody::EventsTruncated(_)));
        assert_eq!((message.id, message.timestamp), (None, None));
        for outgoing in domain::job_completed(&job(), Cents::new(9)) {
            let message = read(sent(&outgoing));
            assert_eq!(message.id, Some(EventId(7)));
            assert!(matches!(message.body, EventBody::JobCompleted(_)));
        }
    }

    #[test]
    fn the_client_message_is_what_the_server_reads() {
        let message = ClientMessage::subscribe(&[Capability::Gpt4Turbo]);
        let text = serde_json::to_value(&message).unwrap();
        assert_eq!(
            text,
            json!({"action": "subscribe", "capabilities": ["gpt4-turbo"]})
        );
        assert_eq!(
            serde_json::from_value::<ClientMessage>(text).unwrap(),
            message
        );
        let unknown = json!({"action": "subscribe", "capabilities": [], "extra": 1});
        assert!(serde_json::from_value::<ClientMessage>(unknown).is_err());
    }
}
