//! Rows as diesel reads them, and their conversion to domain types.

use diesel::prelude::*;
use time::OffsetDateTime;

use j0_domain::{
    Cents, JobId, UserId, WalletAddress,
    job::{Capability, Job, JobStatus},
    user::{User, WorkerRecord},
};
use j0_ports::StoreError;

use crate::{corrupt, schema};

#[derive(Debug, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = schema::users)]
pub(crate) struct UserRow {
    pub id: i64,
    pub address: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub jobs_completed: i64,
    pub jobs_timed_out: i64,
}

impl UserRow {
    pub fn into_domain(self) -> Result<User, StoreError> {
        let bytes: [u8; 20] = self
            .address
            .try_into()
            .map_err(|_| corrupt(format!("user {} address", self.id)))?;
        Ok(User {
            id: UserId(self.id),
            address: WalletAddress::from_bytes(bytes),
            created_at: self.created_at,
            record: WorkerRecord {
                completed: self.jobs_completed,
                timed_out: self.jobs_timed_out,
            },
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = schema::jobs)]
pub(crate) struct JobRow {
    pub id: i64,
    pub requester_id: i64,
    pub worker_id: Option<i64>,
    pub capability: String,
    pub credits: i64,
    pub timeout_sec: i32,
    pub status: String,
    pub prompt: String,
    pub result: Option<String>,
    pub held_promo_cents: i64,
    pub held_cash_cents: i64,
    pub created_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
}

impl JobRow {
    pub fn hold(&self) -> j0_domain::ledger::Hold {
        j0_domain::ledger::Hold {
            promo: Cents::new(self.held_promo_cents),
            cash: Cents::new(self.held_cash_cents),
        }
    }

    pub fn into_domain(self) -> Result<Job, StoreError> {
        let capability = Capability::parse(&self.capability)
            .map_err(|_| corrupt(format!("job {} capability", self.id)))?;
        let status = JobStatus::parse(&self.status)
            .map_err(|_| corrupt(format!("job {} status", self.id)))?;
        Ok(Job {
            id: JobId(self.id),
            requester_id: UserId(self.requester_id),
            worker_id: self.worker_id.map(UserId),
            capability,
            credits: Cents::new(self.credits),
            timeout_sec: self.timeout_sec,
            status,
            prompt: self.prompt,
            result: self.result,
            created_at: self.created_at,
            accepted_at: self.accepted_at,
            completed_at: self.completed_at,
            expires_at: self.expires_at,
        })
    }
}
