//! What a file is, from its first bytes: a zip container (XLSX or ODS, decided later from the
//! zip's content types), an OLE compound file (XLS), something that is not a contact file at all
//! (an image, a PDF, an archive, a program, binary data), or text in one of the encodings we
//! read. The content decides; the file name's extension only names the text kinds.

/// How many bytes are read from the start of the file to decide what it is, and to sniff the
/// delimiter and the header. Enough for a few hundred rows of a contact file.
pub(super) const PREFIX_BYTES: usize = 64 * 1024;

/// The encoding of a text file, decided from its first [`PREFIX_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextEncoding {
    /// UTF-8. `bom`: the file starts with EF BB BF (skipped). `ascii_only`: the prefix had no
    /// byte above 0x7F, so it is also valid Windows-1252 and the reader may still switch.
    Utf8 { bom: bool, ascii_only: bool },
    /// UTF-16, little-endian; `bom`: starts with FF FE (skipped).
    Utf16Le { bom: bool },
    /// UTF-16, big-endian; `bom`: starts with FE FF (skipped).
    Utf16Be { bom: bool },
    /// Not valid UTF-8: read as Windows-1252 (a superset of Latin-1's printable characters).
    Windows1252,
}

impl TextEncoding {
    /// The name shown to the user (`FileInfo::encoding`).
    pub(super) fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 { bom: true, .. } => "UTF-8 (BOM)",
            TextEncoding::Utf8 { bom: false, .. } => "UTF-8",
            TextEncoding::Utf16Le { .. } => "UTF-16LE",
            TextEncoding::Utf16Be { .. } => "UTF-16BE",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }

    /// Bytes of byte order mark to skip at the start of the file.
    pub(super) fn bom_len(self) -> usize {
        match self {
            TextEncoding::Utf8 { bom: true, .. } => 3,
            TextEncoding::Utf16Le { bom: true } | TextEncoding::Utf16Be { bom: true } => 2,
            _ => 0,
        }
    }
}

/// What the first bytes say the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Content {
    /// A zip container: XLSX, ODS, or something else zipped.
    Zip,
    /// An OLE compound file: XLS (or another old Office document, or an encrypted XLSX).
    Ole,
    /// Text in this encoding.
    Text(TextEncoding),
    /// Not a contact file; the words say what it looks like ("a PNG image").
    Other(&'static str),
    /// A spreadsheet format that is recognised but not read; what it is and what to do.
    Unsupported(&'static str, &'static str),
}

/// Decides what `prefix` (the first bytes of the file, at most [`PREFIX_BYTES`]) is. `whole` is
/// true when the prefix is the entire file (so a multi-byte character cut at its end is an
/// error, not a cut).
pub(super) fn sniff(prefix: &[u8], whole: bool) -> Content {
    if let Some(content) = magic(prefix) {
        return content;
    }
    if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Content::Text(TextEncoding::Utf8 {
            bom: true,
            ascii_only: false,
        });
    }
    if prefix.starts_with(&[0xFF, 0xFE]) {
        return Content::Text(TextEncoding::Utf16Le { bom: true });
    }
    if prefix.starts_with(&[0xFE, 0xFF]) {
        return Content::Text(TextEncoding::Utf16Be { bom: true });
    }
    if let Some(utf16) = utf16_without_bom(prefix) {
        return Content::Text(utf16);
    }
    if looks_binary(prefix) {
        return Content::Other("binary data, not text");
    }
    match std::str::from_utf8(prefix) {
        Ok(text) => Content::Text(TextEncoding::Utf8 {
            bom: false,
            ascii_only: text.is_ascii(),
        }),
        // The prefix ends in the middle of a character: valid so far.
        Err(e) if e.error_len().is_none() && !whole => Content::Text(TextEncoding::Utf8 {
            bom: false,
            ascii_only: prefix[..e.valid_up_to()].is_ascii(),
        }),
        Err(_) => Content::Text(TextEncoding::Windows1252),
    }
}

/// Well-known file signatures.
fn magic(p: &[u8]) -> Option<Content> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"%PDF-", "a PDF document"),
        (b"II*\0", "a TIFF image"),
        (b"MM\0*", "a TIFF image"),
        (
            b"\x1F\x8B",
            "a gzip archive (unpack it and upload the file inside)",
        ),
        (
            b"7z\xBC\xAF\x27\x1C",
            "a 7-Zip archive (unpack it and upload the file inside)",
        ),
        (
            b"Rar!\x1A\x07",
            "a RAR archive (unpack it and upload the file inside)",
        ),
        (
            b"\xFD7zXZ\0",
            "an xz archive (unpack it and upload the file inside)",
        ),
        (b"\x7FELF", "a program (an ELF executable)"),
        (b"SQLite format 3\0", "an SQLite database"),
        (b"{\\rtf", "a Rich Text (RTF) document"),
        (b"OggS", "an audio or video file (Ogg)"),
        (b"fLaC", "an audio file (FLAC)"),
        (b"\x1A\x45\xDF\xA3", "a video file (Matroska/WebM)"),
    ];
    for (signature, what) in SIGNATURES {
        if p.starts_with(signature) {
            return Some(Content::Other(what));
        }
    }
    if p.starts_with(b"PK\x03\x04") || p.starts_with(b"PK\x05\x06") || p.starts_with(b"PK\x07\x08")
    {
        return Some(Content::Zip);
    }
    if p.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Some(Content::Ole);
    }
    if p.len() >= 12 && &p[..4] == b"RIFF" {
        return Some(Content::Other(match &p[8..12] {
            b"WEBP" => "a WebP image",
            b"WAVE" => "an audio file (WAV)",
            b"AVI " => "a video file (AVI)",
            _ => "a media file (RIFF)",
        }));
    }
    if p.len() >= 12 && &p[4..8] == b"ftyp" {
        return Some(Content::Other("a video or photo (MP4, MOV or HEIC)"));
    }
    if p.starts_with(b"MZ") && p.contains(&0) {
        return Some(Content::Other("a Windows program"));
    }
    if p.len() >= 4 && p.starts_with(b"BZh") && p[3].is_ascii_digit() && p.contains(&0) {
        return Some(Content::Other(
            "a bzip2 archive (unpack it and upload the file inside)",
        ));
    }
    if p.starts_with(b"ID3") && p.contains(&0) {
        return Some(Content::Other("an audio file (MP3)"));
    }
    markup(p)
}

/// XML and HTML: Excel's old "XML Spreadsheet 2003", and the HTML tables that some systems
/// export under an `.xls` name.
fn markup(p: &[u8]) -> Option<Content> {
    let start = p.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(p);
    let head = &start[..start.len().min(1024)];
    let lower: Vec<u8> = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .map(u8::to_ascii_lowercase)
        .collect();
    if !lower.starts_with(b"<") {
        return None;
    }
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if lower.starts_with(b"<?xml") {
        if contains(b"excel.sheet") || contains(b"urn:schemas-microsoft-com:office:spreadsheet") {
            return Some(Content::Unsupported(
                "an Excel 2003 XML spreadsheet",
                "open it in Excel and save it as XLSX or CSV",
            ));
        }
        return Some(Content::Other("an XML document"));
    }
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") || contains(b"<table") {
        return Some(Content::Unsupported(
            "a web page (HTML), as some systems export under an .xls name",
            "open it in Excel and save it as XLSX or CSV",
        ));
    }
    None
}

/// UTF-16 text without a byte order mark shows as a NUL in every other byte (for the Latin
/// letters, digits and punctuation of a contact file).
fn utf16_without_bom(p: &[u8]) -> Option<TextEncoding> {
    let head = &p[..p.len().min(4096) & !1];
    if head.len() < 8 {
        return None;
    }
    let pairs = head.len() / 2;
    let even_nul = head.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_nul = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if odd_nul * 10 >= pairs * 7 && even_nul * 20 <= pairs {
        Some(TextEncoding::Utf16Le { bom: false })
    } else if even_nul * 10 >= pairs * 7 && odd_nul * 20 <= pairs {
        Some(TextEncoding::Utf16Be { bom: false })
    } else {
        None
    }
}

/// A NUL byte, or more than 1% control characters other than tab, line feed, carriage return,
/// form feed and the old DOS end-of-file mark (0x1A).
fn looks_binary(p: &[u8]) -> bool {
    if p.contains(&0) {
        return true;
    }
    let controls = p
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1A)) || b == 0x7F)
        .count();
    controls >= 4 && controls * 100 > p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_is_named_as_an_image() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false),
            Content::Other("a PNG image")
        );
    }

    #[test]
    fn accented_utf8_is_utf8_and_latin1_bytes_are_windows_1252() {
        assert_eq!(
            sniff("Jos\u{e9},0412345678\n".as_bytes(), true),
            Content::Text(TextEncoding::Utf8 {
                bom: false,
                ascii_only: false
            })
        );
        assert_eq!(
            sniff(b"Jos\xE9,0412345678\n", true),
            Content::Text(TextEncoding::Windows1252)
        );
    }

    #[test]
    fn a_character_cut_by_the_prefix_is_still_utf8() {
        let text = "Jos\u{e9}".as_bytes();
        assert!(matches!(
            sniff(&text[..4], false),
            Content::Text(TextEncoding::Utf8 { .. })
        ));
        assert_eq!(
            sniff(&text[..4], true),
            Content::Text(TextEncoding::Windows1252)
        );
    }

    #[test]
    fn utf16_without_a_bom_is_recognised_by_its_nul_bytes() {
        let le: Vec<u8> = "Mobile,Name\r\n0412345678,Ann\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "Mobile,Name\r\n0412345678,Ann\r\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(
            sniff(&le, true),
            Content::Text(TextEncoding::Utf16Le { bom: false })
        );
        assert_eq!(
            sniff(&be, true),
            Content::Text(TextEncoding::Utf16Be { bom: false })
        );
    }

    #[test]
    fn control_characters_mean_binary() {
        let mut data = b"abc".repeat(10);
        data.extend_from_slice(&[1, 2, 3, 4, 5]);
        assert_eq!(sniff(&data, true), Content::Other("binary data, not text"));
    }
}
