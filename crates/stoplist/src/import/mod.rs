//! The import engine: contact files and Opt Out Manager uploads turned into rows, then into
//! contacts and opt-outs. [`read`] owns reading files; [`mod@run`] is the pipeline on top of it:
//! numbers parsed with the account's region, sorted across the whole file and deduped
//! ([`sort`], on disk past the memory budget), then staged in short transactions of the store,
//! where the opt-out rules of SPEC 3.4 decide every opted-out row, and published in one short
//! switch. An import lands whole or not at all, and never holds up an opt-out.

pub mod read;
pub mod run;
pub mod sort;
pub mod upload;

pub use run::{
    ColumnRef, ImportJobs, ImportProgress, ImportRequest, MappingOverride, Prepared, Target,
    prepare_async, run, run_started, start,
};

/// A CSV cell: quoted when needed, and neutralized when a spreadsheet would run it as a
/// formula (`=`, `+`, `-`, `@` at the start get a leading `'`).
pub fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}
