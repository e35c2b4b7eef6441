//! The handlers, one module per area of the contract; a handler's OpenAPI tag is its module's
//! name.

use actix_web::{HttpResponse, web};

use crate::{ApiState, error::ApiError};

pub(crate) mod auth;
pub(crate) mod credits;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod payments;
pub(crate) mod users;

/// The shared state, as a handler takes it.
pub(crate) type State = web::Data<ApiState>;

/// A handler's answer: the response, or an error in the envelope.
pub(crate) type Reply = Result<HttpResponse, ApiError>;
