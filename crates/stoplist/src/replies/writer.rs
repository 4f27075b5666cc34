//! Group commit for replies. Every reply must be durable before its webhook is answered, and
//! one commit (one fsync on SQLite) per reply caps a busy account at a few hundred replies a
//! second. So webhooks hand their classified reply to one writer task per process, which
//! takes every reply waiting (up to [`MAX_BATCH`]) and records them in one transaction with
//! a savepoint each (the store's `record_replies`): one commit for the lot, each reply still
//! its own all-or-nothing unit. Each webhook waits for its own result, which is only sent
//! after the commit.
//!
//! Under light load a batch is one reply and nothing waits longer than before; under heavy
//! load batches grow by themselves while the previous commit runs (no timer, no added delay).
//! When a whole batch fails (the commit itself), each of its replies is recorded again alone,
//! so that every webhook gets its own answer; a reply whose first attempt did commit after all
//! is then a redelivery, which changes nothing (idempotent by provider message id).

use crate::metrics::Metrics;
use crate::optouts::OptOuts;
use std::sync::{Arc, OnceLock};
use stoplist_domain::{AccountId, CampaignId, MessageId};
use stoplist_store::{NewReply, RecordedReply, Recording, ReplyEffects, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most replies recorded in one transaction.
pub const MAX_BATCH: usize = 256;
/// Replies waiting for the writer before webhooks wait to hand theirs over.
const QUEUE: usize = 4 * MAX_BATCH;

/// The process's reply writer, started on first use (inside the server's runtime).
#[derive(Default)]
pub struct ReplyWriter {
    queue: OnceLock<mpsc::Sender<Job>>,
}

/// A reply waiting to be recorded, and where its result goes.
struct Job {
    reply: OwnedReply,
    effects: ReplyEffects,
    /// The result, and whether its acknowledgement must wait out the hand-over rule.
    done: oneshot::Sender<(Result<RecordedReply, StoreError>, bool)>,
}

impl ReplyWriter {
    /// Records one reply with its effects in the next batch; answers once it is committed,
    /// with whether its acknowledgement must wait out the hand-over rule
    /// ([`OptOuts::handovers`]).
    pub async fn record(
        &self,
        optouts: &Arc<OptOuts>,
        metrics: &Arc<Metrics>,
        reply: &NewReply<'_>,
        effects: &ReplyEffects,
    ) -> Result<(RecordedReply, bool), StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(optouts.clone(), metrics.clone(), rx));
            tx
        });
        let (done, result) = oneshot::channel();
        let job = Job {
            reply: OwnedReply::from(reply),
            effects: effects.clone(),
            done,
        };
        if queue.send(job).await.is_err() {
            // The writer's runtime is gone (a test that built the state in another one).
            let one = [Recording { reply, effects }];
            let results = optouts.record_replies(&one, crate::now_ms()).await?;
            let wait = optouts.handovers(&one, &results).await;
            let (Some(result), Some(wait)) = (results.into_iter().next(), wait.first()) else {
                return Err(StoreError::NotFound("reply"));
            };
            return result.map(|r| (r, *wait));
        }
        match result.await {
            Ok((result, wait)) => result.map(|r| (r, wait)),
            Err(_) => Err(StoreError::Corrupt(
                "the reply writer stopped before answering".into(),
            )),
        }
    }
}

/// The writer: takes what is waiting, records it in one transaction, answers each.
async fn run(optouts: Arc<OptOuts>, metrics: Arc<Metrics>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let replies: Vec<NewReply<'_>> = jobs.iter().map(|j| j.reply.as_new()).collect();
        let batch: Vec<Recording<'_>> = replies
            .iter()
            .zip(&jobs)
            .map(|(reply, j)| Recording {
                reply,
                effects: &j.effects,
            })
            .collect();
        metrics.reply_batch(batch.len());
        let results = match optouts.record_replies(&batch, crate::now_ms()).await {
            Ok(results) => results,
            Err(e) => {
                tracing::warn!(error = %e, replies = batch.len(), "a batch of replies failed to commit; recording each alone");
                let mut alone = Vec::with_capacity(batch.len());
                for one in &batch {
                    let result = optouts.record_replies(&[*one], crate::now_ms()).await;
                    alone.push(
                        result.and_then(|mut r| r.pop().ok_or(StoreError::NotFound("reply"))?),
                    );
                }
                alone
            }
        };
        // One query for the whole batch says which acknowledgements wait out the hand-over.
        let waits = optouts.handovers(&batch, &results).await;
        drop(batch);
        drop(replies);
        for ((job, result), wait) in jobs.drain(..).zip(results).zip(waits) {
            // A webhook that went away (client disconnected) no longer waits: its reply is
            // recorded all the same.
            let _ = job.done.send((result, wait));
        }
    }
}

/// [`NewReply`] with its own strings, to cross into the writer task.
struct OwnedReply {
    account: AccountId,
    provider: String,
    provider_message_id: String,
    from: String,
    to: String,
    body: String,
    class: String,
    tier: String,
    matched: Option<String>,
    language: Option<String>,
    matched_message: Option<MessageId>,
    matched_campaign: Option<CampaignId>,
    review: Option<String>,
    received_at: i64,
}

impl OwnedReply {
    fn from(r: &NewReply<'_>) -> OwnedReply {
        OwnedReply {
            account: r.account,
            provider: r.provider.to_owned(),
            provider_message_id: r.provider_message_id.to_owned(),
            from: r.from.to_owned(),
            to: r.to.to_owned(),
            body: r.body.to_owned(),
            class: r.class.to_owned(),
            tier: r.tier.to_owned(),
            matched: r.matched.map(str::to_owned),
            language: r.language.map(str::to_owned),
            matched_message: r.matched_message,
            matched_campaign: r.matched_campaign,
            review: r.review.map(str::to_owned),
            received_at: r.received_at,
        }
    }

    fn as_new(&self) -> NewReply<'_> {
        NewReply {
            account: self.account,
            provider: &self.provider,
            provider_message_id: &self.provider_message_id,
            from: &self.from,
            to: &self.to,
            body: &self.body,
            class: &self.class,
            tier: &self.tier,
            matched: self.matched.as_deref(),
            language: self.language.as_deref(),
            matched_message: self.matched_message,
            matched_campaign: self.matched_campaign,
            review: self.review.as_deref(),
            received_at: self.received_at,
        }
    }
}
