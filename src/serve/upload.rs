//! An uploaded zip in, a verdict out: is it the contents of a function folder, safe to unpack; and the unpacking itself.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use zip::ZipArchive;

/// No upload unpacks to more than this, whatever its entries claim: a small
/// zip of zeros must not fill the disk.
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;

/// What a sound upload holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub files: usize,
    pub folders: usize,
    /// Symbolic link entries; never unpacked, since one could point out of the build folder.
    pub links: usize,
    pub bytes: u64,
}

/// Why an upload cannot be built. Each is one log line of the FAILED build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadProblem {
    #[error("the upload is not a zip archive ({0})")]
    NotZip(String),
    #[error("the zip has no entries")]
    Empty,
    #[error("entry {0:?} has an absolute path; names must be relative to the function folder")]
    Absolute(String),
    #[error("entry {0:?} has a `..` component; names must stay inside the function folder")]
    ParentDir(String),
    #[error("entry {0:?} contains a backslash; zip entry names separate folders with `/`")]
    Backslash(String),
    #[error("entry {0:?} contains a NUL byte")]
    Nul(String),
    #[error("no file at the root of the zip: every entry is under {0:?}; zip the contents of the function folder, not the folder itself")]
    FolderZipped(String),
    #[error("no file at the root of the zip; zip the contents of the function folder, not the folder itself")]
    NoRootFile,
    #[error("entry {name:?} cannot be read: {reason}")]
    Unreadable { name: String, reason: String },
    #[error("the zip unpacks to more than {} MiB", MAX_UNPACKED_BYTES >> 20)]
    TooLarge,
}

/// Why a checked upload could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(transparent)]
    Problem(#[from] UploadProblem),
    #[error("cannot unpack {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks an upload the way the builder does, in order:
/// 1. it is a zip;
/// 2. it has entries;
/// 3. every entry name is relative, has no `..` component, no backslash and no NUL;
/// 4. at least one file sits at its root (a zip of the folder itself has none);
/// 5. every file decompresses, its checksum holds, and all of it fits in
///    [`MAX_UNPACKED_BYTES`].
///
/// Reads the whole archive; call it off the async runtime.
pub fn inspect(upload: &[u8]) -> Result<Contents, UploadProblem> {
    let mut zip = open(upload)?;
    let mut names = Vec::with_capacity(zip.len());
    let mut contents = Contents {
        files: 0,
        folders: 0,
        links: 0,
        bytes: 0,
    };
    let mut root_files = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| unreadable(&format!("#{i}"), e))?;
        let name = entry.name().to_string();
        check_name(&name)?;
        if entry.is_dir() {
            contents.folders += 1;
        } else if entry.is_symlink() {
            contents.links += 1;
        } else {
            contents.files += 1;
            if !name.trim_start_matches("./").contains('/') {
                root_files += 1;
            }
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(UploadProblem::Empty);
    }
    if root_files == 0 {
        return Err(match single_top_folder(&names) {
            Some(top) => UploadProblem::FolderZipped(format!("{top}/")),
            None => UploadProblem::NoRootFile,
        });
    }
    for (i, name) in names.iter().enumerate() {
        let mut entry = zip.by_index(i).map_err(|e| unreadable(name, e))?;
        if entry.is_dir() || entry.is_symlink() {
            continue;
        }
        let budget = MAX_UNPACKED_BYTES - contents.bytes;
        // Reading to the end is what makes the zip crate verify the checksum.
        let read = io::copy(&mut (&mut entry).take(budget + 1), &mut io::sink())
            .map_err(|e| unreadable(name, e))?;
        if read > budget {
            return Err(UploadProblem::TooLarge);
        }
        contents.bytes += read;
    }
    Ok(contents)
}

/// Unpacks an upload that [`inspect`] accepted into `dest`, an empty folder.
///
/// Never writes outside `dest`: names are checked again, links are skipped
/// rather than created (so nothing written later can go through one), and
/// files are created afresh, never opened through something already there.
pub fn unpack(upload: &[u8], dest: &Path) -> Result<Contents, UnpackError> {
    let mut zip = open(upload)?;
    let mut contents = Contents {
        files: 0,
        folders: 0,
        links: 0,
        bytes: 0,
    };
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| unreadable(&format!("#{i}"), e))?;
        let name = entry.name().to_string();
        check_name(&name)?;
        let path = name
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .fold(dest.to_path_buf(), |path, part| path.join(part));
        let io_err = |source| UnpackError::Io {
            path: PathBuf::from(&name),
            source,
        };
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(io_err)?;
            contents.folders += 1;
            continue;
        }
        if entry.is_symlink() {
            contents.links += 1;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
            options.mode(if executable { 0o755 } else { 0o644 });
        }
        let mut file = options.open(&path).map_err(io_err)?;
        let budget = MAX_UNPACKED_BYTES - contents.bytes;
        let written = io::copy(&mut (&mut entry).take(budget + 1), &mut file).map_err(io_err)?;
        if written > budget {
            return Err(UploadProblem::TooLarge.into());
        }
        contents.bytes += written;
        contents.files += 1;
    }
    Ok(contents)
}

fn open(upload: &[u8]) -> Result<ZipArchive<Cursor<&[u8]>>, UploadProblem> {
    ZipArchive::new(Cursor::new(upload)).map_err(|e| UploadProblem::NotZip(e.to_string()))
}

fn unreadable(name: &str, reason: impl ToString) -> UploadProblem {
    UploadProblem::Unreadable {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

fn check_name(name: &str) -> Result<(), UploadProblem> {
    let owned = || name.to_string();
    if name.contains('\0') {
        return Err(UploadProblem::Nul(owned()));
    }
    if name.contains('\\') {
        return Err(UploadProblem::Backslash(owned()));
    }
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with('/') || drive {
        return Err(UploadProblem::Absolute(owned()));
    }
    if name.split('/').any(|part| part == "..") {
        return Err(UploadProblem::ParentDir(owned()));
    }
    Ok(())
}

/// The one folder every entry sits in, if there is exactly one.
fn single_top_folder(names: &[String]) -> Option<String> {
    let tops: BTreeSet<&str> = names
        .iter()
        .map(|name| name.trim_start_matches("./"))
        .map(|name| name.split('/').next().unwrap_or(name))
        .collect();
    match tops.into_iter().collect::<Vec<_>>()[..] {
        [top] if !top.is_empty() => Some(top.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    /// Entries ending in `/` are folders, `@target` contents make links.
    fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        for (name, content) in entries {
            if name.ends_with('/') {
                zip.add_directory(*name, options).unwrap();
            } else if let Some(target) = content.strip_prefix('@') {
                zip.add_symlink(*name, target, options).unwrap();
            } else {
                zip.start_file(*name, options).unwrap();
                zip.write_all(content.as_bytes()).unwrap();
            }
        }
        zip.finish().unwrap().into_inner()
    }

    fn contents(
        files: usize,
        folders: usize,
        links: usize,
        bytes: u64,
    ) -> Result<Contents, UploadProblem> {
        Ok(Contents {
            files,
            folders,
            links,
            bytes,
        })
    }

    #[test]
    fn uploads() {
        let s = String::from;
        let cases: Vec<(&str, Vec<u8>, Result<Contents, UploadProblem>)> = vec![
            (
                "one file",
                zip_of(&[("main.go", "package main")]),
                contents(1, 0, 0, 12),
            ),
            (
                "files and folders",
                zip_of(&[
                    ("lib/", ""),
                    ("lib/a.go", "a"),
                    ("go.mod", "mod"),
                    ("empty/", ""),
                ]),
                contents(2, 2, 0, 4),
            ),
            (
                "dot slash root",
                zip_of(&[("./main.go", "x")]),
                contents(1, 0, 0, 1),
            ),
            (
                "link kept out",
                zip_of(&[("main.go", "x"), ("up", "@../../etc")]),
                contents(1, 0, 1, 1),
            ),
            (
                "not a zip",
                b"PK\x03\x04 not really".to_vec(),
                Err(UploadProblem::NotZip(String::new())),
            ),
            ("empty zip", zip_of(&[]), Err(UploadProblem::Empty)),
            (
                "absolute",
                zip_of(&[("main.go", ""), ("/etc/passwd", "")]),
                Err(UploadProblem::Absolute(s("/etc/passwd"))),
            ),
            (
                "drive letter",
                zip_of(&[("main.go", ""), ("C:/x", "")]),
                Err(UploadProblem::Absolute(s("C:/x"))),
            ),
            (
                "parent",
                zip_of(&[("main.go", ""), ("a/../../x", "")]),
                Err(UploadProblem::ParentDir(s("a/../../x"))),
            ),
            (
                "bare parent",
                zip_of(&[("main.go", ""), ("..", "")]),
                Err(UploadProblem::ParentDir(s(".."))),
            ),
            (
                "backslash",
                zip_of(&[("main.go", ""), ("lib\\a.go", "")]),
                Err(UploadProblem::Backslash(s("lib\\a.go"))),
            ),
            (
                "folder zipped",
                zip_of(&[
                    ("hello/", ""),
                    ("hello/main.go", ""),
                    ("hello/lib/a.go", ""),
                ]),
                Err(UploadProblem::FolderZipped(s("hello/"))),
            ),
            (
                "folder zipped, no folder entry",
                zip_of(&[("hello/main.go", "")]),
                Err(UploadProblem::FolderZipped(s("hello/"))),
            ),
            (
                "only folders",
                zip_of(&[("a/", ""), ("b/", "")]),
                Err(UploadProblem::NoRootFile),
            ),
            (
                "two folders",
                zip_of(&[("a/x", ""), ("b/y", "")]),
                Err(UploadProblem::NoRootFile),
            ),
        ];
        for (what, upload, want) in cases {
            let got = inspect(&upload);
            match (&got, &want) {
                // The zip crate's wording is its own; only the kind matters.
                (Err(UploadProblem::NotZip(_)), Err(UploadProblem::NotZip(_))) => {}
                _ => assert_eq!(got, want, "{what}"),
            }
        }
    }

    #[test]
    fn problems_read_as_log_lines() {
        let line = UploadProblem::FolderZipped("hello/".into()).to_string();
        assert!(
            line.contains("hello/") && line.contains("not the folder itself"),
            "{line}"
        );
        let line = UploadProblem::ParentDir("../x".into()).to_string();
        assert!(line.contains("\"../x\"") && line.contains(".."), "{line}");
    }

    #[test]
    fn corrupt_content_is_caught() {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("main.go", stored).unwrap();
        zip.write_all(b"package main, long enough to find").unwrap();
        let mut upload = zip.finish().unwrap().into_inner();
        let at = upload.windows(5).position(|w| w == b"long ").unwrap();
        upload[at] ^= 0xff;
        assert!(matches!(
            inspect(&upload),
            Err(UploadProblem::Unreadable { .. })
        ));
    }

    #[test]
    fn unpacks_inside_dest_only() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("work");
        fs::create_dir(&dest).unwrap();
        let upload = zip_of(&[
            ("lib/", ""),
            ("lib/a.txt", "a"),
            ("main.go", "m"),
            ("up", "@.."),
        ]);
        let got = unpack(&upload, &dest).unwrap();
        assert_eq!((got.files, got.folders, got.links, got.bytes), (2, 1, 1, 2));
        assert_eq!(fs::read_to_string(dest.join("lib/a.txt")).unwrap(), "a");
        assert_eq!(fs::read_to_string(dest.join("main.go")).unwrap(), "m");
        assert!(fs::symlink_metadata(dest.join("up")).is_err());

        let evil = zip_of(&[("main.go", ""), ("../escape", "x")]);
        let fresh = dir.path().join("fresh");
        fs::create_dir(&fresh).unwrap();
        assert!(matches!(
            unpack(&evil, &fresh),
            Err(UnpackError::Problem(UploadProblem::ParentDir(_)))
        ));
        assert!(!dir.path().join("escape").exists());
    }

    #[cfg(unix)]
    #[test]
    fn unpacking_keeps_the_execute_bit() {
        use std::os::unix::fs::PermissionsExt;
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file(
            "run.sh",
            SimpleFileOptions::default().unix_permissions(0o755),
        )
        .unwrap();
        zip.write_all(b"#!/bin/sh\n").unwrap();
        let upload = zip.finish().unwrap().into_inner();
        let dir = tempfile::tempdir().unwrap();
        unpack(&upload, dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    }
}
