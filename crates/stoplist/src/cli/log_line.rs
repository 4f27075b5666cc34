//! One log record, one line: values from outside (a reply's `to`, a file name, a provider's
//! error text) can hold line breaks, and a line break inside a record would let them forge a
//! log entry of their own ("… ERROR stoplist: …"). The formatter writes each record with one
//! `write_all` ending in its own newline; [`OneLine`] escapes every other line break and control
//! character in it (`\n`, `\r`, `\u{7}` …) before it reaches standard error. ANSI colour
//! sequences (ESC) pass, so that coloured logs stay coloured on a terminal.

use std::io::{self, Write};

/// A writer for `tracing_subscriber::fmt` that keeps each record on one line.
pub struct OneLine<W: Write>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&escape_record(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `record` with every control character but its final newline, tab and ESC escaped.
pub fn escape_record(record: &[u8]) -> Vec<u8> {
    let (body, end) = match record.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (record, &b""[..]),
    };
    let mut out = Vec::with_capacity(record.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' | 0x1b => out.push(b),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(end);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_inside_its_record() {
        let record =
            b"INFO stoplist: reply to=+61400000000\n2026-12-07 ERROR stoplist: forged\r\x07 done\n";
        let out = String::from_utf8(escape_record(record)).unwrap();
        assert_eq!(
            out,
            "INFO stoplist: reply to=+61400000000\\n2026-12-07 ERROR stoplist: forged\\r\\u{7} done\n"
        );
        assert_eq!(out.lines().count(), 1);
    }

    #[test]
    fn colours_tabs_and_text_pass_unchanged() {
        let record = "\x1b[32m INFO\x1b[0m a\tb é 🙂\n".as_bytes();
        assert_eq!(escape_record(record), record);
    }

    #[test]
    fn the_writer_reports_every_byte_taken() {
        let mut w = OneLine(Vec::new());
        assert_eq!(w.write(b"a\nb\n").unwrap(), 4);
        assert_eq!(w.0, b"a\\nb\n");
    }
}
