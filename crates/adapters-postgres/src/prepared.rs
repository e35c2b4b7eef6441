//! Statements PostgreSQL parses and plans once per connection, not on every call.
//!
//! diesel's statement cache keeps no `sql_query`, no DSL `UPDATE` and no `INSERT` of a variable
//! number of rows: their SQL could differ from call to call, so it sends them unnamed, and
//! PostgreSQL parses and plans them every time (through tokio-postgres that is also a round trip
//! of its own to describe the statement before it runs). [`Prepared`] vouches that a statement's
//! SQL text is fixed: the cache then keys it by that text and its bind types, prepares it on a
//! connection's first call and reuses it after. Only statements whose text never depends on
//! input may be wrapped, or the cache would grow with every variant.

use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    result::QueryResult,
};

/// A statement with fixed SQL text, prepared once per connection; see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared<Q>(Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

// No static id: the cache keys the statement by its SQL text, which is what tells two
// statements of the same Rust type apart.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

/// `.prepared()` on any statement of fixed text.
pub(crate) trait Prepare: Sized {
    /// This statement, prepared once per connection.
    fn prepared(self) -> Prepared<Self> {
        Prepared(self)
    }
}

impl<Q: QueryFragment<Pg>> Prepare for Q {}
