//! `GET /credits/balance`, `GET /credits/transactions`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use j0_domain::{Cents, TransactionId, UserId, time::rfc3339, view::BalanceView};

use crate::{
    ApiState,
    error::ApiError,
    extract::{Query, QueryInt, at_least, page_limit},
    token::Caller,
};

/// A page of the history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Rows per page: default 50; above 100 is capped to 100; below 1 is a 400.
    #[param(minimum = 1, value_type = Option<i64>)]
    limit: Option<QueryInt>,
    /// Only rows with a smaller transaction id: the last `id` of the previous page.
    #[param(minimum = 1, value_type = Option<i64>)]
    before: Option<QueryInt>,
}

/// One movement of the user's credits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Transaction)]
pub(crate) struct TransactionView {
    #[schema(value_type = i64, minimum = 1)]
    id: TransactionId,
    #[schema(value_type = i64, minimum = 1)]
    user_id: UserId,
    /// Signed cents: negative for `job_post`.
    #[schema(value_type = i64)]
    amount_cents: Cents,
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::TransactionType)]
    kind: &'static str,
    /// e.g. `Posted job #456`, `Completed job #455`, `Refund for job #456 (timeout)`.
    description: String,
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: String,
}

/// The history, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Transactions)]
pub(crate) struct TransactionsResponse {
    transactions: Vec<TransactionView>,
}

/// The caller's balance.
#[utoipa::path(
    get,
    path = "/credits/balance",
    operation_id = "getBalance",
    tag = "credits",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The balance", body = crate::openapi::BalanceSchema)),
)]
pub(crate) async fn balance(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let balance = state.app.balance(caller.user).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(balance)))
}

/// The caller's credit history, newest first, one row per event.
#[utoipa::path(
    get,
    path = "/credits/transactions",
    operation_id = "listTransactions",
    tag = "credits",
    security(("bearer" = []), ("cookie" = [])),
    params(HistoryQuery),
    responses((status = 200, description = "A page of the history", body = TransactionsResponse)),
)]
pub(crate) async fn transactions(
    state: web::Data<ApiState>,
    caller: Caller,
    query: Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.0.limit, 50, 100)?;
    let before = at_least("before", query.0.before, 1)?.map(TransactionId);
    let rows = state.app.history(caller.user, before, limit).await?;
    let transactions = rows
        .into_iter()
        .map(|row| TransactionView {
            id: row.id,
            user_id: row.user_id,
            amount_cents: row.amount,
            kind: row.kind.as_str(),
            description: row.description,
            created_at: rfc3339(row.created_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(TransactionsResponse { transactions }))
}
