//! File system notifications in, [`Notice`]s on a channel out: the paths that changed, or
//! word that events were lost and the folders must be rescanned.
//!
//! Only this module imports notify. Its callback does no work beyond sending the paths on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
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
    poll: Option<notify::PollWatcher>,
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
        self.poller()?
            .watch(folder, RecursiveMode::Recursive)
            .map_err(|e| WatchError::Watch {
                path: folder.to_path_buf(),
                message: describe(&e),
            })
    }

    pub fn unwatch(&mut self, path: &Path) {
        if let Some(w) = &mut self.native {
            let _ = w.unwatch(path);
        }
        if let Some(w) = &mut self.poll {
            let _ = w.unwatch(path);
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
        self.poller()?
            .watch(path, mode)
            .map_err(|e| WatchError::Watch {
                path: path.to_path_buf(),
                message: describe(&e),
            })?;
        Ok((Backend::Poll, refused))
    }

    fn poller(&mut self) -> Result<&mut notify::PollWatcher, WatchError> {
        if self.poll.is_none() {
            let config = notify::Config::default()
                .with_poll_interval(self.poll_interval)
                .with_compare_contents(false);
            let poll = notify::PollWatcher::new(handler(self.tx.clone()), config).map_err(|e| {
                WatchError::Watch {
                    path: PathBuf::from("/"),
                    message: describe(&e),
                }
            })?;
            self.poll = Some(poll);
        }
        Ok(self.poll.as_mut().expect("created above"))
    }
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
