//! Uploaded files on their way into an import, shared by the API and the web UI: a temporary
//! file written chunk by chunk under the configured size limit and removed when its guard is
//! dropped ([`Upload`]), and the CSV of an import's rejected rows, streamed page by page
//! ([`rejects_csv`]).
//!
//! Owns no HTTP: callers feed it the chunks of whatever body they received (a raw request
//! body, a multipart field) and turn its stream into a response.

use crate::error::{AppError, AppResult};
use futures_util::Stream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use stoplist_domain::AccountId;
use stoplist_store::Store;
use tokio::io::AsyncWriteExt;

/// An uploaded file on disk, removed when dropped (unless [`Upload::keep`] is called).
///
/// Created only by [`Upload::create`], so the file is new (never an existing file that a
/// guessed name pointed at), readable by this user only, and no larger than its limit.
pub struct Upload {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    written: u64,
    max: u64,
    keep: bool,
}

/// The error for a file over `max` bytes (413).
pub fn too_large(max: u64) -> AppError {
    AppError::TooLarge(format!(
        "the file is larger than this server accepts ({max} bytes; see max_upload_bytes)"
    ))
}

impl Upload {
    /// Creates `path` (which must not exist) for a file of at most `max` bytes.
    pub async fn create(path: PathBuf, max: u64) -> AppResult<Upload> {
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        // Uploaded contact files are personal data: only this server's user may read them.
        #[cfg(unix)]
        opts.mode(0o600);
        let file = opts
            .open(&path)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("creating the upload file: {e}")))?;
        Ok(Upload {
            path,
            file: Some(file),
            written: 0,
            max,
            keep: false,
        })
    }

    /// Guards a file that an earlier request saved: it is removed when the guard is dropped.
    pub fn adopt(path: PathBuf) -> Upload {
        Upload {
            path,
            file: None,
            written: 0,
            max: 0,
            keep: false,
        }
    }

    /// Appends a chunk; past the limit the upload is refused with [`too_large`] (and the
    /// file is removed when the guard is dropped).
    pub async fn write(&mut self, chunk: &[u8]) -> AppResult<()> {
        self.written += chunk.len() as u64;
        if self.written > self.max {
            return Err(too_large(self.max));
        }
        let file = self.file.as_mut().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("writing to an upload that was finished"))
        })?;
        file.write_all(chunk)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the upload file: {e}")))
    }

    /// Flushes and closes the file; its content is then complete on disk.
    pub async fn finish(&mut self) -> AppResult<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the upload file: {e}")))?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Keeps the file on disk after the guard is gone (a later request will use it, and
    /// remove it).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Rows per page read from the store while streaming rejects.
const REJECTS_PAGE: i64 = 5000;

/// The rows import `id` did not import, as CSV text (`row,value,reason`, a header first),
/// streamed in pages by row number, never all in memory. Cells a spreadsheet would run as a
/// formula are neutralized ([`super::csv_cell`]). The caller checks first that the import
/// is the account's; the store only ever returns the account's rows anyway.
pub fn rejects_csv(
    store: Arc<dyn Store>,
    account: AccountId,
    id: i64,
) -> impl Stream<Item = Result<String, std::io::Error>> + Send + 'static {
    let header = futures_util::stream::once(async { Ok("row,value,reason\n".to_owned()) });
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match store.import_rejects(account, id, after, REJECTS_PAGE).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = page.last().map(|r| r.row);
                    let mut text = String::new();
                    for r in &page {
                        text.push_str(&format!(
                            "{},{},{}\n",
                            r.row,
                            super::csv_cell(&r.raw),
                            super::csv_cell(&r.reason)
                        ));
                    }
                    Some((Ok(text), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    futures_util::StreamExt::chain(header, pages)
}
