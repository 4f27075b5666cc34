//! Prometheus metrics, kept by hand: a few counters and a request-duration histogram per
//! route template (never per URI: URIs carry phone numbers). Rendered by `GET /metrics`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// One route's series by (method, status).
type ByStatus = HashMap<(&'static str, u16), Series>;

/// The process's metrics.
#[derive(Default)]
pub struct Metrics {
    /// route template -> (method, status) -> series; looked up without allocating.
    requests: Mutex<HashMap<String, ByStatus>>,
    optout_changes: Mutex<BTreeMap<&'static str, u64>>,
    message_outcomes: Mutex<BTreeMap<&'static str, u64>>,
    checks: AtomicU64,
    reply_batches: AtomicU64,
    replies_batched: AtomicU64,
}

impl Metrics {
    /// Records one answered request.
    pub fn request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(route) {
            map.insert(route.to_owned(), HashMap::new());
        }
        let Some(by_status) = map.get_mut(route) else {
            return;
        };
        let s = by_status.entry((method, status)).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Records a change to an opt-out list (`opted_out` or `opted_in`).
    pub fn optout_change(&self, kind: &'static str) {
        *self
            .optout_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
    }

    /// Records one dispatch outcome (`sent`, `retry`, `failed`, `suppressed`).
    pub fn message_outcome(&self, outcome: &'static str) {
        *self
            .message_outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    /// Records numbers checked against the opt-out list.
    pub fn checks(&self, n: u64) {
        self.checks.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one group commit of `replies` replies.
    pub fn reply_batch(&self, replies: usize) {
        self.reply_batches.fetch_add(1, Ordering::Relaxed);
        self.replies_batched
            .fetch_add(replies as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP stoplist_http_requests_total HTTP requests answered, by route template, method and status."
        );
        let _ = writeln!(out, "# TYPE stoplist_http_requests_total counter");
        let guard = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let map: BTreeMap<(&str, &str, u16), &Series> = guard
            .iter()
            .flat_map(|(route, m)| {
                m.iter()
                    .map(move |((method, status), s)| ((route.as_str(), *method, *status), s))
            })
            .collect();
        for ((route, method, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "stoplist_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP stoplist_http_request_duration_seconds Time to answer, by route template."
        );
        let _ = writeln!(
            out,
            "# TYPE stoplist_http_request_duration_seconds histogram"
        );
        let mut by_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((route, method, _), s) in map.iter() {
            let agg = by_route.entry((route, method)).or_default();
            agg.count += s.count;
            agg.sum += s.sum;
            for i in 0..BUCKETS.len() {
                agg.buckets[i] += s.buckets[i];
            }
        }
        for ((route, method), s) in by_route {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "stoplist_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "stoplist_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "stoplist_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "stoplist_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        drop(map);
        drop(guard);
        let _ = writeln!(
            out,
            "# HELP stoplist_messages_dispatched_total Outbound messages handled by this instance's dispatcher, by outcome."
        );
        let _ = writeln!(out, "# TYPE stoplist_messages_dispatched_total counter");
        for (outcome, n) in self
            .message_outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "stoplist_messages_dispatched_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP stoplist_optout_changes_total Changes to opt-out lists made by this instance."
        );
        let _ = writeln!(out, "# TYPE stoplist_optout_changes_total counter");
        for (kind, n) in self
            .optout_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "stoplist_optout_changes_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP stoplist_optout_checks_total Numbers checked against opt-out lists."
        );
        let _ = writeln!(out, "# TYPE stoplist_optout_checks_total counter");
        let _ = writeln!(
            out,
            "stoplist_optout_checks_total {}",
            self.checks.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP stoplist_reply_commits_total Transactions that recorded replies (group commit).\n\
             # TYPE stoplist_reply_commits_total counter\n\
             stoplist_reply_commits_total {}",
            self.reply_batches.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP stoplist_replies_committed_total Replies recorded by those transactions.\n\
             # TYPE stoplist_replies_committed_total counter\n\
             stoplist_replies_committed_total {}",
            self.replies_batched.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn render_has_counters_and_histograms() {
        let m = super::Metrics::default();
        m.request("/api/v1/optouts/{number}", "GET", 200, 0.0007);
        m.optout_change("opted_out");
        m.checks(3);
        let text = m.render();
        assert!(text.contains(
            "stoplist_http_requests_total{route=\"/api/v1/optouts/{number}\",method=\"GET\",status=\"200\"} 1"
        ));
        assert!(text.contains("le=\"0.001\"} 1"));
        assert!(text.contains("stoplist_optout_changes_total{kind=\"opted_out\"} 1"));
        assert!(text.contains("stoplist_optout_checks_total 3"));
        m.reply_batch(3);
        let text = m.render();
        assert!(text.contains("stoplist_reply_commits_total 1\n"));
        assert!(text.contains("stoplist_replies_committed_total 3\n"));
    }
}
