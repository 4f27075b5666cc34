//! The checks a zip container passes before a spreadsheet library may expand it: its directory
//! is whole (a cut-short upload is named as such), no part is encrypted, the declared sizes
//! stay under the bound, no large part is compressed at a zip bomb's ratio; then what it holds
//! (XLSX, ODS, or another kind of zipped document), from its content types.
//!
//! Declared sizes are enough: the zip crate (9.0.1 on) fails a read that produces more than a
//! part's declared size, so a part that lies about its size stops at the lie.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use zip::ZipArchive;
use zip::result::ZipError;

use super::error::{KindArticle, ReadError};
use super::{FileKind, ReadOptions};

/// Parts smaller than this are not held to the ratio (tiny XML parts compress very well).
const RATIO_FLOOR: u64 = 1024 * 1024;

/// The most of `[Content_Types].xml` or `mimetype` read to identify the document.
const TYPE_BYTES: u64 = 256 * 1024;

/// Checks the zip at `path` and says which spreadsheet it is. `extension` (lowercase) only
/// names the kind in a "damaged" message when the content cannot.
pub(super) fn inspect(
    path: &Path,
    file: &str,
    extension: &str,
    opts: &ReadOptions,
) -> Result<FileKind, ReadError> {
    let guess = if extension == "ods" {
        FileKind::Ods
    } else {
        FileKind::Xlsx
    };
    let damaged = |detail: String| ReadError::Damaged {
        file: file.to_owned(),
        kind: KindArticle(guess),
        detail,
    };
    let reader = File::open(path).map_err(|source| ReadError::Io {
        file: file.to_owned(),
        source,
    })?;
    let mut archive = ZipArchive::new(BufReader::new(reader)).map_err(|e| match e {
        ZipError::Io(e) => damaged(format!("it could not be read to the end: {e}")),
        _ => damaged(
            "its zip directory, at the end of the file, is missing or damaged: the file may \
             have been cut short"
                .to_owned(),
        ),
    })?;

    let mut total: u64 = 0;
    let mut has_content_types = false;
    let mut has_mimetype = false;
    let mut numbers_parts = false;
    for i in 0..archive.len() {
        let (size, compressed, encrypted, name) = {
            let entry = archive
                .by_index_raw(i)
                .map_err(|e| damaged(format!("part {} cannot be read: {e}", i + 1)))?;
            (
                entry.size(),
                entry.compressed_size().max(1),
                entry.encrypted(),
                entry.name().map(|n| n.into_owned()).unwrap_or_default(),
            )
        };
        if encrypted {
            return Err(ReadError::Encrypted {
                file: file.to_owned(),
            });
        }
        if size > RATIO_FLOOR && size / compressed > opts.max_compression_ratio {
            return Err(ReadError::CompressionRatio {
                file: file.to_owned(),
                entry: name,
                ratio: size / compressed,
                limit: opts.max_compression_ratio,
            });
        }
        total = total.saturating_add(size);
        if total > opts.max_uncompressed_bytes {
            return Err(ReadError::TooLargeUnzipped {
                file: file.to_owned(),
                declared: declared_total(&mut archive),
                limit: opts.max_uncompressed_bytes,
            });
        }
        match name.as_str() {
            "[Content_Types].xml" => has_content_types = true,
            "mimetype" => has_mimetype = true,
            name if name.starts_with("Index/") && name.ends_with(".iwa") => {
                numbers_parts = true;
            }
            _ => {}
        }
    }

    let read_part = |archive: &mut ZipArchive<BufReader<File>>, name: &str| {
        let mut text = Vec::new();
        archive
            .by_name(name)
            .map_err(|e| damaged(format!("its part \"{name}\" cannot be read: {e}")))?
            .take(TYPE_BYTES)
            .read_to_end(&mut text)
            .map_err(|e| damaged(format!("its part \"{name}\" cannot be read: {e}")))?;
        Ok::<_, ReadError>(String::from_utf8_lossy(&text).into_owned())
    };
    if has_content_types {
        let types = read_part(&mut archive, "[Content_Types].xml")?;
        return office_kind(&types, file);
    }
    if has_mimetype {
        let mime = read_part(&mut archive, "mimetype")?;
        let mime = mime.trim();
        return match mime {
            "application/vnd.oasis.opendocument.spreadsheet"
            | "application/vnd.oasis.opendocument.spreadsheet-template" => Ok(FileKind::Ods),
            _ if mime.contains("opendocument.text") => {
                Err(not_contacts(file, "a text document (ODT)"))
            }
            _ if mime.contains("opendocument.presentation") => {
                Err(not_contacts(file, "a presentation (ODP)"))
            }
            _ => Err(not_contacts(
                file,
                "an OpenDocument file that is not a spreadsheet",
            )),
        };
    }
    if numbers_parts {
        return Err(ReadError::Unsupported {
            file: file.to_owned(),
            what: "an Apple Numbers spreadsheet",
            advice: "in Numbers, choose File > Export To > CSV or Excel, and upload that",
        });
    }
    Err(not_contacts(
        file,
        "a zip archive (unpack it and upload the contact file inside)",
    ))
}

/// The sum of every part's declared size, for the message.
fn declared_total(archive: &mut ZipArchive<BufReader<File>>) -> u64 {
    (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|e| e.size()))
        .fold(0u64, u64::saturating_add)
}

/// An Office Open XML package: which one, from its content types.
fn office_kind(types: &str, file: &str) -> Result<FileKind, ReadError> {
    if types.contains("spreadsheetml.sheet.main")
        || types.contains("spreadsheetml.template.main")
        || types.contains("ms-excel.sheet.macroEnabled.main")
        || types.contains("ms-excel.template.macroEnabled.main")
    {
        return Ok(FileKind::Xlsx);
    }
    if types.contains("ms-excel.sheet.binary") {
        return Err(ReadError::Unsupported {
            file: file.to_owned(),
            what: "an Excel binary workbook (XLSB)",
            advice: "open it in Excel and save it as XLSX (Excel Workbook) or CSV",
        });
    }
    if types.contains("wordprocessingml") {
        return Err(not_contacts(file, "a Word document"));
    }
    if types.contains("presentationml") {
        return Err(not_contacts(file, "a PowerPoint presentation"));
    }
    Err(not_contacts(
        file,
        "an Office document that is not a spreadsheet",
    ))
}

fn not_contacts(file: &str, what: &'static str) -> ReadError {
    ReadError::NotAContactFile {
        file: file.to_owned(),
        what,
    }
}
