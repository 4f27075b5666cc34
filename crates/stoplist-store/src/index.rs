//! What the in-memory opt-out index reads (part of [`crate::Store`]): a compact snapshot of
//! an account's list, the ledger's changes after a seq, every account's ledger head, the
//! opt-outs among some numbers, and a digest of the list for the self-check. Plain SQL per
//! backend: the two differ only in how a list of numbers is bound (`json_each` on SQLite,
//! `ANY` of an array on PostgreSQL).

use crate::model::{LedgerChange, ListDigest, OptOutKey};
use crate::{PgStore, Result, SqliteStore, StoreError};
use async_trait::async_trait;
use stoplist_domain::ledger::EventKind;
use stoplist_domain::{AccountId, OptOutSource, PhoneNumber};

/// The index's reads; part of [`crate::Store`].
#[async_trait]
pub trait IndexStore: Send + Sync {
    /// Every opted-out number of the account as ([`PhoneNumber::as_u64`] key, since,
    /// source), and the ledger seq they reflect. The seq is read first and the rows after it,
    /// in parts read side by side: a change committed meanwhile may be in the rows or not, and
    /// the follower replays every change after the seq in order, which converges on the truth.
    async fn optout_keys(&self, account: AccountId) -> Result<(Vec<OptOutKey>, i64)>;
    /// The opt-outs among `numbers` (in no particular order).
    async fn optouts_among(
        &self,
        account: AccountId,
        numbers: &[PhoneNumber],
    ) -> Result<Vec<OptOutKey>>;
    /// Every account's ledger seq: the follower reads the ledger only of accounts that moved.
    async fn ledger_heads(&self) -> Result<Vec<(AccountId, i64)>>;
    /// The account's ledger changes with seq greater than `after_seq`, oldest first.
    async fn changes_after(
        &self,
        account: AccountId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<LedgerChange>>;
    /// The account's list in `buckets` buckets (by key modulo `buckets`): each bucket's
    /// count and digest (see [`digest_term`]), with the ledger seq they reflect, read in one
    /// snapshot.
    async fn optout_digest(&self, account: AccountId, buckets: u32) -> Result<ListDigest>;
    /// The opt-outs of one bucket (see [`IndexStore::optout_digest`]), and the seq they
    /// reflect.
    async fn optouts_in_bucket(
        &self,
        account: AccountId,
        buckets: u32,
        bucket: u32,
    ) -> Result<(Vec<OptOutKey>, i64)>;
    /// Which of `numbers` have a message being sent now (claimed by a dispatcher, outcome
    /// not yet recorded): an opt-out of such a number waits out the hand-over before it is
    /// acknowledged (see the application's `optouts::handover`).
    async fn numbers_being_sent(
        &self,
        account: AccountId,
        numbers: &[PhoneNumber],
    ) -> Result<Vec<PhoneNumber>>;
    /// How many of the account's messages are being sent now (claimed, outcome not yet
    /// recorded): a bulk opt-out (an upload) waits out the hand-over when any are.
    async fn messages_being_sent(&self, account: AccountId) -> Result<i64>;
}

/// The digest term of one opt-out: its key, since and source mixed modulo a prime below 2^31,
/// so that a bucket's sum of terms fits a BIGINT for billions of opt-outs. The SQL of the
/// bucket digest query (`sql::DIGEST` in this module) computes the same.
pub fn digest_term(key: u64, since: i64, source: OptOutSource) -> i64 {
    const P: i64 = 2_147_483_647;
    let k = (key % P as u64) as i64;
    let s = since.rem_euclid(P);
    let c = i64::from(source_code(source));
    ((k * 48_271) % P + (s * 16_807) % P + c * 69_621) % P
}

/// The code of a source in the queries below: its position in [`OptOutSource::ALL`].
pub fn source_code(s: OptOutSource) -> u8 {
    OptOutSource::ALL
        .iter()
        .position(|x| *x == s)
        .map_or(0, |p| p as u8)
}

/// A source's code, in the order of [`OptOutSource::ALL`] (checked by a test).
macro_rules! source_code_sql {
    () => {
        "CAST(CASE source WHEN 'reply' THEN 0 WHEN 'manual' THEN 1 WHEN 'upload' THEN 2
              WHEN 'api' THEN 3 WHEN 'carrier' THEN 4 ELSE 99 END AS BIGINT)"
    };
}

/// A stored number as its key: the digits after the '+'.
macro_rules! key_sql {
    () => {
        "CAST(SUBSTR(number, 2) AS BIGINT)"
    };
}

fn keys_from(rows: Vec<(i64, i64, i64)>) -> Result<Vec<OptOutKey>> {
    rows.into_iter()
        .map(|(key, since, code)| {
            Ok(OptOutKey {
                key: u64::try_from(key)
                    .map_err(|_| StoreError::Corrupt(format!("opt-out key {key}")))?,
                since,
                source: usize::try_from(code)
                    .ok()
                    .and_then(|c| OptOutSource::ALL.get(c).copied())
                    .ok_or_else(|| StoreError::Corrupt(format!("opt-out source code {code}")))?,
            })
        })
        .collect()
}

fn changes_from(rows: Vec<(i64, i64, String, String, i64)>) -> Result<Vec<LedgerChange>> {
    rows.into_iter()
        .map(|(seq, key, kind, source, at)| {
            let kind = EventKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind:?}")))?;
            Ok(LedgerChange {
                seq,
                key: u64::try_from(key)
                    .map_err(|_| StoreError::Corrupt(format!("event key {key}")))?,
                kind,
                // A lift's source may be `import_reset`, which is no opt-out source; the
                // index reads the source of opt-outs only.
                source: OptOutSource::parse(&source).unwrap_or(OptOutSource::Manual),
                at,
            })
        })
        .collect()
}

fn numbers_json(numbers: &[PhoneNumber]) -> String {
    let list: Vec<&str> = numbers.iter().map(PhoneNumber::as_str).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

fn numbers_vec(numbers: &[PhoneNumber]) -> Vec<String> {
    numbers.iter().map(|n| n.as_str().to_owned()).collect()
}

/// The SQL shared by both backends, with `{among}` where the numbers' list goes.
mod sql {
    // -- the seq the snapshot reflects
    pub const SEQ: &str = "SELECT ledger_seq FROM accounts WHERE id = $1";
    // -- every account's ledger head
    pub const HEADS: &str = "SELECT id, ledger_seq FROM accounts";
    // -- the ledger's changes after a seq, as the index needs them
    pub const CHANGES: &str = concat!(
        "SELECT seq, ",
        key_sql!(),
        ", kind, source, at FROM optout_events
          WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    );
    // -- each bucket's count and digest (see digest_term)
    pub const DIGEST: &str = concat!(
        "SELECT b, COUNT(*), CAST(SUM(t) AS BIGINT) FROM (
           SELECT k % $2 AS b, ((k % 2147483647) * 48271 % 2147483647
                  + (created_at % 2147483647) * 16807 % 2147483647 + c * 69621) % 2147483647 AS t
             FROM (SELECT ",
        key_sql!(),
        " AS k, created_at, ",
        source_code_sql!(),
        " AS c FROM opt_outs WHERE account_id = $1) AS o) AS d
         GROUP BY b"
    );
    // -- the opt-outs of one bucket
    pub const BUCKET: &str = concat!(
        "SELECT k, created_at, c FROM (SELECT ",
        key_sql!(),
        " AS k, created_at, ",
        source_code_sql!(),
        " AS c FROM opt_outs WHERE account_id = $1) AS o WHERE k % $2 = $3"
    );
}

/// The account's ledger head (its last sequence number), through `$exec`; an unknown account
/// is `NotFound`.
macro_rules! ledger_seq {
    ($exec:expr, $account:expr) => {
        sqlx::query_scalar::<_, i64>(sql::SEQ)
            .bind($account.0)
            .fetch_optional($exec)
            .await?
            .ok_or(StoreError::NotFound("account"))?
    };
}

macro_rules! index_impl {
    ($store:ty, $among:literal, $bind_numbers:path, $snapshot_part:expr) => {
        #[async_trait]
        impl IndexStore for $store {
            async fn optout_keys(&self, account: AccountId) -> Result<(Vec<OptOutKey>, i64)> {
                let seq = ledger_seq!(self.pool(), account);
                // -- the account's rows by id, to split the reading
                let (low, high, count): (Option<i64>, Option<i64>, i64) = sqlx::query_as(
                    "SELECT MIN(id), MAX(id), COUNT(*) FROM opt_outs WHERE account_id = $1",
                )
                .bind(account.0)
                .fetch_one(self.pool())
                .await?;
                let (Some(low), Some(high)) = (low, high) else {
                    return Ok((vec![], seq));
                };
                let parts = snapshot_parts(count);
                let step = (high - low) / parts + 1;
                // Each part read and parsed on a task of its own: the parsing of one overlaps
                // the reading of the others, on every core.
                let reads: Vec<_> = (0..parts)
                    .map(|i| {
                        let from = low + i * step;
                        let to = (from + step - 1).min(high);
                        let pool = self.pool().clone();
                        tokio::spawn(async move {
                            // -- one part of the account's list as one text value of
                            // -- `key,since,source;…` (cheaper than a million rows decoded one by one)
                            let text: Option<String> = sqlx::query_scalar($snapshot_part)
                                .bind(account.0)
                                .bind(from)
                                .bind(to)
                                .fetch_one(&pool)
                                .await?;
                            parse_snapshot(text.as_deref().unwrap_or(""))
                        })
                    })
                    .collect();
                let mut keys = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                for part in reads {
                    let part = part.await.map_err(|e| {
                        StoreError::Corrupt(format!("reading a part of the opt-out list: {e}"))
                    })?;
                    keys.extend(part?);
                }
                Ok((keys, seq))
            }

            async fn optouts_among(
                &self,
                account: AccountId,
                numbers: &[PhoneNumber],
            ) -> Result<Vec<OptOutKey>> {
                if numbers.is_empty() {
                    return Ok(vec![]);
                }
                // -- the opt-outs among some numbers
                let rows: Vec<(i64, i64, i64)> = sqlx::query_as(concat!(
                    "SELECT ",
                    key_sql!(),
                    ", created_at, ",
                    source_code_sql!(),
                    " FROM opt_outs WHERE account_id = $1 AND number ",
                    $among
                ))
                .bind(account.0)
                .bind($bind_numbers(numbers))
                .fetch_all(self.pool())
                .await?;
                keys_from(rows)
            }

            async fn ledger_heads(&self) -> Result<Vec<(AccountId, i64)>> {
                let rows: Vec<(i64, i64)> =
                    sqlx::query_as(sql::HEADS).fetch_all(self.pool()).await?;
                Ok(rows.into_iter().map(|(a, s)| (AccountId(a), s)).collect())
            }

            async fn changes_after(
                &self,
                account: AccountId,
                after_seq: i64,
                limit: i64,
            ) -> Result<Vec<LedgerChange>> {
                let rows: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(sql::CHANGES)
                    .bind(account.0)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                changes_from(rows)
            }

            async fn optout_digest(&self, account: AccountId, buckets: u32) -> Result<ListDigest> {
                let mut tx = self.pool().begin().await?;
                let seq = ledger_seq!(&mut *tx, account);
                let rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql::DIGEST)
                    .bind(account.0)
                    .bind(i64::from(buckets.max(1)))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut d = ListDigest {
                    seq,
                    buckets: vec![(0, 0); buckets.max(1) as usize],
                };
                for (b, count, sum) in rows {
                    if let Some(slot) = usize::try_from(b).ok().and_then(|b| d.buckets.get_mut(b)) {
                        *slot = (count, sum);
                    }
                }
                Ok(d)
            }

            async fn optouts_in_bucket(
                &self,
                account: AccountId,
                buckets: u32,
                bucket: u32,
            ) -> Result<(Vec<OptOutKey>, i64)> {
                let mut tx = self.pool().begin().await?;
                let seq = ledger_seq!(&mut *tx, account);
                let rows: Vec<(i64, i64, i64)> = sqlx::query_as(sql::BUCKET)
                    .bind(account.0)
                    .bind(i64::from(buckets.max(1)))
                    .bind(i64::from(bucket))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((keys_from(rows)?, seq))
            }

            async fn numbers_being_sent(
                &self,
                account: AccountId,
                numbers: &[PhoneNumber],
            ) -> Result<Vec<PhoneNumber>> {
                if numbers.is_empty() {
                    return Ok(vec![]);
                }
                // -- which of these numbers have a message claimed and not yet recorded
                let rows: Vec<String> = sqlx::query_scalar(concat!(
                    "SELECT DISTINCT number FROM messages
                      WHERE status = 'sending' AND account_id = $1 AND number ",
                    $among
                ))
                .bind(account.0)
                .bind($bind_numbers(numbers))
                .fetch_all(self.pool())
                .await?;
                rows.iter().map(|n| crate::sql::number_from(n)).collect()
            }

            async fn messages_being_sent(&self, account: AccountId) -> Result<i64> {
                // -- the account's messages claimed and not yet recorded
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM messages WHERE status = 'sending' AND account_id = $1",
                )
                .bind(account.0)
                .fetch_one(self.pool())
                .await?)
            }
        }
    };
}

index_impl!(
    SqliteStore,
    "IN (SELECT value FROM json_each($2))",
    numbers_json,
    concat!(
        "SELECT group_concat(SUBSTR(number, 2) || ',' || created_at || ',' || ",
        source_code_sql!(),
        ", ';') FROM opt_outs WHERE account_id = $1 AND id BETWEEN $2 AND $3"
    )
);
index_impl!(
    PgStore,
    "= ANY($2)",
    numbers_vec,
    concat!(
        "SELECT string_agg(SUBSTR(number, 2) || ',' || CAST(created_at AS TEXT) || ',' || CAST(",
        source_code_sql!(),
        " AS TEXT), ';') FROM opt_outs WHERE account_id = $1 AND id BETWEEN $2 AND $3"
    )
);

/// Parts an account's list is read in, side by side: one for a small list, up to four for a
/// large one (a million opt-outs on 2 cores: see docs/benchmarks.md, session 7).
fn snapshot_parts(count: i64) -> i64 {
    if count <= 50_000 {
        1
    } else if count <= 200_000 {
        2
    } else {
        4
    }
}

/// Reads `key,since,source;…` (see `optout_keys`).
fn parse_snapshot(text: &str) -> Result<Vec<OptOutKey>> {
    let bad = || StoreError::Corrupt("an opt-out list snapshot that does not parse".into());
    let mut out = Vec::with_capacity(text.len() / 28 + 1);
    for row in text.split(';').filter(|r| !r.is_empty()) {
        let mut fields = row.split(',');
        let (Some(key), Some(since), Some(code), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        out.push(OptOutKey {
            key: key.parse().map_err(|_| bad())?,
            since: since.parse().map_err(|_| bad())?,
            source: code
                .parse::<usize>()
                .ok()
                .and_then(|c| OptOutSource::ALL.get(c).copied())
                .ok_or_else(bad)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn a_snapshot_part_parses_and_refuses_what_is_not_one() {
        let keys = super::parse_snapshot("61412345678,100,0;61412345679,200,4").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].key, 61_412_345_679);
        assert_eq!(keys[1].source, stoplist_domain::OptOutSource::Carrier);
        assert!(super::parse_snapshot("").unwrap().is_empty());
        assert!(super::parse_snapshot("6141,100").is_err());
        assert!(super::parse_snapshot("6141,100,99").is_err());
        assert!(super::parse_snapshot("x,100,0").is_err());
    }

    #[test]
    fn source_codes_follow_the_order_of_all() {
        for (i, s) in stoplist_domain::OptOutSource::ALL.iter().enumerate() {
            assert_eq!(usize::from(super::source_code(*s)), i);
            assert!(
                source_code_sql!().contains(&format!("WHEN '{}' THEN {i}", s.as_str())),
                "{s}"
            );
        }
    }
}
