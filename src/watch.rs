//! File system notifications in, [`Notice`]s on a channel out: the paths that changed, or
//! word that events were lost and the folders must be rescanned.
//!
//! Only this module imports notify. Its callback does no work beyond sending the paths on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};

use crate::statcache::Stamp;
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {}: {message}", path.display())]
    Watch { path: PathBuf, message: String },
}

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something happened at these paths (created, written, renamed, removed, chmod).
    Changed(Vec<PathBuf>),
    /// Events were lost (queue overflow): every watched folder must be looked at again.
    Rescan(String),
    /// The watcher reported an error; it may have lost events for `paths`.
    Failed {
        message: String,
        paths: Vec<PathBuf>,
    },
}

/// How one folder is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The kernel's notifications (inotify on Linux).
    Native,
    /// Looking at the folder every so often, for file systems that report nothing or when
    /// the kernel refuses more watches.
    Poll,
}

/// Watches folders (recursively) and single folders' entries until dropped. Polling is
/// started only for the folders that need it.
pub struct Watcher {
    tx: UnboundedSender<Notice>,
    native: Option<notify::RecommendedWatcher>,
    poll: Option<Poller>,
    poll_interval: Duration,
}

impl Watcher {
    /// `force_poll` polls everything (`poll = true`); else the kernel's notifications are used
    /// wherever they can be.
    pub fn new(
        force_poll: bool,
        poll_interval: Duration,
        tx: UnboundedSender<Notice>,
    ) -> Result<Watcher, WatchError> {
        let native = if force_poll {
            None
        } else {
            Some(
                notify::recommended_watcher(handler(tx.clone())).map_err(|e| {
                    WatchError::Watch {
                        path: PathBuf::from("/"),
                        message: describe(&e),
                    }
                })?,
            )
        };
        Ok(Watcher {
            tx,
            native,
            poll: None,
            poll_interval,
        })
    }

    /// Watches a folder and everything below it, natively where possible, else by polling;
    /// says which, with the reason for polling.
    pub fn watch_tree(&mut self, folder: &Path) -> Result<(Backend, Option<String>), WatchError> {
        self.watch(folder, RecursiveMode::Recursive)
    }

    /// Watches one folder's direct entries (the config file's folder, the function folders'
    /// parents), so that a re-created folder or an editor's rename over a file is seen.
    pub fn watch_folder(&mut self, folder: &Path) -> Result<(Backend, Option<String>), WatchError> {
        self.watch(folder, RecursiveMode::NonRecursive)
    }

    /// Watches a folder and everything below it by polling, whatever else watches it.
    pub fn poll_tree(&mut self, folder: &Path) -> Result<(), WatchError> {
        self.poller().watch(folder, true);
        Ok(())
    }

    pub fn unwatch(&mut self, path: &Path) {
        if let Some(w) = &mut self.native {
            let _ = w.unwatch(path);
        }
        if let Some(w) = &mut self.poll {
            w.unwatch(path);
        }
    }

    fn watch(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
    ) -> Result<(Backend, Option<String>), WatchError> {
        let refused = match &mut self.native {
            Some(native) => match native.watch(path, mode) {
                Ok(()) => return Ok((Backend::Native, None)),
                Err(e) if !path.exists() => {
                    return Err(WatchError::Watch {
                        path: path.to_path_buf(),
                        message: describe(&e),
                    })
                }
                Err(e) => Some(describe(&e)),
            },
            None => None,
        };
        self.poller().watch(path, mode == RecursiveMode::Recursive);
        Ok((Backend::Poll, refused))
    }

    fn poller(&mut self) -> &mut Poller {
        let (tx, interval) = (self.tx.clone(), self.poll_interval);
        self.poll.get_or_insert_with(|| Poller::start(tx, interval))
    }
}

type Listing = HashMap<PathBuf, Stamp>;

/// Watches by looking: every interval, each polled folder is listed (without following
/// links) and compared with the last listing, to the nanosecond.
///
/// notify's own poller compares modification times in whole seconds, so it misses an edit
/// made within the second of the previous look.
struct Poller {
    roots: Arc<Mutex<HashMap<PathBuf, (bool, Listing)>>>,
    stop: Arc<AtomicBool>,
}

impl Poller {
    fn start(tx: UnboundedSender<Notice>, interval: Duration) -> Poller {
        let roots: Arc<Mutex<HashMap<PathBuf, (bool, Listing)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&roots), Arc::clone(&stop));
        let spawned = std::thread::Builder::new()
            .name("gcwatch poll".to_string())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    let mut roots = r.lock().unwrap_or_else(|e| e.into_inner());
                    let mut changed = Vec::new();
                    for (root, (recursive, last)) in roots.iter_mut() {
                        let now = list(root, *recursive);
                        changed.extend(diff(last, &now));
                        *last = now;
                    }
                    if !changed.is_empty() && tx.send(Notice::Changed(changed)).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the poll thread: {e}");
        }
        Poller { roots, stop }
    }

    /// Starts polling a folder; its listing now is what later looks compare with.
    fn watch(&mut self, root: &Path, recursive: bool) {
        let listing = list(root, recursive);
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        roots.insert(root.to_path_buf(), (recursive, listing));
    }

    fn unwatch(&mut self, root: &Path) {
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        roots.remove(root);
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Every path under `root` (and `root` itself) with its stamp.
fn list(root: &Path, recursive: bool) -> Listing {
    let mut out = Listing::new();
    if let Ok(meta) = std::fs::symlink_metadata(root) {
        out.insert(root.to_path_buf(), Stamp::of(&meta));
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if recursive && meta.is_dir() {
                stack.push(entry.path());
            }
            out.insert(entry.path(), Stamp::of(&meta));
        }
    }
    out
}

/// The paths created, removed or changed between two listings.
fn diff(old: &Listing, new: &Listing) -> Vec<PathBuf> {
    // A folder's own times move whenever an entry in it comes or goes, and those entries
    // are reported themselves; a folder counts only when it comes or goes.
    let is_dir = |s: &Stamp| s.mode & 0o170_000 == 0o040_000;
    let mut changed: Vec<PathBuf> = new
        .iter()
        .filter(|(path, stamp)| match old.get(*path) {
            None => true,
            Some(before) => before != *stamp && !(is_dir(before) && is_dir(stamp)),
        })
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(old.keys().filter(|p| !new.contains_key(*p)).cloned());
    changed
}

/// The callback of both backends: it only sends what happened on.
fn handler(tx: UnboundedSender<Notice>) -> impl notify::EventHandler {
    move |result: notify::Result<notify::Event>| {
        let notice = match result {
            Ok(event) if event.need_rescan() => {
                Notice::Rescan("the file system event queue overflowed".to_string())
            }
            Ok(event) if matters(&event.kind) => Notice::Changed(event.paths),
            Ok(_) => return,
            Err(e) => Notice::Failed {
                message: describe(&e),
                paths: e.paths,
            },
        };
        // The receiver is gone only while the daemon shuts down.
        let _ = tx.send(notice);
    }
}

/// Reads and opens change nothing; everything else may.
fn matters(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn describe(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "the system refuses more watches (raise fs.inotify.max_user_watches, or set poll = true)"
                .to_string()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, MetadataKind, ModifyKind, RenameMode};

    #[test]
    fn polls_see_sub_second_edits_creations_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), "1").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b"), "1").unwrap();
        let before = list(root, true);
        assert!(
            diff(&before, &list(root, true)).is_empty(),
            "nothing changed"
        );

        std::fs::write(root.join("a"), "2").unwrap(); // same size, same second
        std::fs::write(root.join("c"), "new").unwrap();
        std::fs::remove_file(root.join("sub/b")).unwrap();
        let mut changed = diff(&before, &list(root, true));
        changed.sort();
        let names: Vec<_> = changed
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect();
        let want: Vec<PathBuf> = ["a", "c", "sub/b"].iter().map(PathBuf::from).collect();
        assert_eq!(names, want);

        let shallow = list(root, false);
        assert!(
            !shallow.contains_key(&root.join("sub/b")) && shallow.contains_key(&root.join("sub"))
        );
    }

    #[test]
    fn only_changes_matter() {
        let cases = [
            (EventKind::Create(CreateKind::File), true),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                true,
            ),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (EventKind::Remove(notify::event::RemoveKind::Any), true),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                true,
            ),
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
        ];
        for (kind, want) in cases {
            assert_eq!(matters(&kind), want, "{kind:?}");
        }
    }
}
