//! Reports and their exports (SPEC 3.8). Being written.
