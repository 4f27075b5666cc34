//! The rows of an import in number order across the whole file, each number once: the first
//! row of a number (in file order) wins, the later ones are its duplicates. Rows are kept in
//! memory up to a budget; past it, each full buffer is sorted and written to a run file on
//! disk, and the runs are merged at the end (an external merge sort). Written in that order,
//! a group's index fills front to back instead of all over the b-tree, which is what keeps a
//! 10,000,000-row import linear.
//!
//! A run file is a sequence of records: the number's key ([`PhoneNumber::as_u64`], 8 bytes),
//! the row (8), then first name, last name and email, each as a 4-byte length (0: none, else
//! length + 1) and its UTF-8 bytes. Run files are deleted when the sorter or the merge is
//! dropped, whatever happens.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use stoplist_domain::PhoneNumber;
use stoplist_domain::names::ContactFields;
use stoplist_store::StagedRow;

/// Bytes a row costs in memory beyond its strings' own bytes (the struct, the allocations'
/// headers, the vector's slack).
const ROW_OVERHEAD: usize = std::mem::size_of::<StagedRow>() + 48;

/// What one buffered row costs, about.
fn row_bytes(r: &StagedRow) -> usize {
    let f = &r.fields;
    ROW_OVERHEAD
        + r.number.as_str().len()
        + [&f.first_name, &f.last_name, &f.email]
            .iter()
            .map(|v| v.as_ref().map_or(0, |s| s.len()))
            .sum::<usize>()
}

/// Rows gathered for sorting within `budget` bytes of memory, spilled to run files in `dir`.
pub struct Sorter {
    buffer: Vec<StagedRow>,
    bytes: usize,
    budget: usize,
    dir: PathBuf,
    /// Names run files uniquely: the import's id.
    tag: i64,
    runs: Runs,
}

/// Run files, deleted when dropped.
#[derive(Default)]
struct Runs(Vec<PathBuf>);

impl Drop for Runs {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Sorter {
    /// A sorter that keeps at most about `budget` bytes of rows in memory and writes runs into
    /// `dir`, named after import `tag`; `expected` rows (an estimate, 0 when unknown) are
    /// made room for at once, as far as the budget allows, instead of by doubling.
    pub fn new(budget: usize, dir: &Path, tag: i64, expected: usize) -> Sorter {
        let room = expected.min(budget / (ROW_OVERHEAD + 32));
        Sorter {
            buffer: Vec::with_capacity(room),
            bytes: 0,
            budget,
            dir: dir.to_owned(),
            tag,
            runs: Runs::default(),
        }
    }

    /// Adds a row; writes a run when the buffer outgrows the budget.
    pub fn push(&mut self, row: StagedRow) -> io::Result<()> {
        self.bytes += row_bytes(&row);
        self.buffer.push(row);
        if self.bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Run files written so far.
    pub fn runs(&self) -> usize {
        self.runs.0.len()
    }

    fn sort_buffer(&mut self) {
        // The numeric key is computed once a row, not once a comparison.
        self.buffer
            .sort_by_cached_key(|r| (r.number.as_u64(), r.row));
    }

    fn spill(&mut self) -> io::Result<()> {
        self.sort_buffer();
        let path = self.dir.join(format!(
            ".stoplist-import-{}-{}-run{}",
            std::process::id(),
            self.tag,
            self.runs.0.len()
        ));
        self.runs.0.push(path.clone());
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        for r in self.buffer.drain(..) {
            write_row(&mut out, &r)?;
        }
        out.flush()?;
        self.bytes = 0;
        // The buffer's capacity is kept for the next run.
        Ok(())
    }

    /// Every row pushed, in (number, row) order, each number's first row only; duplicates
    /// are handed to the caller by [`Sorted::next_row`].
    pub fn finish(mut self) -> io::Result<Sorted> {
        if self.runs.0.is_empty() {
            self.sort_buffer();
            let rows = std::mem::take(&mut self.buffer).into_iter();
            return Ok(Sorted {
                source: Source::Memory(rows),
                last: None,
            });
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        self.buffer = Vec::new();
        let runs = std::mem::take(&mut self.runs);
        let mut readers = Vec::with_capacity(runs.0.len());
        let mut heap = BinaryHeap::with_capacity(runs.0.len());
        for (i, p) in runs.0.iter().enumerate() {
            let mut r = BufReader::with_capacity(256 * 1024, File::open(p)?);
            if let Some(row) = read_row(&mut r)? {
                heap.push(Reverse(Head::new(row, i)));
            }
            readers.push(r);
        }
        Ok(Sorted {
            source: Source::Runs {
                readers,
                heap,
                _files: runs,
            },
            last: None,
        })
    }
}

/// A row at the head of run `.1`, ordered by its key (number, row), computed once.
struct Head(StagedRow, usize, (u64, i64));

impl Head {
    fn new(row: StagedRow, run: usize) -> Head {
        let key = (row.number.as_u64(), row.row);
        Head(row, run, key)
    }

    fn key(&self) -> (u64, i64) {
        self.2
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

enum Source {
    Memory(std::vec::IntoIter<StagedRow>),
    Runs {
        readers: Vec<BufReader<File>>,
        heap: BinaryHeap<Reverse<Head>>,
        _files: Runs,
    },
}

/// The sorted rows (see [`Sorter::finish`]).
pub struct Sorted {
    source: Source,
    /// The number and first row of the last number handed out.
    last: Option<(u64, i64)>,
}

/// One row of the sorted stream.
pub enum Next {
    /// The first row of its number.
    First(StagedRow),
    /// A later row of a number: the row, and the first row of its number.
    Duplicate(StagedRow, i64),
}

impl Sorted {
    fn next_raw(&mut self) -> io::Result<Option<StagedRow>> {
        match &mut self.source {
            Source::Memory(rows) => Ok(rows.next()),
            Source::Runs { readers, heap, .. } => {
                let Some(Reverse(Head(row, i, _))) = heap.pop() else {
                    return Ok(None);
                };
                if let Some(next) = read_row(&mut readers[i])? {
                    heap.push(Reverse(Head::new(next, i)));
                }
                Ok(Some(row))
            }
        }
    }

    /// The next row in (number, row) order, or `None` at the end.
    pub fn next_row(&mut self) -> io::Result<Option<Next>> {
        let Some(row) = self.next_raw()? else {
            return Ok(None);
        };
        let key = row.number.as_u64();
        match self.last {
            Some((k, first)) if k == key => Ok(Some(Next::Duplicate(row, first))),
            _ => {
                self.last = Some((key, row.row));
                Ok(Some(Next::First(row)))
            }
        }
    }
}

fn write_row(out: &mut impl Write, r: &StagedRow) -> io::Result<()> {
    out.write_all(&r.number.as_u64().to_le_bytes())?;
    out.write_all(&r.row.to_le_bytes())?;
    for v in [&r.fields.first_name, &r.fields.last_name, &r.fields.email] {
        match v {
            None => out.write_all(&0u32.to_le_bytes())?,
            Some(s) => {
                let len = u32::try_from(s.len() + 1)
                    .map_err(|_| io::Error::other("a field longer than 4 GB"))?;
                out.write_all(&len.to_le_bytes())?;
                out.write_all(s.as_bytes())?;
            }
        }
    }
    Ok(())
}

fn read_row(r: &mut impl Read) -> io::Result<Option<StagedRow>> {
    let mut key = [0u8; 8];
    match r.read_exact(&mut key) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let number = PhoneNumber::from_u64(u64::from_le_bytes(key))
        .ok_or_else(|| io::Error::other("a run file holds a number that is not E.164"))?;
    let mut row = [0u8; 8];
    r.read_exact(&mut row)?;
    let mut field = || -> io::Result<Option<String>> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        match u32::from_le_bytes(len) {
            0 => Ok(None),
            n => {
                let mut bytes = vec![0u8; n as usize - 1];
                r.read_exact(&mut bytes)?;
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| io::Error::other("a run file holds a field that is not UTF-8"))
            }
        }
    };
    let fields = ContactFields {
        first_name: field()?,
        last_name: field()?,
        email: field()?,
    };
    Ok(Some(StagedRow {
        row: i64::from_le_bytes(row),
        number,
        fields,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(n: u64, row: i64, first: Option<&str>) -> StagedRow {
        StagedRow {
            row,
            number: PhoneNumber::from_u64(n).unwrap(),
            fields: ContactFields {
                first_name: first.map(str::to_owned),
                last_name: None,
                email: Some(format!("r{row}@example.com")),
            },
        }
    }

    /// The same rows through memory and through many small runs come out the same: in number
    /// order, the first row of each number kept, every later one a duplicate of it.
    #[test]
    fn spilled_and_in_memory_sorts_agree_and_keep_the_first_row() {
        let dir = std::env::temp_dir().join(format!("stoplist-sort-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut rows = Vec::new();
        let mut seed = 7u64;
        for i in 1..=5_000i64 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = 61_400_000_000 + (seed >> 33) % 1_500;
            rows.push(row(n, i, (i % 3 == 0).then_some("Zoë")));
        }
        let collect = |budget: usize| {
            let mut s = Sorter::new(budget, &dir, 1, 100);
            for r in &rows {
                s.push(r.clone()).unwrap();
            }
            let spilled = s.runs();
            let mut sorted = s.finish().unwrap();
            let (mut firsts, mut dups) = (Vec::new(), Vec::new());
            while let Some(n) = sorted.next_row().unwrap() {
                match n {
                    Next::First(r) => firsts.push(r),
                    Next::Duplicate(r, first) => dups.push((r.row, first)),
                }
            }
            (spilled, firsts, dups)
        };
        let (runs_mem, firsts_mem, dups_mem) = collect(usize::MAX);
        let (runs_disk, firsts_disk, dups_disk) = collect(1);
        assert_eq!(runs_mem, 0);
        assert!(runs_disk > 3, "the small budget wrote {runs_disk} runs");
        assert_eq!(firsts_mem, firsts_disk);
        assert_eq!(dups_mem, dups_disk);
        assert_eq!(firsts_mem.len() + dups_mem.len(), rows.len());
        for w in firsts_mem.windows(2) {
            assert!(w[0].number.as_u64() < w[1].number.as_u64());
        }
        for f in &firsts_mem {
            let first_in_file = rows.iter().find(|r| r.number == f.number).unwrap();
            assert_eq!(f, first_in_file);
        }
        for (dup, first) in &dups_mem {
            assert!(dup > first);
        }
        // The run files are gone.
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
