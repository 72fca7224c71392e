//! A token bucket for log lines a client can cause (received pings,
//! rejections): a burst at once, then a steady rate, the excess counted and
//! summarised at most once a second, so that an idle daemon never wakes up
//! for it.

use std::time::{Duration, Instant};

/// How often suppressed lines are summarised while suppression goes on.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);
/// Bucket units per token: a rate of R tokens per second adds exactly R units
/// per nanosecond, so refills are integer products that never drift.
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// A token bucket: up to `burst` events at once, refilled at `per_second`;
/// the events beyond it are counted and summarised at most once a
/// [`SUMMARY_INTERVAL`].
#[derive(Debug)]
pub struct RateLimit {
    /// 0: no limit (nothing is counted or refilled).
    per_second: u32,
    /// The capacity, in units ([`UNITS_PER_TOKEN`] per event).
    capacity: u128,
    /// What the bucket held at `refilled_at`, in units.
    level: u128,
    refilled_at: Instant,
    suppressed: u64,
    /// Every event ever suppressed (for the metrics; never reset).
    suppressed_total: u64,
    /// When the first event not summarised yet was suppressed.
    suppressed_since: Option<Instant>,
}

impl RateLimit {
    /// A bucket as large as one second's worth (`per_second == 0`: no limit).
    pub fn new(per_second: u32, now: Instant) -> Self {
        Self::with_burst(per_second, per_second, now)
    }

    /// A full bucket of `burst` events refilled at `per_second`
    /// (`per_second == 0`: no limit; a `burst` of 0 counts as 1).
    pub fn with_burst(per_second: u32, burst: u32, now: Instant) -> Self {
        let capacity = u128::from(burst.max(1)) * UNITS_PER_TOKEN;
        RateLimit {
            per_second,
            capacity,
            level: capacity,
            refilled_at: now,
            suppressed: 0,
            suppressed_total: 0,
            suppressed_since: None,
        }
    }

    /// Changes the rate and the burst (on reload) without losing the count
    /// of suppressed events or the tokens earned so far (at most the new
    /// burst is kept). Leaving "no limit" starts with a full bucket.
    pub fn set_limit(&mut self, per_second: u32, burst: u32, now: Instant) {
        let capacity = u128::from(burst.max(1)) * UNITS_PER_TOKEN;
        if self.per_second == 0 {
            self.level = capacity;
            self.refilled_at = self.refilled_at.max(now);
        } else {
            self.refill(now);
            self.level = self.level.min(capacity);
        }
        self.per_second = per_second;
        self.capacity = capacity;
    }

    fn refill(&mut self, now: Instant) {
        // An earlier `now` (callers read the clock at different points)
        // adds nothing and must not move the refill point back.
        if now <= self.refilled_at {
            return;
        }
        let earned = now.duration_since(self.refilled_at).as_nanos() * u128::from(self.per_second);
        self.level = self.level.saturating_add(earned).min(self.capacity);
        self.refilled_at = now;
    }

    /// How many of `count` events may be logged now; the rest are counted.
    /// Also returns the suppressed count whose summary is due, if any.
    pub fn take(&mut self, count: u64, now: Instant) -> (u64, Option<u64>) {
        if self.per_second == 0 {
            return (count, None);
        }
        let due = self.flush(now);
        self.refill(now);
        // An empty bucket (a flood) needs no 128-bit division.
        let tokens = if self.level < UNITS_PER_TOKEN {
            0
        } else {
            u64::try_from(self.level / UNITS_PER_TOKEN).unwrap_or(u64::MAX)
        };
        let allowed = count.min(tokens);
        self.level -= u128::from(allowed) * UNITS_PER_TOKEN;
        let suppressed = count - allowed;
        if suppressed > 0 {
            self.suppressed += suppressed;
            self.suppressed_total += suppressed;
            self.suppressed_since.get_or_insert(now);
        }
        (allowed, due)
    }

    /// The suppressed count, if its summary is due at `now`.
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        if self.deadline().is_some_and(|at| now >= at) {
            Some(self.take_suppressed())
        } else {
            None
        }
    }

    /// When the suppressed count is due for a summary; `None` when nothing
    /// is suppressed, so that an idle daemon never wakes up for it.
    pub fn deadline(&self) -> Option<Instant> {
        self.suppressed_since.map(|since| since + SUMMARY_INTERVAL)
    }

    /// Every event suppressed since the start, summarised or not.
    pub fn suppressed_total(&self) -> u64 {
        self.suppressed_total
    }

    /// Suppressed events not summarised yet (for the final flush).
    pub fn take_suppressed(&mut self) -> u64 {
        self.suppressed_since = None;
        std::mem::take(&mut self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::logging::REJECTION_LINES_PER_SECOND;
    #[test]
    fn a_burst_of_exactly_the_capacity_passes() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 1000, start);
        assert_eq!(limit.take(1, start), (1, None));
        assert_eq!(limit.take(999, start), (999, None));
        assert_eq!(limit.deadline(), None, "nothing suppressed: no wake-up");
        assert_eq!(limit.take_suppressed(), 0);
    }

    #[test]
    fn one_more_than_the_capacity_suppresses_one() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 1000, start);
        // The seed session: one ping, then 100 more; and 899 after that.
        assert_eq!(limit.take(1, start), (1, None));
        assert_eq!(limit.take(100, start), (100, None));
        assert_eq!(limit.take(900, start), (899, None));
        assert_eq!(limit.deadline(), Some(start + SUMMARY_INTERVAL));
        assert_eq!(limit.flush(start + Duration::from_millis(999)), None);
        assert_eq!(limit.flush(start + SUMMARY_INTERVAL), Some(1));
        assert_eq!(limit.deadline(), None);
    }

    #[test]
    fn the_bucket_refills_at_the_rate_without_drift() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 10, start);
        assert_eq!(limit.take(10, start).0, 10);
        assert_eq!(limit.take(1, start).0, 0);
        // 10 ms is exactly one token at 100 per second; 9.999 ms is not.
        let t = start + Duration::from_nanos(9_999_999);
        assert_eq!(limit.take(1, t).0, 0);
        let t = start + Duration::from_millis(10);
        assert_eq!(limit.take(1, t).0, 1);
        // A second in steps of 100 µs (a hundredth of a token each): exactly
        // 100 tokens, none lost to rounding.
        let mut got = 0;
        for step in 1..=10_000u64 {
            got += limit.take(1, t + Duration::from_micros(100 * step)).0;
        }
        assert_eq!(got, 100);
        // Long idle: full again, but never more than the burst.
        let later = t + Duration::from_secs(86_400 * 365);
        assert_eq!(limit.take(1000, later).0, 10);
        // A clock read earlier than the last one earns nothing.
        assert_eq!(limit.take(1, t).0, 0);
    }

    #[test]
    fn the_summary_counts_every_suppressed_event_once_a_second() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(10, 10, start);
        let mut logged = 0;
        let mut summarised = 0;
        // 1000 events, 1 ms apart: 10 + ~10 a second pass.
        for ms in 0..1000u64 {
            let (allowed, due) = limit.take(1, start + Duration::from_millis(ms));
            logged += allowed;
            if let Some(n) = due {
                summarised += n;
            }
        }
        let stop = start + Duration::from_millis(1000);
        let deadline = limit.deadline().expect("suppression goes on");
        assert!(deadline > stop - SUMMARY_INTERVAL, "at most once a second");
        summarised += limit.take_suppressed();
        assert_eq!(logged, 10 + 9, "10 at once, one every 100 ms after");
        assert_eq!(logged + summarised, 1000);
        assert_eq!(limit.deadline(), None);
    }

    #[test]
    fn summaries_come_at_most_once_a_second() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(1, 1, start);
        let mut summaries = Vec::new();
        for ms in (0..3500u64).step_by(50) {
            let now = start + Duration::from_millis(ms);
            if let (_, Some(n)) = limit.take(1, now) {
                summaries.push((ms, n));
            }
        }
        let times: Vec<u64> = summaries.iter().map(|&(ms, _)| ms).collect();
        assert_eq!(times, [1050, 2050, 3050], "{summaries:?}");
    }

    #[test]
    fn zero_means_no_limit() {
        let now = Instant::now();
        let mut limit = RateLimit::with_burst(0, 1, now);
        assert_eq!(limit.take(1_000_000, now), (1_000_000, None));
        assert_eq!(limit.take(u64::MAX, now), (u64::MAX, None));
        assert_eq!(limit.deadline(), None);
        let mut limit = RateLimit::new(0, now);
        assert_eq!(limit.take(1_000_000, now), (1_000_000, None));
    }

    #[test]
    fn an_idle_limit_never_wants_a_wake_up() {
        let start = Instant::now();
        let mut limit = RateLimit::new(REJECTION_LINES_PER_SECOND, start);
        assert_eq!(limit.deadline(), None);
        assert_eq!(limit.take(11, start), (10, None), "burst = rate");
        assert!(limit.deadline().is_some());
        let later = start + Duration::from_secs(5);
        assert_eq!(limit.flush(later), Some(1));
        assert_eq!(limit.deadline(), None);
        assert_eq!(limit.flush(later + Duration::from_secs(5)), None);
    }

    #[test]
    fn a_new_limit_keeps_the_suppressed_count() {
        let start = Instant::now();
        let mut limit = RateLimit::with_burst(100, 5, start);
        assert_eq!(limit.take(8, start).0, 5);
        limit.set_limit(100, 2, start + Duration::from_millis(100));
        assert_eq!(
            limit.take(5, start + Duration::from_millis(100)).0,
            2,
            "at most the new burst"
        );
        limit.set_limit(0, 2, start + Duration::from_millis(100));
        assert_eq!(limit.take(7, start + Duration::from_millis(100)).0, 7);
        limit.set_limit(100, 4, start + Duration::from_millis(100));
        assert_eq!(
            limit.take(5, start + Duration::from_millis(100)).0,
            4,
            "full again"
        );
        assert_eq!(limit.suppressed_total(), 3 + 3 + 1);
        assert_eq!(limit.take_suppressed(), 3 + 3 + 1);
        assert_eq!(limit.suppressed_total(), 3 + 3 + 1, "never reset");
    }
}
