//! The checks a zip container passes before a spreadsheet library may expand it: its directory
//! is whole (a cut-short upload is named as such), no part is encrypted, the declared sizes
//! stay under the bound, no large part is compressed at a zip bomb's ratio; then what it holds
//! (XLSX, ODS, or another kind of zipped document), from its content types.
//!
//! Declared sizes are enough for the parts as a whole: the zip crate (9.0.1 on) fails a read
//! that produces more than a part's declared size, so a part that lies about its size stops at
//! the lie. An XLSX's shared strings are checked further, because calamine loads the whole
//! table before the first cell can be read (and reserves room for the count the table
//! declares): their declared size, then their size and count while they inflate, against
//! `sheet::MAX_SHARED_STRINGS_BYTES` and `sheet::MAX_SHARED_STRINGS`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use quick_xml::events::Event;
use zip::ZipArchive;
use zip::result::ZipError;

use super::error::{KindArticle, ReadError, SheetLimit};
use super::sheet::{MAX_SHARED_STRINGS, MAX_SHARED_STRINGS_BYTES};
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
        let kind = office_kind(&types, file)?;
        let bounds = SharedStringBounds {
            bytes: MAX_SHARED_STRINGS_BYTES,
            count: MAX_SHARED_STRINGS,
        };
        check_shared_strings(&mut archive, file, bounds)?;
        return Ok(kind);
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

/// The bounds an XLSX's shared strings are held to (parameters so that tests can use small ones).
#[derive(Debug, Clone, Copy)]
struct SharedStringBounds {
    /// Bytes of XML, as declared and as inflated.
    bytes: u64,
    /// Texts in the table, as counted and as its `uniqueCount` declares.
    count: u64,
}

/// Checks every shared strings part of an XLSX (calamine looks for `sharedStrings.xml` where
/// the workbook is, matching names without regard to case; every part of that name is checked
/// wherever it is): its declared size, then, inflating it, its real size and the number of
/// texts it holds, stopping at the first bound passed. Costs one extra inflation of the part
/// (about 0.5 s for a million-row sheet's 140 MB), against loading a bomb.
fn check_shared_strings<R: Read + io::Seek>(
    archive: &mut ZipArchive<R>,
    file: &str,
    bounds: SharedStringBounds,
) -> Result<(), ReadError> {
    let over = |over: SheetLimit| ReadError::SheetTooLarge {
        file: file.to_owned(),
        over,
    };
    let too_big = SheetLimit::SharedStringBytes {
        limit: bounds.bytes,
    };
    let too_many = SheetLimit::SharedStrings {
        limit: bounds.count,
    };
    for i in 0..archive.len() {
        let (name, declared) = match archive.by_index_raw(i) {
            Ok(entry) => (
                entry.name().map(|n| n.into_owned()).unwrap_or_default(),
                entry.size(),
            ),
            Err(_) => continue,
        };
        if !name.to_ascii_lowercase().ends_with("sharedstrings.xml") {
            continue;
        }
        if declared > bounds.bytes {
            return Err(over(too_big));
        }
        let part = archive.by_index(i).map_err(|e| ReadError::Damaged {
            file: file.to_owned(),
            kind: KindArticle(FileKind::Xlsx),
            detail: format!("its part \"{name}\" cannot be read: {e}"),
        })?;
        let counted = Counted {
            inner: part,
            read: 0,
            limit: bounds.bytes,
        };
        match count_strings(counted, bounds.count) {
            Ok(StringCount::Within) => {}
            Ok(StringCount::TooMany) => return Err(over(too_many)),
            Err(ScanError::TooBig) => return Err(over(too_big)),
            Err(ScanError::Other(detail)) => {
                return Err(ReadError::Damaged {
                    file: file.to_owned(),
                    kind: KindArticle(FileKind::Xlsx),
                    detail: format!("its part \"{name}\" cannot be read: {detail}"),
                });
            }
        }
    }
    Ok(())
}

/// A reader that fails once more than `limit` bytes have come through it: the count kept
/// while inflating, whatever the zip declared.
struct Counted<R> {
    inner: R,
    read: u64,
    limit: u64,
}

/// The error [`Counted`] fails with, told apart from others by its message.
const OVER_LIMIT: &str = "stoplist: part larger than its bound";

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(OVER_LIMIT));
        }
        Ok(n)
    }
}

enum StringCount {
    Within,
    TooMany,
}

enum ScanError {
    /// [`Counted`] passed its limit.
    TooBig,
    Other(String),
}

/// Counts the texts (`si` elements, with any namespace prefix) of a shared strings part,
/// stopping as soon as there are more than `limit`, or the table declares more
/// (`<sst uniqueCount>`).
fn count_strings<R: Read>(part: Counted<R>, limit: u64) -> Result<StringCount, ScanError> {
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(part));
    xml.config_mut().check_end_names = false;
    let mut buf = Vec::with_capacity(4096);
    let mut count: u64 = 0;
    loop {
        buf.clear();
        let event = match xml.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(quick_xml::Error::Io(e)) if e.to_string() == OVER_LIMIT => {
                return Err(ScanError::TooBig);
            }
            Err(e) => return Err(ScanError::Other(e.to_string())),
        };
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "si" => {
                count += 1;
                if count > limit {
                    return Ok(StringCount::TooMany);
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "sst" => {
                let declared = e
                    .try_get_attribute("uniqueCount")
                    .ok()
                    .flatten()
                    .and_then(|a| a.value.trim().parse::<u64>().ok());
                if declared.is_some_and(|n| n > limit) {
                    return Ok(StringCount::TooMany);
                }
            }
            Event::Eof => return Ok(StringCount::Within),
            _ => {}
        }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn xlsx_with_strings(xml: &str) -> ZipArchive<Cursor<Vec<u8>>> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("xl/sharedStrings.xml", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(xml.as_bytes()).unwrap();
        ZipArchive::new(zip.finish().unwrap()).unwrap()
    }

    fn strings(n: usize, declared: usize) -> String {
        let mut xml = format!(r#"<sst xmlns="x" count="{n}" uniqueCount="{declared}">"#);
        for i in 0..n {
            xml.push_str(&format!("<si><t>{i}</t></si>"));
        }
        xml.push_str("</sst>");
        xml
    }

    fn check(xml: &str, bytes: u64, count: u64) -> Result<(), ReadError> {
        let bounds = SharedStringBounds { bytes, count };
        check_shared_strings(&mut xlsx_with_strings(xml), "book.xlsx", bounds)
    }

    fn limit_of(r: Result<(), ReadError>) -> SheetLimit {
        match r {
            Err(ReadError::SheetTooLarge { over, .. }) => over,
            other => panic!("expected SheetTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn shared_strings_within_both_bounds_pass() {
        check(&strings(10, 10), 10_000, 10).unwrap();
    }

    #[test]
    fn more_texts_than_the_bound_are_refused_while_counting() {
        // Declares 5, holds 11: the count made while reading decides.
        assert_eq!(
            limit_of(check(&strings(11, 5), 10_000, 10)),
            SheetLimit::SharedStrings { limit: 10 }
        );
    }

    #[test]
    fn a_declared_count_over_the_bound_is_refused_before_counting() {
        // calamine would reserve room for 4 billion texts on this count alone.
        assert_eq!(
            limit_of(check(&strings(1, 4_000_000_000), 10_000, 10)),
            SheetLimit::SharedStrings { limit: 10 }
        );
    }

    #[test]
    fn a_part_larger_than_the_bound_is_refused() {
        let xml = strings(100, 100);
        assert_eq!(
            limit_of(check(&xml, 200, 1000)),
            SheetLimit::SharedStringBytes { limit: 200 }
        );
    }

    #[test]
    fn the_bytes_are_counted_as_they_inflate_whatever_the_zip_declares() {
        let xml = strings(100, 100);
        let counted = Counted {
            inner: xml.as_bytes(),
            read: 0,
            limit: 200,
        };
        assert!(matches!(
            count_strings(counted, 1000),
            Err(ScanError::TooBig)
        ));
    }

    #[test]
    fn texts_with_a_namespace_prefix_are_counted_too() {
        let xml =
            r#"<x:sst xmlns:x="x"><x:si><x:t>a</x:t></x:si><x:si><x:t>b</x:t></x:si></x:sst>"#;
        assert_eq!(
            limit_of(check(xml, 10_000, 1)),
            SheetLimit::SharedStrings { limit: 1 }
        );
    }
}
