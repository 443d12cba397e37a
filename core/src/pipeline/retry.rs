//! Exponential backoff with jitter, honouring a server's Retry-After.

use std::time::Duration;

use crate::config::RetryConfig;

/// The wait before attempt number `failures` (1 = after the first failure).
pub(crate) fn backoff(
    policy: &RetryConfig,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = policy
        .initial_backoff
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(policy.max_backoff);
    // "Equal jitter": half fixed, half random, so retries of many clients spread out.
    let half = exp / 2;
    let jitter = half.mul_f64(fastrand_unit());
    let wait = half + jitter;
    match retry_after {
        // The server knows best, but never wait more than ten times our own ceiling.
        Some(after) => after.max(wait).min(policy.max_backoff * 10),
        None => wait,
    }
}

fn fastrand_unit() -> f64 {
    (crate::event::next_random() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryConfig {
        RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let p = policy();
        for failures in 1..12 {
            let ceiling = (Duration::from_millis(100) * (1 << (failures - 1))).min(p.max_backoff);
            let wait = backoff(&p, failures, None);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{failures}: {wait:?}"
            );
        }
    }

    #[test]
    fn honours_retry_after() {
        let wait = backoff(&policy(), 1, Some(Duration::from_secs(3)));
        assert_eq!(wait, Duration::from_secs(3));
    }
}
