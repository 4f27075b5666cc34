//! Reads for report exports (SPEC 3.8): long, read-only scans that stream their rows instead of
//! paging, so that a million-row export reads the table once.

use async_trait::async_trait;

/// Streaming reads for exports; part of [`crate::Store`].
#[async_trait]
pub trait ExportStore: Send + Sync {}

/// Instantiates [`ExportStore`] for one backend (SQL shared here).
macro_rules! export_impl {
    ($store:ident, $db:ident) => {
        /// The `ExportStore` implementation for this backend (SQL shared in `export.rs`).
        mod export_impl {
            use super::$store;
            use crate::export::ExportStore;

            #[async_trait::async_trait]
            impl ExportStore for $store {}
        }
    };
}
pub(crate) use export_impl;
