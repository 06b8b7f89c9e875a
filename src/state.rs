//! What was last submitted, per function, in and out of `<state_dir>/<file>`, written atomically.
//!
//! The folder is created 0700 and the file 0600. A write goes to a temporary file in the same
//! folder that is synced and then renamed over the old one, so a crash or `kill -9` at any
//! moment leaves either the old or the new state, never a mix.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::BuildStatus;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: {about}: {source}", path.display())]
    Io {
        path: PathBuf,
        about: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Per function name, what was last submitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionState {
    /// The GreenCloud function id the record is for; a changed id means never submitted.
    pub function_id: String,
    /// The tree hash of the last submitted zip.
    pub hash: Option<String>,
    pub build_id: Option<String>,
    pub status: Option<BuildStatus>,
}

impl State {
    /// The hash last submitted for this function name and id.
    pub fn last_hash(&self, name: &str, function_id: &str) -> Option<&str> {
        self.functions
            .get(name)
            .filter(|f| f.function_id == function_id)
            .and_then(|f| f.hash.as_deref())
    }

    pub fn record_submit(&mut self, name: &str, function_id: &str, hash: &str, build_id: &str) {
        self.functions.insert(
            name.to_string(),
            FunctionState {
                function_id: function_id.to_string(),
                hash: Some(hash.to_string()),
                build_id: Some(build_id.to_string()),
                status: None,
            },
        );
    }

    pub fn record_status(&mut self, name: &str, build_id: &str, status: &BuildStatus) {
        if let Some(f) = self.functions.get_mut(name) {
            if f.build_id.as_deref() == Some(build_id) {
                f.status = Some(status.clone());
            }
        }
    }
}

/// Creates the state dir (mode 0700) if it is missing: the first thing any command that
/// writes there does, so that whatever it holds is never readable by others.
pub fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateError::Io {
            path: dir.to_path_buf(),
            about: "cannot create the state folder",
            source,
        })
}

/// Holds `<state_dir>/lock` for as long as it lives, so that two daemons never watch, and
/// write the state of, one project at once.
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
}

impl Lock {
    /// Takes the lock, or says which process holds it.
    pub fn take(dir: &Path) -> Result<Lock, String> {
        use std::io::{Read, Seek};
        use std::os::fd::AsRawFd;
        ensure_dir(dir).map_err(|e| e.to_string())?;
        let path = dir.join("lock");
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns; it touches no memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(format!(
                "another gcwatch (pid {}) is already watching this project ({} is locked)",
                holder.trim(),
                path.display()
            ));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        Ok(Lock { _file: file })
    }
}

/// The state file of one project and one API target.
#[derive(Debug, Clone)]
pub struct StateStore {
    file: PathBuf,
}

impl StateStore {
    /// Uses `dir/file_name`, creating `dir` (0700) if needed.
    pub fn open(dir: &Path, file_name: &str) -> Result<StateStore, StateError> {
        ensure_dir(dir)?;
        Ok(StateStore {
            file: dir.join(file_name),
        })
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Loads the state. A missing file is an empty state; an unreadable or corrupt one is
    /// reported and treated as empty, which at worst rebuilds what was already built.
    pub fn load(&self) -> (State, Option<String>) {
        match fs::read(&self.file) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(state) => (state, None),
                Err(e) => (
                    State::default(),
                    Some(format!(
                        "{}: state file is not valid ({e}); starting from an empty state",
                        self.file.display()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (State::default(), None),
            Err(e) => (
                State::default(),
                Some(format!(
                    "{}: cannot read the state file ({e}); starting from an empty state",
                    self.file.display()
                )),
            ),
        }
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let io = |about: &'static str| {
            let path = self.file.clone();
            move |source| StateError::Io {
                path,
                about,
                source,
            }
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".state-")
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode_ext(0o600))
            .tempfile_in(dir)
            .map_err(io("cannot create a temporary state file"))?;
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        tmp.write_all(&bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(io("cannot write the state file"))?;
        tmp.persist(&self.file)
            .map_err(|e| e.error)
            .map_err(io("cannot replace the state file"))?;
        // The rename is durable only once the folder itself is synced.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The state of one run, shared by its tasks. Every change is on disk before it returns,
/// so that a line saying a build was submitted is never ahead of the state file.
#[derive(Debug)]
pub struct Journal {
    store: StateStore,
    state: std::sync::Mutex<State>,
}

impl Journal {
    /// Loads the state; the second value is a warning about a state file that was not usable.
    pub fn open(store: StateStore) -> (Journal, Option<String>) {
        let (state, warning) = store.load();
        let journal = Journal {
            store,
            state: std::sync::Mutex::new(state),
        };
        (journal, warning)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn last_hash(&self, name: &str, function_id: &str) -> Option<String> {
        self.state()
            .last_hash(name, function_id)
            .map(str::to_string)
    }

    /// The build last submitted for this function, if it was not seen to its end.
    pub fn unfinished(&self, name: &str, function_id: &str) -> Option<String> {
        let state = self.state();
        let record = state.functions.get(name)?;
        let open = record.status.as_ref().is_none_or(|s| !s.is_final());
        (open && record.function_id == function_id)
            .then(|| record.build_id.clone())
            .flatten()
    }

    pub fn record_submit(
        &self,
        name: &str,
        function_id: &str,
        hash: &str,
        build_id: &str,
    ) -> Result<(), StateError> {
        let mut state = self.state();
        state.record_submit(name, function_id, hash, build_id);
        self.store.save(&state)
    }

    /// Records a build's status; saved when the build ended.
    pub fn record_status(
        &self,
        name: &str,
        build_id: &str,
        status: &BuildStatus,
    ) -> Result<(), StateError> {
        let mut state = self.state();
        state.record_status(name, build_id, status);
        match status.is_final() {
            true => self.store.save(&state),
            false => Ok(()),
        }
    }
}

/// `Permissions::from_mode` lives in an extension trait; this keeps the call site short.
trait FromModeExt {
    fn from_mode_ext(mode: u32) -> Self;
}

impl FromModeExt for fs::Permissions {
    fn from_mode_ext(mode: u32) -> Self {
        use std::os::unix::fs::PermissionsExt;
        fs::Permissions::from_mode(mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join(".gcwatch");
        let store = StateStore::open(&state_dir, "state.json").unwrap();
        assert_eq!(store.load(), (State::default(), None));

        let mut state = State::default();
        state.record_submit("a", "id1", "h1", "b1");
        state.record_status("a", "b1", &BuildStatus::Success);
        state.record_status("a", "other-build", &BuildStatus::Failed);
        store.save(&state).unwrap();

        let (loaded, warning) = store.load();
        assert_eq!(warning, None);
        assert_eq!(loaded, state);
        assert_eq!(loaded.last_hash("a", "id1"), Some("h1"));
        assert_eq!(
            loaded.last_hash("a", "id2"),
            None,
            "a new id means never submitted"
        );
        assert_eq!(loaded.functions["a"].status, Some(BuildStatus::Success));

        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state_dir), 0o700);
        assert_eq!(mode(store.path()), 0o600);
        let leftovers: Vec<_> = fs::read_dir(&state_dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn corrupt_state_is_reported_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), "state.json").unwrap();
        fs::write(store.path(), b"{\"functions\": {\"a\": tru").unwrap();
        let (state, warning) = store.load();
        assert_eq!(state, State::default());
        assert!(warning.unwrap().contains("not valid"));
    }
}
