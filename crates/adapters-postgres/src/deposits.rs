//! USDC deposits in PostgreSQL: deposit addresses, and credits that move the cursor with them.

use std::collections::HashMap;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;

use j0_domain::{UserId, WalletAddress, posting::Posting};
use j0_ports::{
    StoreError,
    chain::{Deposit, DepositStore},
    ledger::CreditOutcome,
};

use crate::{
    PgStore, corrupt, db_error,
    ledger::{credit_purchase_in, lock_users},
    schema,
};

#[async_trait]
impl DepositStore for PgStore {
    async fn register_deposit_address(
        &self,
        user: UserId,
        address: &WalletAddress,
    ) -> Result<(), StoreError> {
        use schema::deposit_addresses::dsl as d;
        let mut conn = self.conn().await?;
        diesel::insert_into(d::deposit_addresses)
            .values((
                d::address.eq(address.as_bytes().as_slice()),
                d::user_id.eq(user.0),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn deposit_addresses(
        &self,
        after: Option<&WalletAddress>,
        limit: usize,
    ) -> Result<Vec<WalletAddress>, StoreError> {
        use schema::deposit_addresses::dsl as d;
        let mut conn = self.conn().await?;
        let mut query = d::deposit_addresses
            .select(d::address)
            .order(d::address)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(d::address.gt(after.as_bytes().to_vec()));
        }
        let rows: Vec<Vec<u8>> = query.load(&mut conn).await.map_err(db_error)?;
        rows.into_iter()
            .map(|bytes| {
                <[u8; 20]>::try_from(bytes)
                    .map(WalletAddress::from_bytes)
                    .map_err(|_| corrupt("deposit address"))
            })
            .collect()
    }

    async fn deposit_cursor(&self, chain_id: u64) -> Result<Option<u64>, StoreError> {
        use schema::chain_cursors::dsl as c;
        let mut conn = self.conn().await?;
        let next: Option<i64> = c::chain_cursors
            .filter(c::chain_id.eq(chain_id as i64))
            .select(c::next_block)
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        Ok(next.map(|n| n as u64))
    }

    async fn record_deposits(
        &self,
        chain_id: u64,
        deposits: &[Deposit],
        next_block: u64,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        use schema::{chain_cursors::dsl as c, deposit_addresses::dsl as d};
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            let recipients: Vec<&[u8]> = deposits
                .iter()
                .map(|d| d.to.as_bytes().as_slice())
                .collect();
            let owners: HashMap<Vec<u8>, i64> = if recipients.is_empty() {
                HashMap::new()
            } else {
                d::deposit_addresses
                    .filter(d::address.eq_any(&recipients))
                    .select((d::address, d::user_id))
                    .load::<(Vec<u8>, i64)>(conn)
                    .await?
                    .into_iter()
                    .collect()
            };
            let users: Vec<i64> = owners.values().copied().collect();
            lock_users(conn, &users).await?;
            let mut credited = 0;
            for deposit in deposits {
                let Some(&user) = owners.get(deposit.to.as_bytes().as_slice()) else {
                    continue;
                };
                let purchase = Posting::usdc_deposit(
                    chain_id,
                    &deposit.tx_hash,
                    deposit.log_index,
                    UserId(user),
                    deposit.amount,
                );
                if deposit.amount.get() > 0
                    && matches!(
                        credit_purchase_in(conn, &purchase, now).await?,
                        CreditOutcome::Credited
                    )
                {
                    credited += 1;
                }
            }
            // Watchers of several instances may overlap: the cursor only moves forward, and a
            // range scanned twice credits nothing twice.
            diesel::insert_into(c::chain_cursors)
                .values((
                    c::chain_id.eq(chain_id as i64),
                    c::next_block.eq(next_block as i64),
                ))
                .on_conflict(c::chain_id)
                .do_update()
                .set(
                    c::next_block.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                        "GREATEST(chain_cursors.next_block, EXCLUDED.next_block)",
                    )),
                )
                .execute(conn)
                .await?;
            Ok(credited)
        })
        .await
        .map_err(db_error)
    }
}
