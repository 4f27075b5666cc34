//! Every integration test of the `stoplist` crate, in one test binary: each module below is
//! one file of this folder (one area of the product), sharing `common` (test servers, the UI
//! client, export readers), `sim` (the fault simulation's parts) and the reader's fixtures.
//! One binary links the whole app once instead of once per file, which is most of the test
//! build's time on two cores. A new file here must be declared below:
//! `every_test_file_is_declared` fails otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod import_read_fixtures;
mod sim;

mod api;
mod campaigns;
mod cli;
mod import_bounds;
mod import_read;
mod import_real_files;
mod imports;
mod replies;
mod reports;
mod reports_incoming;
mod roles;
mod shutdown;
mod simulation;
mod ui;
mod ui_campaigns;
mod ui_imports;
mod ui_replies;

/// Cargo builds only this file's binary (`autotests = false`): a test file that is not
/// declared above would never run.
#[test]
fn every_test_file_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".rs")
            && module != "main"
        {
            assert!(
                main.contains(&format!("\nmod {module};\n")),
                "tests/{name} is not declared in tests/main.rs, so it never runs"
            );
        }
    }
}
