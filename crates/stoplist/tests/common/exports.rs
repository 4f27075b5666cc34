//! What the export test files share: a downloaded file with its headers, and readers of
//! what was downloaded (CSV/TSV rows, a PDF's text).

use super::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

/// A downloaded file: status, content type, content disposition and bytes.
pub struct Download {
    pub status: StatusCode,
    pub content_type: String,
    pub disposition: String,
    pub bytes: Vec<u8>,
}

impl Download {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap()
    }
}

impl TestApp {
    /// GETs `path` with the app's API key.
    pub async fn download(&self, path: &str) -> Download {
        self.download_with(path, &self.key).await
    }

    /// GETs `path` with API key `key`.
    pub async fn download_with(&self, path: &str, key: &str) -> Download {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let header = |name| {
            resp.headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (content_type, disposition) = (header("content-type"), header("content-disposition"));
        Download {
            status: resp.status(),
            content_type,
            disposition,
            bytes: resp.bytes().await.unwrap().to_vec(),
        }
    }
}

/// CSV or TSV rows (header first), the byte order mark removed.
pub fn delimited(bytes: &[u8], delimiter: u8) -> Vec<Vec<String>> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The text of a PDF as poppler reads it (`-layout`), or `None`, with the reason printed,
/// where poppler-utils is not installed.
pub fn pdftotext(bytes: &[u8]) -> Option<String> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "stoplist-export-test-{}-{}.pdf",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output();
    std::fs::remove_file(&path).unwrap();
    match output {
        Ok(o) => {
            assert!(o.status.success(), "pdftotext failed on the export");
            Some(String::from_utf8(o.stdout).unwrap())
        }
        Err(e) => {
            eprintln!("PDF text not checked: pdftotext could not run ({e}); install poppler-utils");
            None
        }
    }
}
