//! Reads for report exports (SPEC 3.8): long, read-only scans that stream their rows, read in
//! keyset chunks that the database hands over as one JSON array each, so that a million-row
//! export reads the table once and pays one driver round trip per 4,096 rows.
//!
//! Owns the SQL of those scans and the rows they give; owns no file format (that is
//! `stoplist-export`) and no filter syntax (the application parses filters into a
//! [`ReplyFilter`]).
//!
//! A stream reads ahead in a task of its own (the next chunk is read while the caller decodes
//! and writes this one), on one pooled connection, with at most three chunks in memory, so
//! memory does not grow with the report. Replies are only ever appended, so chunks by id
//! read exactly what one scan would.

use crate::Result;
use crate::replies::ReplyFilter;
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use stoplist_domain::AccountId;

/// One row of the Incoming report: a reply with what it was classified as, the campaign it
/// was matched to (by name) and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingReply {
    /// The reply's id; the order of the report and the keyset cursor of a page.
    pub id: i64,
    /// When the provider says it was received (ms since the epoch, UTC).
    pub received_at: i64,
    /// E.164 when the sender is a number; as sent otherwise.
    pub from: String,
    pub to: String,
    pub body: String,
    /// `opt_out`, `opt_in`, `help`, `other` or `unclear`.
    pub class: String,
    /// The classifier rule that decided (`keyword`, `phrase`, …).
    pub tier: String,
    pub matched_campaign_id: Option<i64>,
    /// The matched campaign's name (`None` when no campaign was matched, or it is gone).
    pub campaign: Option<String>,
    /// What was done, in words (`opted_out`, `confirmation queued`, …), in order.
    pub actions: Vec<String>,
}

/// Which part of a filtered report a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Only rows with an id below this (the keyset cursor of the previous page).
    pub before: Option<i64>,
    /// At most this many rows; `None` reads to the end.
    pub limit: Option<i64>,
}

/// Streaming reads for exports; part of [`crate::Store`].
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// The account's replies matching `filter` (received-time range, class, digits of the
    /// sender, pending review), **newest first by id** — the order of the Replies page and of
    /// `list_replies`, so a page of the report and its export agree — with the matched
    /// campaign's name. Read in chunks of 4,096 rows by id. `window` limits the scan
    /// (a page of the UI, or one row more than a PDF may take).
    fn incoming_replies<'a>(
        &'a self,
        account: AccountId,
        filter: &'a ReplyFilter<'a>,
        window: Window,
    ) -> BoxStream<'a, Result<IncomingReply>>;

    /// The account's opt-out list, newest first by id (the order of `list_optouts`), only the
    /// numbers containing the digits of `search` when given; read like
    /// [`ExportStore::incoming_replies`].
    fn optout_rows<'a>(
        &'a self,
        account: AccountId,
        search: Option<&'a str>,
    ) -> BoxStream<'a, Result<crate::model::OptOut>>;
}

/// The Incoming report's scan. The `(account_id, id)` index gives the order; the other
/// filters are checked on the rows it visits, so an export reads the account's replies once.
/// The campaign is joined by primary key, within the same account. An unclear reply a person
/// confirmed counts as an opt-out here (SPEC 3.6: in every report, filter and export).
pub(crate) const INCOMING_SQL: &str =
    "SELECT r.id, r.received_at, r.from_number, r.to_number, r.body,
        CASE WHEN r.class = 'unclear' AND r.review = 'confirmed' THEN 'opt_out' ELSE r.class END AS class, r.tier,
        r.matched_campaign_id, c.name, r.actions_json
   FROM replies r
   LEFT JOIN campaigns c ON c.id = r.matched_campaign_id AND c.account_id = r.account_id
  WHERE r.account_id = $1 AND r.id < $2
    AND (CAST($3 AS BIGINT) IS NULL OR r.received_at >= $3)
    AND (CAST($4 AS BIGINT) IS NULL OR r.received_at < $4)
    AND (CAST($5 AS TEXT) IS NULL
         OR CASE WHEN r.class = 'unclear' AND r.review = 'confirmed' THEN 'opt_out' ELSE r.class END = $5)
    AND (CAST($6 AS TEXT) IS NULL OR r.from_number LIKE $6)
    AND ($7 = 0 OR r.review = 'pending')
  ORDER BY r.id DESC
  LIMIT $8";

/// Rows of the Incoming report read per query: each chunk comes back as ONE value, a JSON
/// array of rows built by the database, because decoding a million rows one by one through
/// sqlx's SQLite driver cost five times the scan itself (docs/benchmarks.md).
pub(crate) const CHUNK_ROWS: i64 = 4096;

/// A keyset scan (`id < $2`, newest first, `LIMIT` its last parameter) as chunks: ONE row of
/// the chunk's rows as a JSON array of `columns`, its last (lowest) id and its number of rows.
/// `$agg` wraps the row array (`json_group_array(json_array(` on SQLite,
/// `json_agg(json_build_array(` on PostgreSQL) and `$end` closes it.
pub(crate) fn chunk_sql(agg: &str, end: &str, columns: &str, scan: &str) -> String {
    format!("SELECT {agg}{columns}{end}, MIN(id), COUNT(*) FROM ({scan}) chunk")
}

/// The columns of [`INCOMING_SQL`] in a chunk.
pub(crate) const INCOMING_COLUMNS: &str =
    "id, received_at, from_number, to_number, body, class, tier,
    matched_campaign_id, name, actions_json";

/// One chunk's JSON array as rows, newest first whatever order the aggregate kept (`id` gives
/// a row's id; `what` names the scan in an error).
pub(crate) fn decode_chunk<T: serde::de::DeserializeOwned>(
    json: Option<String>,
    id: fn(&T) -> i64,
    what: &str,
) -> Result<Vec<T>> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let mut rows: Vec<T> = serde_json::from_str(&json)
        .map_err(|e| crate::StoreError::Corrupt(format!("a chunk of {what}: {e}")))?;
    rows.sort_unstable_by_key(|r| std::cmp::Reverse(id(r)));
    Ok(rows)
}

/// The opt-out list, newest first, optionally by digits of the number (`$3`, a `LIKE`
/// pattern): the order and filter of `list_optouts`.
pub(crate) const OPTOUTS_SQL: &str =
    "SELECT id, number, source, actor_kind, actor_id, actor_label, evidence, created_at FROM opt_outs
      WHERE account_id = $1 AND id < $2 AND (CAST($3 AS TEXT) IS NULL OR number LIKE $3)
      ORDER BY id DESC LIMIT $4";

/// The columns of [`OPTOUTS_SQL`] in a chunk.
pub(crate) const OPTOUT_COLUMNS: &str =
    "id, number, source, actor_kind, actor_id, actor_label, evidence, created_at";

/// The columns of [`INCOMING_SQL`], decoded by position (cheaper than by name per row).
pub(crate) type IncomingTuple = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
);

/// A row of [`INCOMING_SQL`] as the report's type; corrupt actions JSON is an error, not a
/// silently empty cell.
pub(crate) fn incoming_row(t: IncomingTuple) -> Result<IncomingReply> {
    let (id, received_at, from, to, body, class, tier, matched_campaign_id, campaign, actions) = t;
    let actions = serde_json::from_str(&actions)
        .map_err(|e| crate::StoreError::Corrupt(format!("reply {id} actions: {e}")))?;
    Ok(IncomingReply {
        id,
        received_at,
        from,
        to,
        body,
        class,
        tier,
        matched_campaign_id,
        campaign,
        actions,
    })
}

/// The `LIKE` pattern of a number filter: its digits anywhere in the number, everything else
/// in it ignored (spaces, dashes, `+`, and so `%` and `_` too: never a wildcard). A blank
/// filter is no filter; a filter with no digit matches no number (the pattern `''` matches
/// only the empty text, and a stored number never is).
pub(crate) fn number_pattern(number: Option<&str>) -> Option<String> {
    let n = number.map(str::trim).filter(|n| !n.is_empty())?;
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    Some(if digits.is_empty() {
        String::new()
    } else {
        format!("%{digits}%")
    })
}

/// Instantiates [`ExportStore`] for one backend (SQL shared here).
macro_rules! export_impl {
    ($store:ident, $db:ident, $agg:literal, $end:literal) => {
        /// The `ExportStore` implementation for this backend (SQL shared in `export.rs`).
        mod export_impl {
            use super::$store;
            use futures_util::StreamExt;
            use futures_util::stream::BoxStream;
            use stoplist_domain::AccountId;
            use $crate::Result;
            use $crate::export::{
                CHUNK_ROWS, ExportStore, INCOMING_COLUMNS, INCOMING_SQL, IncomingReply,
                IncomingTuple, OPTOUT_COLUMNS, OPTOUTS_SQL, Window, chunk_sql, decode_chunk,
                incoming_row, number_pattern,
            };
            use $crate::model::OptOut;
            use $crate::replies::ReplyFilter;

            /// One chunk's query: its rows as JSON, its last id, its number of rows.
            type ChunkQuery = sqlx::query::QueryAs<
                'static,
                sqlx::$db,
                (Option<String>, Option<i64>, i64),
                <sqlx::$db as sqlx::Database>::Arguments,
            >;

            /// Runs `query(before, limit)` chunk after chunk on ONE pooled connection (each
            /// SQLite connection warms its own page cache), a task of its own reading the next
            /// chunk while the caller decodes this one; at most two chunks wait. A caller that
            /// goes away (a client that disconnected) ends the scan.
            fn read_ahead(
                pool: sqlx::Pool<sqlx::$db>,
                window: Window,
                query: impl Fn(i64, i64) -> ChunkQuery + Send + 'static,
            ) -> BoxStream<'static, Result<Option<String>>> {
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Option<String>>>(2);
                tokio::spawn(async move {
                    let (mut before, mut left) = (
                        window.before.unwrap_or(i64::MAX),
                        window.limit.unwrap_or(i64::MAX),
                    );
                    let mut conn = match pool.acquire().await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(e.into())).await;
                            return;
                        }
                    };
                    while left > 0 {
                        let (json, last, rows) = match query(before, left.min(CHUNK_ROWS))
                            .fetch_one(&mut *conn)
                            .await
                        {
                            Ok(c) => c,
                            Err(e) => {
                                let _ = tx.send(Err(e.into())).await;
                                return;
                            }
                        };
                        if rows == 0 || tx.send(Ok(json)).await.is_err() {
                            return;
                        }
                        let Some(last) = last else { return };
                        (before, left) = (last, left - rows);
                        if rows < CHUNK_ROWS {
                            return;
                        }
                    }
                });
                futures_util::stream::unfold(rx, |mut rx| async move {
                    let chunk = rx.recv().await?;
                    Some((chunk, rx))
                })
                .boxed()
            }

            #[async_trait::async_trait]
            impl ExportStore for $store {
                fn incoming_replies<'a>(
                    &'a self,
                    account: AccountId,
                    f: &'a ReplyFilter<'a>,
                    window: Window,
                ) -> BoxStream<'a, Result<IncomingReply>> {
                    // -- the Incoming report, newest first, filtered (INCOMING_SQL), in chunks
                    // of CHUNK_ROWS rows by keyset: replies are only ever appended, so the
                    // chunks read exactly what one scan would have
                    let sql = chunk_sql($agg, $end, INCOMING_COLUMNS, INCOMING_SQL);
                    let (from_time, to_time, pending) =
                        (f.from_time, f.to_time, i64::from(f.pending_review));
                    let class = f.class.map(str::to_owned);
                    let pattern = number_pattern(f.number);
                    read_ahead(self.pool.clone(), window, move |before, limit| {
                        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                            .bind(account.0)
                            .bind(before)
                            .bind(from_time)
                            .bind(to_time)
                            .bind(class.clone())
                            .bind(pattern.clone())
                            .bind(pending)
                            .bind(limit)
                    })
                    .map(|chunk| {
                        match chunk.and_then(|j| {
                            decode_chunk::<IncomingTuple>(j, |r| r.0, "the Incoming report")
                        }) {
                            Ok(rows) => {
                                futures_util::stream::iter(rows.into_iter().map(incoming_row))
                                    .left_stream()
                            }
                            Err(e) => {
                                futures_util::stream::once(async move { Err(e) }).right_stream()
                            }
                        }
                    })
                    .flatten()
                    .boxed()
                }

                fn optout_rows<'a>(
                    &'a self,
                    account: AccountId,
                    search: Option<&'a str>,
                ) -> BoxStream<'a, Result<OptOut>> {
                    // -- the opt-out list, newest first (OPTOUTS_SQL), in chunks by keyset; a
                    // number lifted meanwhile is simply not read, one added is newer than the scan
                    let sql = chunk_sql($agg, $end, OPTOUT_COLUMNS, OPTOUTS_SQL);
                    let pattern = number_pattern(search);
                    read_ahead(
                        self.pool.clone(),
                        Window::default(),
                        move |before, limit| {
                            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                                .bind(account.0)
                                .bind(before)
                                .bind(pattern.clone())
                                .bind(limit)
                        },
                    )
                    .map(|chunk| {
                        match chunk.and_then(|j| {
                            decode_chunk::<$crate::sql::OptOutTuple>(j, |r| r.0, "the opt-out list")
                        }) {
                            Ok(rows) => futures_util::stream::iter(
                                rows.into_iter().map($crate::sql::optout_from_tuple),
                            )
                            .left_stream(),
                            Err(e) => {
                                futures_util::stream::once(async move { Err(e) }).right_stream()
                            }
                        }
                    })
                    .flatten()
                    .boxed()
                }
            }
        }
    };
}
pub(crate) use export_impl;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_number_filter_keeps_only_its_digits() {
        assert_eq!(
            number_pattern(Some("+61 412-345")).as_deref(),
            Some("%61412345%")
        );
        assert_eq!(number_pattern(None), None);
        assert_eq!(number_pattern(Some("  ")), None);
        assert_eq!(number_pattern(Some("%")).as_deref(), Some(""));
        assert_eq!(number_pattern(Some("4_1%2")).as_deref(), Some("%412%"));
    }

    #[test]
    fn corrupt_actions_are_an_error_naming_the_reply() {
        let row = |actions: &str| -> IncomingTuple {
            (
                7,
                0,
                "+61412345678".into(),
                "+61400000000".into(),
                "STOP".into(),
                "opt_out".into(),
                "keyword".into(),
                None,
                None,
                actions.into(),
            )
        };
        assert_eq!(
            incoming_row(row(r#"["opted_out","confirmation queued"]"#))
                .unwrap()
                .actions,
            ["opted_out", "confirmation queued"]
        );
        let err = incoming_row(row("not json")).unwrap_err().to_string();
        assert!(err.contains("reply 7 actions"), "{err}");
    }
}
