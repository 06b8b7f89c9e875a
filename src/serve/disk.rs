//! Build records and uploads in, files under the data dir out, and back again on start.
//!
//! Layout, all inside the data dir:
//! - `builds/<id>.zip`: the upload, byte for byte;
//! - `builds/<id>.json`: its [`BuildRecord`];
//! - `work/<id>/`: the upload unpacked while `--build-cmd` runs, removed afterwards.
//!
//! Every function here blocks; the server calls them on blocking threads.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::api::is_object_id;

use super::record::BuildRecord;

/// The emulator's data dir. Nothing is ever written outside it.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// A record file that could not be taken back on start; it is left where it is.
#[derive(Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

impl DataDir {
    /// Creates the layout under `root` and clears what a previous run may
    /// have left half done: unpacked builds and temporary files.
    pub fn prepare(root: &Path) -> io::Result<DataDir> {
        let dir = DataDir {
            root: root.to_path_buf(),
        };
        fs::create_dir_all(dir.builds())?;
        match fs::remove_dir_all(dir.work()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::create_dir_all(dir.work())?;
        for entry in fs::read_dir(dir.builds())? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp") {
                // A write interrupted before its rename; the old file, if any, is intact.
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn builds(&self) -> PathBuf {
        self.root.join("builds")
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// Ids are checked to be 24 hex digits before they name a path, so no id
    /// can lead out of the data dir.
    fn named(&self, folder: PathBuf, id: &str, ext: &str) -> io::Result<PathBuf> {
        if !is_object_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a build id: {id:?}"),
            ));
        }
        Ok(folder.join(format!("{id}{ext}")))
    }

    pub fn upload_path(&self, id: &str) -> io::Result<PathBuf> {
        self.named(self.builds(), id, ".zip")
    }

    pub fn work_path(&self, id: &str) -> io::Result<PathBuf> {
        self.named(self.work(), id, "")
    }

    pub fn save_upload(&self, id: &str, upload: &[u8]) -> io::Result<()> {
        let path = self.upload_path(id)?;
        self.write_atomically(&path, upload)
    }

    pub fn read_upload(&self, id: &str) -> io::Result<Vec<u8>> {
        fs::read(self.upload_path(id)?)
    }

    pub fn save_record(&self, record: &BuildRecord) -> io::Result<()> {
        let path = self.named(self.builds(), &record.id, ".json")?;
        let mut json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        json.push(b'\n');
        self.write_atomically(&path, &json)
    }

    /// Every record under `builds/`, in no particular order, and the files
    /// that could not be read as one.
    pub fn load_records(&self) -> io::Result<(Vec<BuildRecord>, Vec<Skipped>)> {
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for entry in fs::read_dir(self.builds())? {
            let path = entry?.path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().is_none_or(|ext| ext != "json") || stem.starts_with('.') {
                continue;
            }
            match read_record(&path, stem) {
                Ok(record) => records.push(record),
                Err(reason) => skipped.push(Skipped { path, reason }),
            }
        }
        Ok((records, skipped))
    }

    /// Creates `work/<id>/` afresh for one build's unpacked upload.
    pub fn make_work_dir(&self, id: &str) -> io::Result<PathBuf> {
        let path = self.work_path(id)?;
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::create_dir_all(&path)?;
        Ok(path)
    }

    pub fn remove_work_dir(&self, id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.work_path(id)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes every unpacked build; for shutdown, after the builds stopped.
    pub fn clear_work(&self) -> io::Result<()> {
        match fs::remove_dir_all(self.work()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// A reader never sees half a file: the bytes go to a temporary file
    /// beside the target (same file system), then a rename replaces it.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let folder = path.parent().unwrap_or(&self.root);
        let mut tmp = NamedTempFile::with_prefix_in(".tmp", folder)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn read_record(path: &Path, stem: &str) -> Result<BuildRecord, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let record: BuildRecord = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if record.id != stem || !is_object_id(&record.id) {
        return Err(format!("holds build {:?}, not {stem:?}", record.id));
    }
    if record.timeline.is_empty() {
        return Err("has an empty timeline".to_string());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    const ID: &str = "66787d8f694aa083bbdf9aa9";

    #[test]
    fn records_and_uploads_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::prepare(tmp.path()).unwrap();
        let record = BuildRecord::new(ID.into(), 3, "f".into(), Utc::now());
        dir.save_upload(ID, b"zip bytes").unwrap();
        dir.save_record(&record).unwrap();
        fs::write(tmp.path().join("builds/.tmpabc"), "half").unwrap();
        fs::write(
            tmp.path().join("builds/66787d8f694aa083bbdf9aa0.json"),
            "{oops",
        )
        .unwrap();
        dir.make_work_dir(ID).unwrap();

        let dir = DataDir::prepare(tmp.path()).unwrap();
        let (records, skipped) = dir.load_records().unwrap();
        assert_eq!(records, vec![record]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(dir.read_upload(ID).unwrap(), b"zip bytes");
        assert!(!tmp.path().join("builds/.tmpabc").exists());
        assert!(!tmp.path().join("work").join(ID).exists());
    }

    #[test]
    fn ids_that_are_not_object_ids_name_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::prepare(tmp.path()).unwrap();
        for id in ["../../etc/passwd", "", "66787d8f694aa083bbdf9aa9/.."] {
            assert!(dir.upload_path(id).is_err(), "{id:?}");
            assert!(dir.make_work_dir(id).is_err(), "{id:?}");
        }
    }
}
