//! What the background workers share with the request handlers: the wake-ups that start
//! work at once instead of at the next poll, and the shutdown state (SPEC 4: a shutdown stops
//! taking new work and finishes what it has claimed).

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Wake-ups of the background workers.
#[derive(Default)]
pub struct Wakeups {
    /// The dispatcher: messages were queued, or a reply queued an answer.
    pub dispatch: Notify,
    /// The notification deliverer: a change was put in the outbox.
    pub notify: Notify,
}

/// Whether the process is draining (a shutdown began): new work is refused, claimed work is
/// finished.
#[derive(Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    /// Signalled once when draining begins.
    pub drain: Notify,
}

impl Lifecycle {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Begins draining; answers whether this call began it.
    pub fn begin_drain(&self) -> bool {
        let first = !self.draining.swap(true, Ordering::AcqRel);
        if first {
            self.drain.notify_waiters();
        }
        first
    }

    /// Waits until draining begins (at once if it has).
    pub async fn drained(&self) {
        let notified = self.drain.notified();
        if self.is_draining() {
            return;
        }
        notified.await;
    }
}
