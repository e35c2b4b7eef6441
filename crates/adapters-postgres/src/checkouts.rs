//! The Checkout Sessions j0 created, in PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use time::OffsetDateTime;

use j0_domain::UserId;
use j0_ports::{
    StoreError,
    payments::{CheckoutRequest, CheckoutSession, CheckoutStore},
};

use crate::{PgStore, db_error, schema};

#[async_trait]
impl CheckoutStore for PgStore {
    async fn checkout_owner(&self, session_id: &str) -> Result<Option<UserId>, StoreError> {
        use schema::checkout_sessions::dsl as s;
        let mut conn = self.conn().await?;
        let owner: Option<i64> = s::checkout_sessions
            .filter(s::session_id.eq(session_id))
            .select(s::user_id)
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(owner.map(UserId))
    }

    async fn record_checkout(
        &self,
        session: &CheckoutSession,
        request: &CheckoutRequest,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        use schema::checkout_sessions::dsl as s;
        let mut conn = self.conn().await?;
        diesel::insert_into(s::checkout_sessions)
            .values((
                s::session_id.eq(&session.id),
                s::user_id.eq(request.user.0),
                s::amount_usd.eq(i32::try_from(request.amount_usd).unwrap_or(i32::MAX)),
                s::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
