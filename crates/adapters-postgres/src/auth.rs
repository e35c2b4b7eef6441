//! Challenges, sign-in and token revocation in PostgreSQL.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use j0_domain::{
    Cents, UserId, WalletAddress,
    auth::{Challenge, ChallengeRefusal, Nonce, StoredChallenge},
    ledger::CHECKOUT_RECORD_LIFETIME,
    posting::Posting,
    user::User,
};
use j0_ports::{AuthStore, ConsumeError, StoreError, UserStore};

use crate::{PgStore, TxError, corrupt, db_error, ledger, rows::UserRow, schema};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = schema::auth_challenges)]
struct ChallengeRow {
    nonce: String,
    address: Vec<u8>,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
}

impl ChallengeRow {
    fn into_domain(self) -> Result<StoredChallenge, StoreError> {
        let bytes: [u8; 20] = self
            .address
            .try_into()
            .map_err(|_| corrupt("challenge address"))?;
        Ok(StoredChallenge {
            challenge: Challenge {
                address: WalletAddress::from_bytes(bytes),
                nonce: Nonce::from_client(self.nonce),
                issued_at: self.issued_at,
                expires_at: self.expires_at,
            },
            used: self.used_at.is_some(),
        })
    }
}

#[async_trait]
impl AuthStore for PgStore {
    async fn save_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        use schema::auth_challenges::dsl as c;
        let mut conn = self.conn().await?;
        diesel::insert_into(c::auth_challenges)
            .values((
                c::nonce.eq(challenge.nonce.as_str()),
                c::address.eq(challenge.address.as_bytes().as_slice()),
                c::issued_at.eq(challenge.issued_at),
                c::expires_at.eq(challenge.expires_at),
            ))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn find_challenge(&self, nonce: &Nonce) -> Result<Option<StoredChallenge>, StoreError> {
        use schema::auth_challenges::dsl as c;
        let mut conn = self.conn().await?;
        let row: Option<ChallengeRow> = c::auth_challenges
            .filter(c::nonce.eq(nonce.as_str()))
            .select(ChallengeRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(ChallengeRow::into_domain).transpose()
    }

    async fn consume_challenge(
        &self,
        challenge: &Challenge,
        now: OffsetDateTime,
        signup_promo: Cents,
    ) -> Result<User, ConsumeError> {
        use schema::{auth_challenges::dsl as c, users::dsl as u};
        let Challenge { nonce, address, .. } = challenge;
        let mut conn = self.conn().await?;
        let address_bytes = address.as_bytes().to_vec();
        let result = conn
            .transaction::<_, TxError<ChallengeRefusal>, _>(async |conn| {
                let consumed = diesel::update(c::auth_challenges)
                    .filter(c::nonce.eq(nonce.as_str()))
                    .filter(c::address.eq(&address_bytes))
                    .filter(c::used_at.is_null())
                    .filter(c::expires_at.gt(now))
                    .set(c::used_at.eq(now))
                    .execute(conn)
                    .await?;
                if consumed == 0 {
                    let row: Option<ChallengeRow> = c::auth_challenges
                        .filter(c::nonce.eq(nonce.as_str()))
                        .select(ChallengeRow::as_select())
                        .first(conn)
                        .await
                        .optional()?;
                    let refusal = match row.map(ChallengeRow::into_domain) {
                        Some(Ok(stored)) => stored
                            .check(address, now)
                            .err()
                            .unwrap_or(ChallengeRefusal::Used),
                        _ => ChallengeRefusal::NotFound,
                    };
                    return Err(TxError::Outcome(refusal));
                }
                let created: Option<UserRow> = diesel::insert_into(u::users)
                    .values((u::address.eq(&address_bytes), u::created_at.eq(now)))
                    .on_conflict(u::address)
                    .do_nothing()
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                match created {
                    Some(row) => {
                        if signup_promo.get() > 0 {
                            let grant = Posting::signup_grant(UserId(row.id), signup_promo);
                            ledger::write(conn, &grant, now).await?;
                        }
                        Ok(row)
                    }
                    None => Ok(u::users
                        .filter(u::address.eq(&address_bytes))
                        .select(UserRow::as_select())
                        .first(conn)
                        .await?),
                }
            })
            .await;
        match result {
            Ok(row) => Ok(row.into_domain()?),
            Err(TxError::Outcome(refusal)) => Err(ConsumeError::Refused(refusal)),
            Err(TxError::Db(e)) => Err(ConsumeError::Store(db_error(e))),
        }
    }

    async fn revoke_token(&self, jti: &str, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        use schema::revoked_tokens::dsl as r;
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            diesel::insert_into(r::revoked_tokens)
                .values((r::jti.eq(jti), r::expires_at.eq(expires_at)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            // Delivered to every instance's listener once this commits, never before.
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(crate::events::REVOCATIONS_CHANNEL)
                .bind::<diesel::sql_types::Text, _>(jti)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
        .map_err(db_error)
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        is_revoked(&mut conn, jti).await.map_err(db_error)
    }

    async fn prune_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        use schema::{
            auth_challenges::dsl as c, checkout_sessions::dsl as s, job_idempotency_keys::dsl as k,
            revoked_tokens::dsl as r,
        };
        let mut conn = self.conn().await?;
        let challenges = diesel::delete(c::auth_challenges.filter(c::expires_at.lt(now)))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        let tokens = diesel::delete(r::revoked_tokens.filter(r::expires_at.lt(now)))
            .execute(&mut conn)
            .await
            .map_err(db_error)?;
        let keys = diesel::delete(
            k::job_idempotency_keys
                .filter(k::created_at.lt(now - j0_domain::job::IDEMPOTENCY_WINDOW)),
        )
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        let checkouts = diesel::delete(
            s::checkout_sessions.filter(s::created_at.lt(now - CHECKOUT_RECORD_LIFETIME)),
        )
        .execute(&mut conn)
        .await
        .map_err(db_error)?;
        Ok((challenges + tokens + keys + checkouts) as u64)
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        use schema::users::dsl as u;
        let mut conn = self.conn().await?;
        let row: Option<UserRow> = u::users
            .filter(u::id.eq(id.0))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        row.map(UserRow::into_domain).transpose()
    }
}

/// Whether the token `jti` was revoked.
pub(crate) async fn is_revoked(conn: &mut AsyncPgConnection, jti: &str) -> QueryResult<bool> {
    use schema::revoked_tokens::dsl as r;
    diesel::select(diesel::dsl::exists(
        r::revoked_tokens.filter(r::jti.eq(jti)),
    ))
    .get_result(conn)
    .await
}
