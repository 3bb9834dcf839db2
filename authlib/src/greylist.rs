//! Greylisting's two tables (sql/*/..._mailroom_greylist.sql): postgrey's triplet database and
//! its client auto-whitelist, shared by every MTA on the database. Only storage: the rules
//! (what a triplet is, when it passes) are mailroom-mta's.

use crate::db::{DbError, Query, number};
use crate::{Directory, Lookup, Unavailable};

/// When a triplet was first and last seen (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// First delivery attempt (or the first after the retry window lapsed).
    pub first: i64,
    /// Latest attempt.
    pub last: i64,
}

/// A client's auto-whitelist record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes {
    /// Times it passed greylisting (counted at most once an hour).
    pub count: i64,
    /// When it was last counted.
    pub last: i64,
}

/// One greylisting triplet, already normalised by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triplet {
    /// The client's network (`192.0.2.0`, `2001:db8::`).
    pub client_net: String,
    /// The sender, lowercased, extension and VERP numbers removed.
    pub sender: String,
    /// The recipient, lowercased.
    pub recipient: String,
}

fn written(e: DbError) -> Unavailable {
    match e {
        DbError::Unavailable(u) => u,
        DbError::Constraint(m) => Unavailable(m),
    }
}

impl Directory {
    /// The triplet's record, if any.
    pub async fn greylist_triplet(&self, t: &Triplet) -> Lookup<Seen> {
        let q = Query::new(
            "SELECT first_seen, last_seen FROM mailroom_greylist \
             WHERE client_net = ? AND sender = ? AND recipient = ?",
        )
        .text(&t.client_net)
        .text(&t.sender)
        .text(&t.recipient);
        let Some(row) = self.db.fetch_optional(&q).await? else { return Ok(None) };
        Ok(Some(Seen { first: number(&row, "first_seen")?, last: number(&row, "last_seen")? }))
    }

    /// Store the triplet's record (REPLACE: another MTA may have written it meanwhile, and
    /// either answer is as good).
    pub async fn greylist_set_triplet(&self, t: &Triplet, seen: Seen) -> Result<(), Unavailable> {
        let q = Query::new(
            "REPLACE INTO mailroom_greylist (client_net, sender, recipient, first_seen, last_seen) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .text(&t.client_net)
        .text(&t.sender)
        .text(&t.recipient)
        .int(seen.first)
        .int(seen.last);
        self.db.transaction(&[q]).await.map(drop).map_err(written)
    }

    /// A client address's auto-whitelist record, if any.
    pub async fn greylist_client(&self, client: &str) -> Lookup<Passes> {
        let q = Query::new("SELECT passes, last_seen FROM mailroom_greylist_clients WHERE client = ?")
            .text(client);
        let Some(row) = self.db.fetch_optional(&q).await? else { return Ok(None) };
        Ok(Some(Passes { count: number(&row, "passes")?, last: number(&row, "last_seen")? }))
    }

    /// Store a client's auto-whitelist record.
    pub async fn greylist_set_client(&self, client: &str, p: Passes) -> Result<(), Unavailable> {
        let q =
            Query::new("REPLACE INTO mailroom_greylist_clients (client, passes, last_seen) VALUES (?, ?, ?)")
                .text(client)
                .int(p.count)
                .int(p.last);
        self.db.transaction(&[q]).await.map(drop).map_err(written)
    }

    /// postgrey's maintenance: forget triplets and clients not seen since `before`, and
    /// triplets that never passed (`last - first < delay`) not retried since `retry_before`.
    /// Returns the rows removed.
    pub async fn greylist_expire(
        &self,
        before: i64,
        retry_before: i64,
        delay: i64,
    ) -> Result<u64, Unavailable> {
        let qs = [
            Query::new("DELETE FROM mailroom_greylist WHERE last_seen < ?").int(before),
            Query::new("DELETE FROM mailroom_greylist WHERE last_seen - first_seen < ? AND last_seen < ?")
                .int(delay)
                .int(retry_before),
            Query::new("DELETE FROM mailroom_greylist_clients WHERE last_seen < ?").int(before),
        ];
        let counts = self.db.transaction(&qs).await.map_err(written)?;
        Ok(counts.iter().sum())
    }
}
