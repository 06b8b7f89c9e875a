//! Fault settings, request counters and a seeded PRNG in, the fault each request gets (if any) out.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The fault flags of `gcwatch serve`. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSettings {
    /// Share of requests answered 503, from 0.0 to 1.0.
    pub fail_rate: f64,
    /// Added before each answer.
    pub latency: Duration,
    /// Seeds the PRNG behind `fail_rate`; `None` draws a seed from entropy.
    pub seed: Option<u64>,
    /// Every Nth request (counted over all requests) is answered 429.
    pub rate_limit_every: Option<u64>,
    /// The `Retry-After` of those 429s; `None` sends none.
    pub retry_after_secs: Option<u64>,
    /// Every Nth build upload (counted over uploads only) has its connection
    /// cut while its body is read.
    pub reset_upload_every: Option<u64>,
    /// Every Nth request (counted over all requests) is answered with an
    /// HTML page, status 502, as a broken proxy would.
    pub garbage_every: Option<u64>,
}

impl FaultSettings {
    /// Whether any fault or delay is asked for.
    pub fn any(&self) -> bool {
        self.fail_rate > 0.0
            || !self.latency.is_zero()
            || [
                self.rate_limit_every,
                self.reset_upload_every,
                self.garbage_every,
            ]
            .iter()
            .any(|every| every.is_some_and(|n| n > 0))
    }
}

/// What a request is, as far as counting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `POST /v1/build/{function id}`.
    Upload,
    Other,
}

/// What is done to a request instead of running its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 with a JSON error body.
    Unavailable,
    /// 429 with a JSON error body, and `Retry-After` when set.
    RateLimited { retry_after_secs: Option<u64> },
    /// The connection is cut while the body is read; no answer.
    ResetUpload,
    /// 502 with an HTML page.
    Garbage,
}

/// Decides, request by request, which fault (if any) each one gets.
///
/// Every request, faulted or not, counts, and every request draws one
/// number from the PRNG, so the Nth request's fate depends only on N and the
/// seed. The first rule that applies wins:
/// 1. the draw is below `fail_rate`: 503;
/// 2. the request's number is a multiple of `rate_limit_every`: 429;
/// 3. it is an upload whose number among uploads is a multiple of
///    `reset_upload_every`: the connection is cut;
/// 4. the request's number is a multiple of `garbage_every`: an HTML 502.
#[derive(Debug)]
pub struct FaultPlan {
    settings: FaultSettings,
    requests: u64,
    uploads: u64,
    rng: StdRng,
}

impl FaultPlan {
    /// A plan whose PRNG starts from `seed`: `settings.seed`, or one drawn
    /// by the caller, who can then say which it was.
    pub fn new(settings: FaultSettings, seed: u64) -> FaultPlan {
        FaultPlan {
            settings,
            requests: 0,
            uploads: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn settings(&self) -> &FaultSettings {
        &self.settings
    }

    /// Counts one more request of `kind` and says what to do to it.
    pub fn decide(&mut self, kind: RequestKind) -> Option<Fault> {
        self.requests = self.requests.wrapping_add(1);
        if kind == RequestKind::Upload {
            self.uploads = self.uploads.wrapping_add(1);
        }
        let draw: f64 = self.rng.random();
        let nth = |every: Option<u64>, count: u64| every.is_some_and(|n| n > 0 && count % n == 0);
        let s = &self.settings;
        if draw < s.fail_rate {
            Some(Fault::Unavailable)
        } else if nth(s.rate_limit_every, self.requests) {
            Some(Fault::RateLimited {
                retry_after_secs: s.retry_after_secs,
            })
        } else if kind == RequestKind::Upload && nth(s.reset_upload_every, self.uploads) {
            Some(Fault::ResetUpload)
        } else if nth(s.garbage_every, self.requests) {
            Some(Fault::Garbage)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use RequestKind::{Other, Upload};

    fn plan(settings: FaultSettings) -> FaultPlan {
        FaultPlan::new(settings, 1)
    }

    const R: Option<Fault> = Some(Fault::RateLimited {
        retry_after_secs: None,
    });
    const X: Option<Fault> = Some(Fault::ResetUpload);
    const G: Option<Fault> = Some(Fault::Garbage);
    const U: Option<Fault> = Some(Fault::Unavailable);

    #[test]
    fn sequences() {
        // (settings, the requests, the faults they get)
        let cases: Vec<(FaultSettings, Vec<RequestKind>, Vec<Option<Fault>>)> = vec![
            (
                FaultSettings::default(),
                vec![Other, Upload, Other],
                vec![None, None, None],
            ),
            (
                FaultSettings {
                    fail_rate: 1.0,
                    ..Default::default()
                },
                vec![Other, Upload, Other],
                vec![U, U, U],
            ),
            (
                FaultSettings {
                    rate_limit_every: Some(2),
                    ..Default::default()
                },
                vec![Other, Other, Upload, Upload, Other, Other],
                vec![None, R, None, R, None, R],
            ),
            (
                FaultSettings {
                    rate_limit_every: Some(3),
                    retry_after_secs: Some(7),
                    ..Default::default()
                },
                vec![Other, Other, Other],
                vec![
                    None,
                    None,
                    Some(Fault::RateLimited {
                        retry_after_secs: Some(7),
                    }),
                ],
            ),
            (
                // Uploads are counted apart from other requests.
                FaultSettings {
                    reset_upload_every: Some(2),
                    ..Default::default()
                },
                vec![Upload, Other, Other, Upload, Other, Upload, Upload],
                vec![None, None, None, X, None, None, X],
            ),
            (
                FaultSettings {
                    garbage_every: Some(2),
                    ..Default::default()
                },
                vec![Other, Upload, Other, Other],
                vec![None, G, None, G],
            ),
            (
                // The rate limit wins over garbage; both keep counting.
                FaultSettings {
                    rate_limit_every: Some(2),
                    garbage_every: Some(3),
                    ..Default::default()
                },
                vec![Other; 6],
                vec![None, R, G, R, None, R],
            ),
            (
                // The rate limit wins over a reset: upload 2 gets a 429,
                // upload 4 (request 5) is the next one reset.
                FaultSettings {
                    rate_limit_every: Some(2),
                    reset_upload_every: Some(2),
                    ..Default::default()
                },
                vec![Upload, Upload, Upload, Other, Upload],
                vec![None, R, None, R, X],
            ),
            (
                // Zero means off rather than a division by zero.
                FaultSettings {
                    rate_limit_every: Some(0),
                    reset_upload_every: Some(0),
                    garbage_every: Some(0),
                    ..Default::default()
                },
                vec![Upload, Other],
                vec![None, None],
            ),
        ];
        for (settings, kinds, want) in cases {
            let mut plan = plan(settings.clone());
            let got: Vec<_> = kinds.iter().map(|kind| plan.decide(*kind)).collect();
            assert_eq!(got, want, "{settings:?} {kinds:?}");
        }
    }

    #[test]
    fn a_seed_repeats_and_the_rate_holds() {
        let settings = FaultSettings {
            fail_rate: 0.3,
            seed: Some(7),
            ..Default::default()
        };
        let run = || {
            let mut plan = FaultPlan::new(settings.clone(), 7);
            (0..1000)
                .map(|_| plan.decide(Other) == U)
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let failed = first.iter().filter(|f| **f).count();
        assert!((220..=380).contains(&failed), "{failed} of 1000");
    }

    #[test]
    fn anything_asked() {
        assert!(!FaultSettings::default().any());
        assert!(!FaultSettings {
            seed: Some(3),
            retry_after_secs: Some(1),
            ..Default::default()
        }
        .any());
        assert!(FaultSettings {
            latency: Duration::from_millis(1),
            ..Default::default()
        }
        .any());
        assert!(FaultSettings {
            garbage_every: Some(5),
            ..Default::default()
        }
        .any());
    }
}
