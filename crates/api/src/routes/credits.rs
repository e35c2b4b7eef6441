//! `GET /credits/balance`, `GET /credits/transactions`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use j0_domain::{Cents, TransactionId, UserId, time::rfc3339, view::BalanceView};

use crate::{
    ApiState,
    error::ApiError,
    extract::{Query, page_limit},
    token::Caller,
};

#[derive(Debug, Deserialize)]
pub(crate) struct HistoryQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

#[derive(Debug, Serialize)]
struct TransactionView {
    id: TransactionId,
    user_id: UserId,
    amount_cents: Cents,
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    created_at: String,
}

#[derive(Debug, Serialize)]
struct TransactionsResponse {
    transactions: Vec<TransactionView>,
}

pub(crate) async fn balance(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let balance = state.app.balance(caller.user).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(balance)))
}

pub(crate) async fn transactions(
    state: web::Data<ApiState>,
    caller: Caller,
    query: Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.0.limit, 50, 100)?;
    let before = query.0.before.map(TransactionId);
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
