//! Submissions and status changes in, build records out: one build's timeline, and the pages of the list route.

use std::ops::Range;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{BuildInfo, BuildStatus, BuildSummary, ListQuery, TimelineEntry, ARCH_AMD64};

/// Everything the emulator knows about one build; stored as `builds/<id>.json`.
///
/// The build's status is the last entry of its timeline, never a field of
/// its own, so the two cannot disagree. The timeline moves:
/// 1. PENDING, when the upload is accepted;
/// 2. BUILDING, after the build delay;
/// 3. SUCCESS or FAILED, once the upload was checked (and `--build-cmd` ran)
///    and the build delay passed again.
///
/// With `--hold-builds-in STATUS`, a build goes from PENDING to that status
/// (BUILDING, or one gcwatch does not know) instead, and stays there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    pub id: String,
    /// Order of submission, across restarts: the list route shows the highest first.
    pub seq: u64,
    pub function_id: String,
    pub arch: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub timeline: Vec<TimelineEntry>,
    pub log: Vec<String>,
}

/// A status change the timeline does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("build {id} cannot go from {from} to {to}")]
pub struct BadTransition {
    pub id: String,
    pub from: BuildStatus,
    pub to: BuildStatus,
}

/// Times as the builder writes them: RFC 3339, UTC, milliseconds.
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl BuildRecord {
    /// A new build for `function_id`, PENDING since `now`.
    pub fn new(id: String, seq: u64, function_id: String, now: DateTime<Utc>) -> BuildRecord {
        BuildRecord {
            id,
            seq,
            function_id,
            arch: vec![ARCH_AMD64.to_string()],
            created_at: timestamp(now),
            timeline: vec![TimelineEntry {
                status: BuildStatus::Pending,
                time: timestamp(now),
            }],
            log: Vec::new(),
        }
    }

    pub fn status(&self) -> BuildStatus {
        // Records are only made by `new` or checked on load, so the timeline
        // is never empty; PENDING is the honest answer if it ever were.
        self.timeline
            .last()
            .map(|entry| entry.status.clone())
            .unwrap_or(BuildStatus::Pending)
    }

    /// Moves the timeline on to `to` at `now`, if the order above allows it.
    pub fn advance(&mut self, to: BuildStatus, now: DateTime<Utc>) -> Result<(), BadTransition> {
        let from = self.status();
        let allowed = matches!(
            (&from, &to),
            (BuildStatus::Pending, BuildStatus::Building)
                | (BuildStatus::Pending, BuildStatus::Other(_))
                | (BuildStatus::Building, BuildStatus::Success)
                | (BuildStatus::Building, BuildStatus::Failed)
        );
        if !allowed {
            return Err(BadTransition {
                id: self.id.clone(),
                from,
                to,
            });
        }
        self.timeline.push(TimelineEntry {
            status: to,
            time: timestamp(now),
        });
        Ok(())
    }

    pub fn info(&self) -> BuildInfo {
        BuildInfo {
            function_id: self.function_id.clone(),
            status: self.status(),
            arch: self.arch.clone(),
            timeline: self.timeline.clone(),
            log: self.log.clone(),
        }
    }

    pub fn summary(&self) -> BuildSummary {
        BuildSummary {
            id: self.id.clone(),
            function_id: self.function_id.clone(),
            status: self.status(),
            created_at: self.created_at.clone(),
        }
    }
}

/// A checked request for one page of the list route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// From 1.
    pub page: u64,
    pub limit: u64,
    /// Lowercase, 24 hex digits.
    pub function_id: Option<String>,
}

/// Why a list query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("page must be 1 or more")]
    PageZero,
    #[error("limit must be 1 or more")]
    LimitZero,
    #[error("functionId must be 24 hex digits, got {0:?}")]
    BadFunctionId(String),
}

impl PageRequest {
    /// Applies the builder's defaults (page 1, limit 1) and bounds.
    pub fn from_query(query: &ListQuery) -> Result<PageRequest, PageError> {
        let page = query.page.unwrap_or(1);
        let limit = query.limit.unwrap_or(1);
        if page == 0 {
            return Err(PageError::PageZero);
        }
        if limit == 0 {
            return Err(PageError::LimitZero);
        }
        let function_id = match &query.function_id {
            None => None,
            Some(id) if crate::api::is_object_id(id) => Some(id.to_ascii_lowercase()),
            Some(id) => return Err(PageError::BadFunctionId(id.clone())),
        };
        Ok(PageRequest {
            page,
            limit,
            function_id,
        })
    }
}

/// Where one page falls in a list of `total` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// ceil(total / limit); 0 when there are no rows.
    pub page_count: u64,
    /// The rows of this page; empty past the last page.
    pub rows: Range<usize>,
}

/// `page` from 1 and `limit` from 1, as [`PageRequest`] guarantees.
pub fn page_of(total: usize, page: u64, limit: u64) -> Page {
    let limit = limit.max(1);
    let page_count = (total as u64).div_ceil(limit);
    let start = page
        .saturating_sub(1)
        .saturating_mul(limit)
        .min(total as u64) as usize;
    let end = (start as u64).saturating_add(limit).min(total as u64) as usize;
    Page {
        page_count,
        rows: start..end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timeline_moves_in_order_only() {
        use BuildStatus::*;
        let t = at("2026-01-02T03:04:05.678Z");
        let cases: [(&[BuildStatus], BuildStatus, bool); 10] = [
            (&[], Other("QUEUED_REMOTE".into()), true),
            (&[Building], Other("QUEUED_REMOTE".into()), false),
            (&[], Building, true),
            (&[], Success, false),
            (&[], Failed, false),
            (&[Building], Success, true),
            (&[Building], Failed, true),
            (&[Building], Pending, false),
            (&[Building, Success], Failed, false),
            (&[Building, Failed], Building, false),
        ];
        for (before, to, ok) in cases {
            let mut r = BuildRecord::new("b".into(), 1, "f".into(), t);
            for s in before {
                r.advance(s.clone(), t).unwrap();
            }
            assert_eq!(r.advance(to.clone(), t).is_ok(), ok, "{before:?} -> {to}");
            let want = if ok {
                to
            } else {
                r.timeline.last().unwrap().status.clone()
            };
            assert_eq!(r.status(), want);
        }
    }

    #[test]
    fn record_shapes() {
        let t0 = at("2026-01-02T03:04:05Z");
        let t1 = at("2026-01-02T03:04:05.300Z");
        let mut r = BuildRecord::new("b1".into(), 7, "f1".into(), t0);
        r.advance(BuildStatus::Building, t1).unwrap();
        r.log.push("unpacked 1 file".into());

        let info = serde_json::to_value(r.info()).unwrap();
        assert_eq!(
            info.to_string(),
            r#"{"functionId":"f1","status":"BUILDING","arch":["amd64"],"timeline":[{"status":"PENDING","time":"2026-01-02T03:04:05.000Z"},{"status":"BUILDING","time":"2026-01-02T03:04:05.300Z"}],"log":["unpacked 1 file"]}"#
        );
        let summary = serde_json::to_value(r.summary()).unwrap();
        assert_eq!(
            summary.to_string(),
            r#"{"id":"b1","functionId":"f1","status":"BUILDING","createdAt":"2026-01-02T03:04:05.000Z"}"#
        );

        let stored = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<BuildRecord>(&stored).unwrap(), r);
    }

    #[test]
    fn paging() {
        let cases = [
            // (total, page, limit, page_count, rows)
            (0, 1, 1, 0, 0..0),
            (0, 3, 10, 0, 0..0),
            (1, 1, 1, 1, 0..1),
            (22, 1, 3, 8, 0..3),
            (22, 2, 3, 8, 3..6),
            (22, 8, 3, 8, 21..22),
            (22, 9, 3, 8, 22..22),
            (6, 2, 3, 2, 3..6),
            (5, 1, 100, 1, 0..5),
            (5, u64::MAX, u64::MAX, 1, 5..5),
            (5, 1, u64::MAX, 1, 0..5),
        ];
        for (total, page, limit, page_count, rows) in cases {
            assert_eq!(
                page_of(total, page, limit),
                Page { page_count, rows },
                "total {total} page {page} limit {limit}"
            );
        }
    }

    #[test]
    fn page_requests() {
        let f = "66787C5E84809F8A29DDC2F7";
        let q = |page, limit, function_id: Option<&str>| ListQuery {
            page,
            limit,
            function_id: function_id.map(str::to_string),
        };
        let ok = |page, limit, function_id: Option<&str>| {
            Ok(PageRequest {
                page,
                limit,
                function_id: function_id.map(str::to_string),
            })
        };
        let cases = [
            (q(None, None, None), ok(1, 1, None)),
            (q(Some(2), Some(3), None), ok(2, 3, None)),
            (q(Some(0), None, None), Err(PageError::PageZero)),
            (q(None, Some(0), None), Err(PageError::LimitZero)),
            (
                q(None, None, Some(f)),
                ok(1, 1, Some("66787c5e84809f8a29ddc2f7")),
            ),
            (
                q(None, None, Some("nope")),
                Err(PageError::BadFunctionId("nope".into())),
            ),
        ];
        for (query, want) in cases {
            assert_eq!(PageRequest::from_query(&query), want, "{query:?}");
        }
    }
}
