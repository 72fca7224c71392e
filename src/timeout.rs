//! `poll` timeouts from deadlines, the one way both binaries compute them:
//! in whole milliseconds rounded up (rounded down, `poll` would return a
//! hair before the deadline and the caller would spin on a zero timeout),
//! saturating at the largest timeout `poll` takes.

use std::time::Instant;

use nix::poll::PollTimeout;

/// How long to wait until `deadline`; zero once it has passed.
pub fn until(deadline: Instant) -> PollTimeout {
    let left = deadline.saturating_duration_since(Instant::now());
    let millis = left.as_micros().div_ceil(1000);
    PollTimeout::try_from(millis.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rounded_up_and_saturating() {
        assert_eq!(until(Instant::now()), PollTimeout::ZERO);
        let t = until(Instant::now() + Duration::from_micros(1500));
        assert!(
            t == PollTimeout::from(2u16) || t == PollTimeout::from(1u16),
            "{t:?}"
        );
        assert_eq!(
            until(Instant::now() + Duration::from_secs(100 * 86_400)),
            PollTimeout::MAX
        );
    }
}
