//! The import engine: contact files and Opt Out Manager uploads turned into rows, then into
//! contacts and opt-outs. This module owns reading files ([`read`]); the pipeline on top of it
//! (number parsing, dedupe, the opt-out rules of SPEC 3.4, storing, the report) lives beside it.

pub mod read;
