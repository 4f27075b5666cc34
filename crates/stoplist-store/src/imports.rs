//! The bulk statements of an import, one implementation per backend: the only part of the
//! store where the two dialects are not written once (see `sql.rs`), because the fast way to
//! move tens of thousands of rows differs. SQLite runs in-process: many rows per cached
//! statement (`VALUES` lists) costs little more than a prepared statement per row would.
//! PostgreSQL is a round trip away: each batch goes as one statement whose columns are
//! arrays (`UNNEST`), so a 20,000-row batch is one round trip instead of forty.
//!
//! Every statement here runs inside a caller's write transaction (a batch of an import or an
//! upload); none of them commits.

use crate::Result;
use crate::model::{Reject, StagedRow};
use sqlx::error::BoxDynError;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Postgres, SqlSafeStr, Sqlite, Transaction};
use std::collections::HashMap;
use std::future::Future;

/// Rows per multi-row statement on SQLite (at most 4 parameters a row here: far below
/// SQLite's 32,766 bound parameters).
const SQLITE_ROWS_PER_STATEMENT: usize = 500;

/// A contact already in the group (visible), as an import batch finds it.
pub(crate) struct Existing {
    pub(crate) id: i64,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) email: Option<String>,
}

/// The bulk steps of an import on one backend.
pub(crate) trait BulkImport: sqlx::Database {
    /// The numbers of `rows` that are on `account`'s opt-out list, with their source and
    /// when they were listed.
    fn listed(
        tx: &mut Transaction<'static, Self>,
        account: i64,
        rows: &[StagedRow],
    ) -> impl Future<Output = Result<HashMap<String, (String, i64)>>> + Send;

    /// The contacts `group` shows already for the numbers of `rows` (never an import's
    /// hidden rows).
    fn existing(
        tx: &mut Transaction<'static, Self>,
        group: i64,
        rows: &[StagedRow],
    ) -> impl Future<Output = Result<HashMap<String, Existing>>> + Send;

    /// Inserts `rows` into `group` as hidden rows of import `import_id` (see migration 15):
    /// none of their numbers is in the group yet and none is opted out (the caller read both
    /// in this transaction, under the lock that orders it with every opt-out).
    fn insert_hidden(
        tx: &mut Transaction<'static, Self>,
        account: i64,
        group: i64,
        import_id: i64,
        now: i64,
        rows: &[StagedRow],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records rows an import did not import, with why.
    fn insert_rejects(
        tx: &mut Transaction<'static, Self>,
        import_id: i64,
        rejects: &[Reject],
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The numbers of `rows` as one JSON array of strings, for SQLite's `json_each`: one bound
/// parameter for a whole batch instead of one per row. E.164 text is `+` and digits, so
/// nothing needs escaping.
fn json_numbers(rows: &[StagedRow]) -> String {
    let mut out = String::with_capacity(rows.len() * 16 + 2);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(r.number.as_str());
        out.push('"');
    }
    out.push(']');
    out
}

/// SQLite's statement for `rows` hidden rows of an import. Its arguments, in order
/// ([`sqlite_hidden_arguments`]): account, group, import, now, now, then each row's number,
/// first name, last name and email.
fn sqlite_hidden_statement(rows: usize) -> String {
    let mut sql = String::with_capacity(300 + rows * 14);
    // -- an import's new contacts, hidden until it is published
    sql.push_str(
        "INSERT INTO contacts (account_id, group_id, import_id, number, first_name, last_name, email, created_at, updated_at)
         SELECT ?, ?, ?, v.column1, v.column2, v.column3, v.column4, ?, ? FROM (VALUES ",
    );
    for i in 0..rows {
        sql.push_str(if i == 0 {
            "(?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?)"
        });
    }
    sql.push_str(") AS v");
    sql
}

/// The statement for a full chunk, built once.
static SQLITE_FULL_HIDDEN_STATEMENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| sqlite_hidden_statement(SQLITE_ROWS_PER_STATEMENT));

/// The arguments of [`sqlite_hidden_statement`] for `rows`, with how many rows they hold.
fn sqlite_hidden_arguments(
    head: [i64; 5],
    rows: &[StagedRow],
) -> std::result::Result<(usize, SqliteArguments), BoxDynError> {
    let mut args = SqliteArguments::default();
    args.reserve(5 + rows.len() * 4, 0);
    for v in head {
        args.add(v)?;
    }
    for r in rows {
        args.add(r.number.as_str())?;
        args.add(r.fields.first_name.as_deref())?;
        args.add(r.fields.last_name.as_deref())?;
        args.add(r.fields.email.as_deref())?;
    }
    Ok((rows.len(), args))
}

type ExistingRow = (String, i64, Option<String>, Option<String>, Option<String>);

fn existing_map(found: Vec<ExistingRow>) -> HashMap<String, Existing> {
    found
        .into_iter()
        .map(|(number, id, first_name, last_name, email)| {
            (
                number,
                Existing {
                    id,
                    first_name,
                    last_name,
                    email,
                },
            )
        })
        .collect()
}

impl BulkImport for Sqlite {
    async fn listed(
        tx: &mut Transaction<'static, Sqlite>,
        account: i64,
        rows: &[StagedRow],
    ) -> Result<HashMap<String, (String, i64)>> {
        // -- which of these numbers (a JSON array) are on the opt-out list; CROSS JOIN keeps
        // -- the array the outer loop, each number a probe of the list's index
        let found: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT o.number, o.source, o.created_at FROM json_each($2) AS j
               CROSS JOIN opt_outs o ON o.account_id = $1 AND o.number = j.value",
        )
        .bind(account)
        .bind(json_numbers(rows))
        .fetch_all(&mut **tx)
        .await?;
        Ok(found.into_iter().map(|(n, s, at)| (n, (s, at))).collect())
    }

    async fn existing(
        tx: &mut Transaction<'static, Sqlite>,
        group: i64,
        rows: &[StagedRow],
    ) -> Result<HashMap<String, Existing>> {
        // -- the contacts the group shows for these numbers (a JSON array)
        let found: Vec<ExistingRow> = sqlx::query_as(
            "SELECT c.number, c.id, c.first_name, c.last_name, c.email FROM json_each($2) AS j
               CROSS JOIN contacts c ON c.group_id = $1 AND c.number = j.value
              WHERE (c.import_id IS NULL OR c.import_id NOT IN (SELECT import_id FROM hidden_imports))",
        )
        .bind(group)
        .bind(json_numbers(rows))
        .fetch_all(&mut **tx)
        .await?;
        Ok(existing_map(found))
    }

    async fn insert_hidden(
        tx: &mut Transaction<'static, Sqlite>,
        account: i64,
        group: i64,
        import_id: i64,
        now: i64,
        rows: &[StagedRow],
    ) -> Result<()> {
        let head = [account, group, import_id, now, now];
        // Each statement's arguments are built while the one before runs: the statement runs
        // on sqlx's SQLite thread, the building on this one, and `join!` overlaps them.
        let mut chunks = rows.chunks(SQLITE_ROWS_PER_STATEMENT);
        let mut next = chunks
            .next()
            .map(|c| sqlite_hidden_arguments(head, c))
            .transpose()
            .map_err(sqlx::Error::Encode)?;
        while let Some((n, args)) = next.take() {
            let following = chunks.next();
            // A full chunk's statement is built once and kept in sqlx's statement cache; the
            // last, shorter one is neither.
            let full = n == SQLITE_ROWS_PER_STATEMENT;
            let sql = if full {
                SQLITE_FULL_HIDDEN_STATEMENT.as_str().into_sql_str()
            } else {
                sqlx::AssertSqlSafe(sqlite_hidden_statement(n)).into_sql_str()
            };
            let (done, built) = tokio::join!(
                sqlx::query_with(sql, args)
                    .persistent(full)
                    .execute(&mut **tx),
                async {
                    following
                        .map(|c| sqlite_hidden_arguments(head, c))
                        .transpose()
                },
            );
            done?;
            next = built.map_err(sqlx::Error::Encode)?;
        }
        Ok(())
    }

    async fn insert_rejects(
        tx: &mut Transaction<'static, Sqlite>,
        import_id: i64,
        rejects: &[Reject],
    ) -> Result<()> {
        for chunk in rejects.chunks(1000) {
            // -- rows not imported, with why
            let mut q = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO import_rejects (import_id, row, raw, reason) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(import_id)
                    .push_bind(r.row)
                    .push_bind(r.raw.clone())
                    .push_bind(r.reason.clone());
            });
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

impl BulkImport for Postgres {
    async fn listed(
        tx: &mut Transaction<'static, Postgres>,
        account: i64,
        rows: &[StagedRow],
    ) -> Result<HashMap<String, (String, i64)>> {
        let numbers: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
        // -- which of these numbers are on the opt-out list
        let found: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT number, source, created_at FROM opt_outs WHERE account_id = $1 AND number = ANY($2::text[])",
        )
        .bind(account)
        .bind(&numbers)
        .fetch_all(&mut **tx)
        .await?;
        Ok(found.into_iter().map(|(n, s, at)| (n, (s, at))).collect())
    }

    async fn existing(
        tx: &mut Transaction<'static, Postgres>,
        group: i64,
        rows: &[StagedRow],
    ) -> Result<HashMap<String, Existing>> {
        let numbers: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
        // -- the contacts the group shows for these numbers
        let found: Vec<ExistingRow> = sqlx::query_as(
            "SELECT c.number, c.id, c.first_name, c.last_name, c.email FROM contacts c
              WHERE c.group_id = $1 AND c.number = ANY($2::text[])
                AND (c.import_id IS NULL OR c.import_id NOT IN (SELECT import_id FROM hidden_imports))",
        )
        .bind(group)
        .bind(&numbers)
        .fetch_all(&mut **tx)
        .await?;
        Ok(existing_map(found))
    }

    async fn insert_hidden(
        tx: &mut Transaction<'static, Postgres>,
        account: i64,
        group: i64,
        import_id: i64,
        now: i64,
        rows: &[StagedRow],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let numbers: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
        let first: Vec<Option<&str>> = rows
            .iter()
            .map(|r| r.fields.first_name.as_deref())
            .collect();
        let last: Vec<Option<&str>> = rows.iter().map(|r| r.fields.last_name.as_deref()).collect();
        let email: Vec<Option<&str>> = rows.iter().map(|r| r.fields.email.as_deref()).collect();
        // -- an import's new contacts, hidden until it is published; one statement for the
        // -- batch, its columns as arrays
        sqlx::query(
            "INSERT INTO contacts (account_id, group_id, import_id, number, first_name, last_name, email, created_at, updated_at)
             SELECT $1, $2, $3, v.number, v.first_name, v.last_name, v.email, $4, $4
               FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[]) AS v(number, first_name, last_name, email)",
        )
        .bind(account)
        .bind(group)
        .bind(import_id)
        .bind(now)
        .bind(&numbers)
        .bind(&first)
        .bind(&last)
        .bind(&email)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn insert_rejects(
        tx: &mut Transaction<'static, Postgres>,
        import_id: i64,
        rejects: &[Reject],
    ) -> Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        let rows: Vec<i64> = rejects.iter().map(|r| r.row).collect();
        let raw: Vec<&str> = rejects.iter().map(|r| r.raw.as_str()).collect();
        let reason: Vec<&str> = rejects.iter().map(|r| r.reason.as_str()).collect();
        // -- rows not imported, with why (one statement, columns as arrays)
        sqlx::query(
            "INSERT INTO import_rejects (import_id, row, raw, reason)
             SELECT $1, v.row, v.raw, v.reason FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS v(row, raw, reason)",
        )
        .bind(import_id)
        .bind(&rows)
        .bind(&raw)
        .bind(&reason)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
