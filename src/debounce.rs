//! Changes with their instants in, settled bursts out: a burst is due when it has been quiet
//! for `debounce`, or `max_wait` after it began, whichever comes first.
//!
//! Pure: time is an argument, so tests use synthetic instants.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How many of a burst's paths are kept by name, for the report.
const NAMED_PATHS: usize = 5;
/// Bursts of more paths than this are looked at by a full walk.
const LISTED_PATHS: usize = 1000;

/// One function's burst of changes that settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// Distinct paths changed in the burst.
    pub paths: usize,
    /// The first few of them, in the order they changed.
    pub named: Vec<String>,
    /// All of them, sorted, when they are few enough to update a snapshot path by path.
    pub all: Option<Vec<String>>,
}

#[derive(Debug)]
struct Open {
    began: Instant,
    last: Instant,
    seen: HashSet<String>,
    named: Vec<String>,
}

impl Open {
    fn due_at(&self, debounce: Duration, max_wait: Duration) -> Instant {
        (self.last + debounce).min(self.began + max_wait)
    }
}

#[derive(Debug)]
pub struct Debouncer<K> {
    debounce: Duration,
    max_wait: Duration,
    open: HashMap<K, Open>,
}

impl<K: Eq + Hash + Clone> Debouncer<K> {
    pub fn new(debounce: Duration, max_wait: Duration) -> Self {
        Debouncer {
            debounce,
            max_wait: max_wait.max(debounce),
            open: HashMap::new(),
        }
    }

    /// Opens or extends `key`'s burst with a change to `path`.
    pub fn note(&mut self, key: K, path: &str, now: Instant) {
        let open = self.open.entry(key).or_insert_with(|| Open {
            began: now,
            last: now,
            seen: HashSet::new(),
            named: Vec::new(),
        });
        open.last = open.last.max(now);
        if open.seen.insert(path.to_string()) && open.named.len() < NAMED_PATHS {
            open.named.push(path.to_string());
        }
    }

    /// When the earliest open burst comes due; `None` when nothing is open.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .map(|o| o.due_at(self.debounce, self.max_wait))
            .min()
    }

    /// Removes and returns every burst due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<(K, Burst)> {
        let (debounce, max_wait) = (self.debounce, self.max_wait);
        let due: Vec<K> = self
            .open
            .iter()
            .filter(|(_, o)| o.due_at(debounce, max_wait) <= now)
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|k| {
                let open = self.open.remove(&k)?;
                let paths = open.seen.len();
                let all = (paths <= LISTED_PATHS).then(|| {
                    let mut all: Vec<String> = open.seen.into_iter().collect();
                    all.sort();
                    all
                });
                Some((
                    k,
                    Burst {
                        paths,
                        named: open.named,
                        all,
                    },
                ))
            })
            .collect()
    }

    /// Drops `key`'s open burst, if any (the function went away).
    pub fn forget(&mut self, key: &K) {
        self.open.remove(key);
    }

    pub fn set_timing(&mut self, debounce: Duration, max_wait: Duration) {
        self.debounce = debounce;
        self.max_wait = max_wait.max(debounce);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Each case: changes at these millisecond offsets (function, path), then the
    /// offset at which each function's burst is due.
    #[test]
    fn bursts_settle_after_quiet_or_max_wait() {
        struct Case {
            name: &'static str,
            changes: &'static [(u64, &'static str, &'static str)],
            due: &'static [(&'static str, u64, usize)],
        }
        let cases = [
            Case {
                name: "one change waits the debounce",
                changes: &[(0, "a", "x")],
                due: &[("a", 100, 1)],
            },
            Case {
                name: "each change extends the burst",
                changes: &[(0, "a", "x"), (50, "a", "y"), (90, "a", "x")],
                due: &[("a", 190, 2)],
            },
            Case {
                name: "a steady stream is cut at max_wait",
                changes: &[
                    (0, "a", "x"),
                    (80, "a", "x"),
                    (160, "a", "x"),
                    (240, "a", "x"),
                    (320, "a", "x"),
                ],
                due: &[("a", 300, 1)],
            },
            Case {
                name: "functions settle independently",
                changes: &[(0, "a", "x"), (30, "b", "y"), (60, "a", "z")],
                due: &[("b", 130, 1), ("a", 160, 2)],
            },
        ];
        for case in cases {
            let t0 = Instant::now();
            let mut d = Debouncer::new(100 * MS, 300 * MS);
            for (at, key, path) in case.changes {
                d.note(*key, path, t0 + Duration::from_millis(*at));
            }
            let mut got = Vec::new();
            while let Some(deadline) = d.next_deadline() {
                assert!(
                    d.take_due(deadline - MS).is_empty(),
                    "{}: due early",
                    case.name
                );
                for (key, burst) in d.take_due(deadline) {
                    got.push((key, (deadline - t0).as_millis() as u64, burst.paths));
                }
            }
            assert_eq!(got, case.due, "{}", case.name);
        }
    }

    #[test]
    fn named_paths_keep_the_first_few_in_order() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(10 * MS, 10 * MS);
        for i in 0..50 {
            d.note("a", &format!("f{i}"), t0);
        }
        let due = d.take_due(t0 + 10 * MS);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.paths, 50);
        assert_eq!(due[0].1.named, ["f0", "f1", "f2", "f3", "f4"]);
        assert_eq!(d.next_deadline(), None);
    }
}
