//! File system notifications in, [`Notice`]s on a channel out: the paths that changed, or
//! word that events were lost and the folders must be rescanned.
//!
//! Only this module imports notify. Its callback does no work beyond sending the paths on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::RecursiveMode;
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

/// How the watcher learns about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The kernel's notifications (inotify on Linux).
    Native,
    /// Looking at the folders every `interval`, for file systems that report nothing.
    Poll { interval: Duration },
}

/// Watches folders (recursively) and single files until dropped.
pub struct Watcher {
    inner: Box<dyn notify::Watcher + Send>,
    mode: Mode,
}

impl Watcher {
    pub fn new(mode: Mode, tx: UnboundedSender<Notice>) -> Result<Watcher, WatchError> {
        let handler = move |result: notify::Result<notify::Event>| {
            let notice = match result {
                Ok(event) if event.need_rescan() => {
                    Notice::Rescan("the file system event queue overflowed".to_string())
                }
                Ok(event) if matters(&event.kind) => Notice::Changed(event.paths),
                Ok(_) => return,
                Err(e) => Notice::Failed {
                    message: e.to_string(),
                    paths: e.paths,
                },
            };
            // The receiver is gone only while the daemon shuts down.
            let _ = tx.send(notice);
        };
        let inner: Box<dyn notify::Watcher + Send> =
            match mode {
                Mode::Native => Box::new(notify::recommended_watcher(handler).map_err(|e| {
                    WatchError::Watch {
                        path: PathBuf::from("/"),
                        message: e.to_string(),
                    }
                })?),
                Mode::Poll { interval } => Box::new(
                    notify::PollWatcher::new(
                        handler,
                        notify::Config::default()
                            .with_poll_interval(interval)
                            .with_compare_contents(false),
                    )
                    .map_err(|e| WatchError::Watch {
                        path: PathBuf::from("/"),
                        message: e.to_string(),
                    })?,
                ),
            };
        Ok(Watcher { inner, mode })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Watches a folder and everything below it.
    pub fn watch_tree(&mut self, folder: &Path) -> Result<(), WatchError> {
        self.watch(folder, RecursiveMode::Recursive)
    }

    /// Watches one folder's direct entries (used for the config file's folder, so that an
    /// editor's rename over the file is seen).
    pub fn watch_folder(&mut self, folder: &Path) -> Result<(), WatchError> {
        self.watch(folder, RecursiveMode::NonRecursive)
    }

    pub fn unwatch(&mut self, path: &Path) {
        let _ = self.inner.unwatch(path);
    }

    fn watch(&mut self, path: &Path, mode: RecursiveMode) -> Result<(), WatchError> {
        self.inner.watch(path, mode).map_err(|e| WatchError::Watch {
            path: path.to_path_buf(),
            message: describe(&e),
        })
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
