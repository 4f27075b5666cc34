//! Reports and their exports (SPEC 3.5 "export", 3.8): the opt-out list ([`optouts`]), a
//! number's event log and its evidence bundle ([`evidence`]), a campaign's messages
//! ([`campaigns`]) and every reply received ([`incoming`]), each as CSV, TSV, XLSX or PDF.
//!
//! Every export is written to a temporary file that is removed when its [`ExportFile`] is
//! dropped, so that an error found half-way (a store failure, too many rows for a PDF) is an
//! error response rather than a truncated download. Rows are read from the store in keyset
//! pages of [`PAGE_ROWS`] (the Incoming report: one streaming query, cut into chunks) and
//! handed to the `stoplist-export` writer on a blocking thread through a channel of two
//! pages: memory holds a few pages, never the report.
//!
//! Owns no HTTP and no SQL: the API (`web::api::reports`) and the CLI (`cli::report`) turn an
//! [`ExportFile`] into a download or a file; the store does the reading.

pub mod audit;
pub mod campaigns;
pub mod evidence;
pub mod incoming;
pub mod optouts;

use crate::error::{AppError, AppResult};
use futures_util::{Stream, StreamExt};
use std::io::Write;
use std::path::{Path, PathBuf};
use stoplist_domain::AccountId;
pub use stoplist_export::Format;
use stoplist_export::{ExportError, Exporter, Meta};

/// Rows read from the store per query while exporting.
pub const PAGE_ROWS: i64 = 5000;

/// The most rows a PDF export takes. The PDF writer keeps every finished page in memory until
/// the file is complete (about 90 bytes a row), and a PDF this long is not read by anyone.
pub const MAX_PDF_ROWS: u64 = 100_000;

/// Bytes read from the temporary file per chunk of a download.
const CHUNK: usize = 64 * 1024;

/// A finished export in a temporary file, with what a download needs to describe it.
///
/// Invariant: the file is complete (the writer finished without error). It is removed when
/// this value (or the stream made by [`ExportFile::into_stream`]) is dropped, unless
/// [`ExportFile::save_as`] moved it.
pub struct ExportFile {
    temp: TempFile,
    /// The `Content-Type` of the file.
    pub content_type: &'static str,
    /// A download name such as `optouts-2026-11-28.csv` (ASCII letters, digits, `-`, `.`).
    pub file_name: String,
    /// Data rows written (the header not counted); events for an evidence bundle.
    pub rows: u64,
}

impl ExportFile {
    /// Where the file is, while this value lives.
    pub fn path(&self) -> &Path {
        &self.temp.path
    }

    /// The file's bytes in chunks, for a response body. The temporary file is removed when
    /// the stream ends or is dropped (a client that goes away mid-download).
    pub fn into_stream(self) -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
        use tokio::io::AsyncReadExt;
        futures_util::stream::try_unfold(
            (self.temp, None::<tokio::fs::File>),
            |(temp, file)| async move {
                let mut file = match file {
                    Some(f) => f,
                    None => tokio::fs::File::open(&temp.path).await?,
                };
                let mut buf = vec![0; CHUNK];
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some((buf, (temp, Some(file)))))
            },
        )
    }

    /// Moves the file to `dest` (copying it where a rename cannot cross file systems),
    /// replacing any file there.
    pub async fn save_as(self, dest: &Path) -> std::io::Result<()> {
        if tokio::fs::rename(&self.temp.path, dest).await.is_ok() {
            return Ok(());
        }
        tokio::fs::copy(&self.temp.path, dest).await.map(drop)
    }
}

/// A temporary file removed when dropped. Created new (never an existing file that a guessed
/// name pointed at) and readable by this user only: exports hold personal data.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn create(extension: &str) -> std::io::Result<(TempFile, std::fs::File)> {
        let path = std::env::temp_dir().join(format!(
            "stoplist-report-{}.{extension}",
            crate::auth::random_hex(12)
        ));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path)?;
        Ok((TempFile { path }, file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Already gone when `save_as` renamed it; nothing else to do on failure.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads an export format as the API and the CLI take it (`csv`, `tsv`, `xlsx`, `pdf`, and
/// the aliases of [`Format::parse`]); absent means `default`. Anything else is a 422 naming
/// the field `format` and the formats allowed.
pub fn parse_format(raw: Option<&str>, default: Format) -> AppResult<Format> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(default),
        Some(r) => Format::parse(r).ok_or_else(|| {
            AppError::invalid(
                "invalid_field",
                "format",
                format!("format: {r:?} is not an export format (csv, tsv, xlsx or pdf)"),
            )
        }),
    }
}

/// The error for a PDF export of more than [`MAX_PDF_ROWS`] rows (422 on `format`).
fn too_many_for_pdf() -> AppError {
    AppError::invalid(
        "too_many_rows",
        "format",
        format!(
            "format: a PDF export holds at most {MAX_PDF_ROWS} rows and this report has more; \
             export it as CSV (or narrow it with a filter)"
        ),
    )
}

/// Refuses a PDF export up front when the store already says how many rows it would have.
fn check_pdf_rows(format: Format, rows: i64) -> AppResult<()> {
    if format == Format::Pdf && rows > MAX_PDF_ROWS as i64 {
        return Err(too_many_for_pdf());
    }
    Ok(())
}

fn export_error(e: ExportError) -> AppError {
    match e {
        ExportError::TooManyRowsForXlsx { max } => AppError::invalid(
            "too_many_rows",
            "format",
            format!(
                "format: an XLSX sheet holds at most {max} rows and this report has more; export it as CSV"
            ),
        ),
        other => AppError::Internal(anyhow::Error::new(other).context("writing the export")),
    }
}

/// What a report is, for the export's heading and its file name.
pub(crate) struct Report {
    pub format: Format,
    /// The report's name, e.g. "Opt-outs".
    pub title: String,
    /// The start of the download name, e.g. `optouts` or `campaign-12-messages`.
    pub file_stem: String,
    /// The filters applied, as (label, value).
    pub filters: Vec<(String, String)>,
    pub columns: &'static [&'static str],
    /// Relative PDF column widths, one per column.
    pub widths: &'static [f32],
}

/// The account's name as people know it, for a report's heading.
async fn account_name(state: &crate::state::AppState, account: AccountId) -> AppResult<String> {
    state
        .store
        .account(account)
        .await?
        .map(|a| a.name)
        .ok_or(AppError::NotFound("account"))
}

/// The download name: `{stem}-{YYYY-MM-DD}.{ext}` with the UTC date of `now`.
fn file_name(stem: &str, now_ms: i64, extension: &str) -> String {
    let date = crate::rfc3339(now_ms);
    format!("{stem}-{}.{extension}", &date[..10])
}

/// A page of rows on its way to the writer; `None` tells the writer to give up (the reader
/// failed), so that it does not spend time finishing a file nobody will get.
type Feed<T> = Option<Vec<T>>;

/// Writes one table: `pages` are read here (the async side) while a blocking thread turns
/// each row into cells with `cells` and writes it. At most two pages wait between them.
async fn write_table<T, S>(
    state: &crate::state::AppState,
    account: AccountId,
    report: Report,
    pages: S,
    cells: fn(&T) -> Vec<String>,
) -> AppResult<ExportFile>
where
    T: Send + 'static,
    S: Stream<Item = AppResult<Vec<T>>> + Send,
{
    let now = crate::now_ms();
    let meta = Meta {
        title: report.title,
        account: account_name(state, account).await?,
        filters: report.filters,
        generated_at: crate::rfc3339(now),
    };
    let format = report.format;
    let (columns, widths) = (report.columns, report.widths);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Feed<T>>(2);
    let writer =
        tokio::task::spawn_blocking(move || -> Result<Option<(TempFile, u64)>, AppError> {
            let (temp, file) = TempFile::create(format.extension()).map_err(|e| {
                AppError::Internal(anyhow::anyhow!("creating the export file: {e}"))
            })?;
            let out = std::io::BufWriter::with_capacity(CHUNK, file);
            let mut export = Exporter::new(format, &meta, columns, out)
                .and_then(|e| e.with_widths(widths))
                .map_err(export_error)?;
            while let Some(feed) = rx.blocking_recv() {
                let Some(page) = feed else {
                    return Ok(None);
                };
                for row in &page {
                    let owned = cells(row);
                    let borrowed: Vec<&str> = owned.iter().map(String::as_str).collect();
                    export.row(&borrowed).map_err(export_error)?;
                }
            }
            let rows = export.rows_written();
            let out = export.finish().map_err(export_error)?;
            let file = out
                .into_inner()
                .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the export: {e}")))?;
            file.sync_all()
                .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the export: {e}")))?;
            Ok(Some((temp, rows)))
        });

    let read = async {
        let mut pages = std::pin::pin!(pages);
        let mut fetched = 0u64;
        while let Some(page) = pages.next().await {
            let page = page?;
            fetched += page.len() as u64;
            if format == Format::Pdf && fetched > MAX_PDF_ROWS {
                return Err(too_many_for_pdf());
            }
            if tx.send(Some(page)).await.is_err() {
                // The writer stopped early: its own error says why.
                break;
            }
        }
        Ok(())
    }
    .await;
    if read.is_err() {
        let _ = tx.send(None).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the export writer stopped: {e}")))?;
    read?;
    let (temp, rows) = written?.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("the export writer gave up without a cause"))
    })?;
    Ok(ExportFile {
        temp,
        content_type: format.content_type(),
        file_name: file_name(&report.file_stem, now, format.extension()),
        rows,
    })
}

/// Writes a small document made whole by `write` (the evidence bundle's JSON) to a temporary
/// file, on a blocking thread.
async fn write_document(
    extension: &'static str,
    content_type: &'static str,
    file_name: String,
    rows: u64,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static,
) -> AppResult<ExportFile> {
    let temp = tokio::task::spawn_blocking(move || -> std::io::Result<TempFile> {
        let (temp, file) = TempFile::create(extension)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(temp)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("the export writer stopped: {e}")))?
    .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the export: {e}")))?;
    Ok(ExportFile {
        temp,
        content_type,
        file_name,
        rows,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn download_names_end_with_the_utc_date_and_the_extension() {
        assert_eq!(
            file_name("optouts", 1_795_840_485_000, "csv"),
            "optouts-2026-11-28.csv"
        );
    }

    #[test]
    fn an_unknown_format_names_the_field_and_the_formats_allowed() {
        assert_eq!(parse_format(None, Format::Csv).unwrap(), Format::Csv);
        assert_eq!(
            parse_format(Some(" XLS "), Format::Csv).unwrap(),
            Format::Xlsx
        );
        match parse_format(Some("doc"), Format::Csv) {
            Err(AppError::Invalid { field, message, .. }) => {
                assert_eq!(field, "format");
                assert!(message.contains("csv, tsv, xlsx or pdf"), "{message}");
            }
            other => panic!("{:?}", other.map(|f| f.as_str())),
        }
    }

    #[test]
    fn a_temporary_export_file_is_removed_with_its_guard() {
        let (temp, _file) = TempFile::create("csv").unwrap();
        let path = temp.path.clone();
        assert!(path.exists());
        drop(temp);
        assert!(!path.exists());
    }
}
