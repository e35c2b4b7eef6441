//! `GET /credits/balance`, `GET /credits/transactions`.

use actix_web::HttpResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use j0_domain::{TransactionId, view::BalanceView};
use j0_wire::credits::{Transaction, Transactions};

use super::{BalanceRefusals, HistoryRefusals, Reply, State};
use crate::{
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

/// The caller's balance.
#[utoipa::path(
    get, path = "/credits/balance", operation_id = "getBalance",
    responses((status = 200, description = "The balance", body = BalanceView), BalanceRefusals),
)]
pub(crate) async fn balance(state: State, caller: Caller) -> Reply {
    let balance = state.app.balance(caller.user).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(balance)))
}

/// The caller's credit history, newest first, one row per event.
#[utoipa::path(
    get, path = "/credits/transactions", operation_id = "listTransactions", params(HistoryQuery),
    responses(
        (status = 200, description = "A page of the history", body = Transactions),
        HistoryRefusals,
    ),
)]
pub(crate) async fn transactions(
    state: State,
    caller: Caller,
    query: Query<HistoryQuery>,
) -> Reply {
    let limit = page_limit(query.0.limit, 50, 100)?;
    let before = at_least("before", query.0.before, 1)?.map(TransactionId);
    let rows = state.app.history(caller.user, before, limit).await?;
    let transactions = rows
        .into_iter()
        .map(|row| Transaction {
            id: row.id,
            user_id: row.user_id,
            amount_cents: row.amount,
            kind: row.kind,
            description: row.description,
            created_at: row.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Transactions { transactions }))
}
