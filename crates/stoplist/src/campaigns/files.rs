//! Campaigns' uploaded recipients files on disk: kept while the campaign may read them (a
//! draft previews and sends from its file), removed once the campaign has ended (done or
//! cancelled) and `campaign_file_retention_hours` has passed (0 by default: at the next
//! sweep). A recipients file is a list of people's numbers, often with their names: once the
//! messages are queued nothing reads it again, so a privacy-minded operator keeps it no
//! longer than they choose. The campaign keeps the file's name and column, its preview, its
//! messages and their statuses: its page, its reports and its exports need nothing else.
//!
//! The dispatcher's housekeeping sweeps (every `instance_lease_seconds / 6`, 5 s by
//! default). A file no longer on this instance's disk counts as removed: with several
//! instances, `campaign_files_dir` must be shared for previews and sends anyway, and then
//! every instance sees every file.

use crate::error::AppResult;
use std::sync::Arc;
use std::time::Duration;
use stoplist_store::Store;

/// Files removed per sweep (a sweep that finds more leaves the rest to the next one).
const SWEEP: i64 = 500;

/// Removes the recipients files of ended campaigns.
pub struct CampaignFiles {
    store: Arc<dyn Store>,
    /// How long after its campaign ended a file stays.
    retention: Duration,
}

impl CampaignFiles {
    pub fn new(store: Arc<dyn Store>, retention: Duration) -> CampaignFiles {
        CampaignFiles { store, retention }
    }

    /// Removes the files of campaigns that ended at least the retention before `now` (Unix
    /// ms) and records each as gone; answers how many. A file that cannot be removed (other
    /// than already gone) is logged and left for the next sweep.
    pub async fn remove_ended(&self, now: i64) -> AppResult<u64> {
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let before = now.saturating_sub(retention_ms);
        let ended = self.store.ended_campaign_files(before, SWEEP).await?;
        let mut removed = 0;
        for (campaign, path) in ended {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(campaign = %campaign, error = %e,
                        "removing an ended campaign's recipients file failed; will retry");
                    continue;
                }
            }
            self.store.forget_campaign_file(campaign, &path).await?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(
                files = removed,
                "removed the recipients files of ended campaigns"
            );
        }
        Ok(removed)
    }
}
