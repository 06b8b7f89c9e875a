//! A build's successive answers in, its status changes out, in order, including the changes
//! that happened between two polls (read from the build's timeline).

use std::time::{Duration, Instant};

use chrono::DateTime;

use crate::api::{BuildInfo, BuildStatus};
use crate::client::{ApiError, Client};

/// One status change of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<BuildStatus>,
    pub to: BuildStatus,
    /// Since the build began: from the timeline's stamps where they parse, else as seen here.
    pub elapsed_ms: u64,
}

/// Remembers what was reported of one build so that each change is reported once.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Timeline entries already read.
    read: usize,
    last: Option<BuildStatus>,
    began: Option<DateTime<chrono::FixedOffset>>,
}

impl Tracker {
    /// The changes that `info` shows and that were not reported yet. `seen_after` is how long
    /// after the submit this answer arrived, used where the timeline's stamps do not parse.
    pub fn observe(&mut self, info: &BuildInfo, seen_after: Duration) -> Vec<Transition> {
        let mut changes = Vec::new();
        let fallback_ms = seen_after.as_millis() as u64;
        // A timeline that shrank is not to be trusted for order; the status still is.
        let new_entries = info.timeline.get(self.read..).unwrap_or_default();
        for entry in new_entries {
            let at = DateTime::parse_from_rfc3339(&entry.time).ok();
            if self.began.is_none() {
                self.began = at;
            }
            let elapsed_ms = match (self.began, at) {
                (Some(b), Some(a)) => (a - b).num_milliseconds().max(0) as u64,
                _ => fallback_ms,
            };
            self.push(&mut changes, &entry.status, elapsed_ms);
        }
        self.read = self.read.max(info.timeline.len());
        self.push(&mut changes, &info.status, fallback_ms);
        changes
    }

    fn push(&mut self, changes: &mut Vec<Transition>, status: &BuildStatus, elapsed_ms: u64) {
        if self.last.as_ref() == Some(status) {
            return;
        }
        // Once a build has ended, a late timeline entry cannot reopen it.
        if self.last.as_ref().is_some_and(BuildStatus::is_final) {
            return;
        }
        changes.push(Transition {
            from: self.last.replace(status.clone()),
            to: status.clone(),
            elapsed_ms,
        });
    }

    pub fn last(&self) -> Option<&BuildStatus> {
        self.last.as_ref()
    }
}

/// The pause before the next poll: back to `base` after a change, else 1.5× longer, up to
/// ten times `base`.
pub fn next_interval(current: Duration, base: Duration, changed: bool) -> Duration {
    if changed {
        base
    } else {
        current.mul_f64(1.5).min(base * 10)
    }
}

/// How following a build ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// SUCCESS or FAILED, with the build's last answer.
    Ended(BuildInfo),
    /// Still not ended after the timeout; the last status seen.
    TimedOut(Option<BuildStatus>),
}

/// Polls a build until it ends or `timeout` passes, handing each change to `on_change`.
pub async fn follow(
    client: &Client,
    build_id: &str,
    base: Duration,
    timeout: Duration,
    mut on_change: impl FnMut(Transition),
) -> Result<Outcome, ApiError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut tracker = Tracker::default();
    let mut interval = base;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Outcome::TimedOut(tracker.last().cloned()));
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        if Instant::now() >= deadline {
            return Ok(Outcome::TimedOut(tracker.last().cloned()));
        }
        let info = client.build(build_id).await?;
        let changes = tracker.observe(&info, started.elapsed());
        interval = next_interval(interval, base, !changes.is_empty());
        changes.into_iter().for_each(&mut on_change);
        if info.status.is_final() {
            return Ok(Outcome::Ended(info));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TimelineEntry;

    fn info(status: &str, timeline: &[(&str, &str)]) -> BuildInfo {
        BuildInfo {
            function_id: "f".into(),
            status: status.into(),
            arch: vec!["amd64".into()],
            timeline: timeline
                .iter()
                .map(|(s, t)| TimelineEntry {
                    status: (*s).into(),
                    time: (*t).into(),
                })
                .collect(),
            log: vec![],
        }
    }

    fn names(changes: &[Transition]) -> Vec<String> {
        changes
            .iter()
            .map(|c| {
                let from = c.from.as_ref().map_or("-", |s| s.as_str());
                format!("{from}>{}@{}", c.to, c.elapsed_ms)
            })
            .collect()
    }

    const T0: &str = "2026-01-01T00:00:00.000Z";
    const T1: &str = "2026-01-01T00:00:00.300Z";
    const T2: &str = "2026-01-01T00:00:00.900Z";

    /// Each case: the answers of successive polls, and the changes reported after each.
    #[test]
    fn changes_are_reported_once_and_in_order() {
        type Case = (&'static str, Vec<BuildInfo>, Vec<Vec<&'static str>>);
        let cases: Vec<Case> = vec![
            (
                "one change per poll",
                vec![
                    info("PENDING", &[("PENDING", T0)]),
                    info("BUILDING", &[("PENDING", T0), ("BUILDING", T1)]),
                    info(
                        "SUCCESS",
                        &[("PENDING", T0), ("BUILDING", T1), ("SUCCESS", T2)],
                    ),
                ],
                vec![
                    vec!["->PENDING@0"],
                    vec!["PENDING>BUILDING@300"],
                    vec!["BUILDING>SUCCESS@900"],
                ],
            ),
            (
                "changes between two polls come from the timeline",
                vec![
                    info("PENDING", &[("PENDING", T0)]),
                    info(
                        "FAILED",
                        &[("PENDING", T0), ("BUILDING", T1), ("FAILED", T2)],
                    ),
                ],
                vec![
                    vec!["->PENDING@0"],
                    vec!["PENDING>BUILDING@300", "BUILDING>FAILED@900"],
                ],
            ),
            (
                "no change, nothing reported",
                vec![
                    info("PENDING", &[("PENDING", T0)]),
                    info("PENDING", &[("PENDING", T0)]),
                ],
                vec![vec!["->PENDING@0"], vec![]],
            ),
            (
                "a status missing from the timeline still counts, with the local time",
                vec![info("QUEUED", &[])],
                vec![vec!["->QUEUED@7"]],
            ),
            (
                "bad stamps fall back to the local time",
                vec![info(
                    "BUILDING",
                    &[("PENDING", "yesterday"), ("BUILDING", "now")],
                )],
                vec![vec!["->PENDING@7", "PENDING>BUILDING@7"]],
            ),
            (
                "nothing reopens an ended build",
                vec![
                    info("SUCCESS", &[("PENDING", T0), ("SUCCESS", T1)]),
                    info(
                        "BUILDING",
                        &[("PENDING", T0), ("SUCCESS", T1), ("BUILDING", T2)],
                    ),
                ],
                vec![vec!["->PENDING@0", "PENDING>SUCCESS@300"], vec![]],
            ),
        ];
        for (name, answers, want) in cases {
            let mut tracker = Tracker::default();
            for (answer, want) in answers.iter().zip(want) {
                let got = tracker.observe(answer, Duration::from_millis(7));
                assert_eq!(names(&got), want, "{name}");
            }
        }
    }

    #[test]
    fn intervals_grow_while_quiet_and_reset_on_change() {
        let base = Duration::from_millis(100);
        let mut i = base;
        let mut seen = Vec::new();
        for _ in 0..8 {
            i = next_interval(i, base, false);
            seen.push(i.as_millis());
        }
        assert_eq!(seen, [150, 225, 337, 506, 759, 1000, 1000, 1000]);
        assert_eq!(next_interval(i, base, true), base);
    }
}
