//! Pack: a snapshot in, its reproducible zip out (bytes checked against the snapshot's hashes as they are written).
//!
//! The same tree gives the same zip on every run and machine: entries in
//! snapshot order, one fixed timestamp, modes reduced to 0755/0644, no extra
//! fields that vary, and a compression choice that depends only on the name.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use rayon::prelude::*;
use tempfile::NamedTempFile;

use crate::events::human_bytes;
use crate::rules::{Rules, RulesError};
use crate::snapshot::{
    self, open_regular, Entry, EntryKind, Largest, Settings, Snapshot, TreeHash, BUFFER,
};
use crate::statcache::StatCache;
use crate::zipfile::{self, Compressed, Method};

/// Extensions (lowercase) of formats that are compressed already: deflating
/// them again costs time and gains nothing, so they are stored.
#[rustfmt::skip]
pub const STORED_EXTENSIONS: &[&str] = &[
    // archives and compressed streams
    "zip", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "lz4", "lzma", "br", "7z", "rar",
    "jar", "war", "ear", "apk", "whl", "nupkg",
    // images
    "png", "jpg", "jpeg", "gif", "webp", "avif", "heic", "ico",
    // fonts
    "woff", "woff2",
    // audio and video
    "mp3", "mp4", "m4a", "m4v", "aac", "ogg", "oga", "opus", "webm", "mkv", "mov", "avi", "flac",
    // documents that are zips, or compressed inside
    "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub",
];

/// How many times [`package`] starts over when files change under it.
const ATTEMPTS: u32 = 3;

/// Why a function could not be packaged. Nothing partial is ever shipped.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("cannot list folder {path}")]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} changed while it was being packaged")]
    Changed { path: PathBuf },
    #[error(
        "files in {root} kept changing while being packaged ({attempts} attempts, last {path})"
    )]
    Unsettled {
        root: PathBuf,
        attempts: u32,
        path: PathBuf,
    },
    #[error("{root} is too large to ship: {limit}; ignore what need not be shipped ({largest})")]
    TooLarge {
        root: PathBuf,
        limit: Limit,
        largest: Largest,
    },
    #[error("cannot write the zip of {root}")]
    Zip {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create a temporary zip in {path}")]
    Temp {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The limit a package went over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// `complete` is false when counting stopped early, far past the limit.
    Files {
        found: usize,
        max: usize,
        complete: bool,
    },
    ZipBytes {
        found: u64,
        max: u64,
    },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Files {
                found,
                max,
                complete: true,
            } => write!(f, "{found} files, more than max_files = {max}"),
            Limit::Files {
                found,
                max,
                complete: false,
            } => write!(
                f,
                "more than {found} files (counting stopped), max_files = {max}"
            ),
            Limit::ZipBytes { found, max } => write!(
                f,
                "the zip is {}, more than the {} allowed by max_zip_mb",
                human_bytes(*found),
                human_bytes(*max)
            ),
        }
    }
}

/// A written zip and the snapshot it holds.
#[derive(Debug)]
pub struct Package {
    pub snapshot: Snapshot,
    /// Deleted when dropped; `persist` it to keep it.
    pub zip: NamedTempFile,
    pub bytes: u64,
    /// Where each file's data sits in the zip, for the next packaging to copy from.
    pub index: ZipIndex,
    /// How many files were copied from the previous zip rather than compressed.
    pub reused: usize,
}

/// What packaging remembers of one function from one run to the next.
#[derive(Debug, Default)]
pub struct Memory {
    /// File hashes by stat, so that unchanged files are not read.
    pub stat: StatCache,
    /// The last zip, so that unchanged files are not compressed again.
    pub previous: Option<Previous>,
    /// The last snapshot, so that a few changed paths update it without a full walk.
    pub last: Option<Snapshot>,
}

/// What [`package_changed`] found.
#[derive(Debug)]
pub enum Outcome {
    /// The tree hash equals the last one: no zip was written.
    Unchanged(Snapshot),
    Packaged(Package),
}

/// Files up to this size are read and compressed in memory, on every core; larger ones are
/// streamed through one compressor, so memory does not grow with them.
const IN_MEMORY: u64 = 4 << 20;
/// How many bytes of files are read and compressed at once: the bound on memory.
const BATCH_BYTES: u64 = 16 << 20;

/// Where one file's compressed data sits in a zip gcwatch wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    hash: [u8; 32],
    method: Method,
    crc: u32,
    size: u64,
    offset: u64,
    len: u64,
}

/// Each file's compressed data in a zip, by path.
pub type ZipIndex = HashMap<String, Stored>;

/// A zip written before, whose entries are copied instead of compressed again when the
/// file's content hash is the same: after an edit, only the edited files are compressed.
#[derive(Debug)]
pub struct Previous {
    pub path: PathBuf,
    pub index: ZipIndex,
}

/// Writes the zip of `snapshot` to `out` and returns its size in bytes.
///
/// Each file is read once, its bytes hashed on their way into the zip; a
/// file whose hash or size differs from the snapshot's is
/// [`PackError::Changed`], and the zip must then be thrown away.
pub fn write_zip(snapshot: &Snapshot, out: impl Write + Seek) -> Result<u64, PackError> {
    write_zip_reusing(snapshot, out, None).map(|(bytes, _, _)| bytes)
}

/// [`write_zip`], copying the compressed data of files whose content is unchanged from
/// `previous`; returns the size and where each file's data sits in the new zip.
///
/// Files are compressed in parallel in batches of consecutive entries and written in
/// order. The same content always compresses to the same bytes, so a copied entry is
/// exactly what compressing it again would give, and the output depends only on the
/// snapshot, never on timing or on what was reused.
pub fn write_zip_reusing(
    snapshot: &Snapshot,
    out: impl Write + Seek,
    previous: Option<&Previous>,
) -> Result<(u64, ZipIndex, usize), PackError> {
    let zip_error = |source| PackError::Zip {
        root: snapshot.root.clone(),
        source,
    };
    let old = previous.and_then(|p| Some((fs::File::open(&p.path).ok()?, &p.index)));
    let reusable = |entry: &Entry| -> Option<&Stored> {
        let EntryKind::File { hash, .. } = &entry.kind else {
            return None;
        };
        let (_, index) = old.as_ref()?;
        index.get(&entry.path).filter(|s| s.hash == *hash)
    };
    let mut zip = zipfile::Writer::new(out).map_err(zip_error)?;
    let mut index = ZipIndex::new();
    let reused = snapshot
        .entries
        .iter()
        .filter(|e| reusable(e).is_some())
        .count();
    let entries = &snapshot.entries;
    let mut next = 0;
    while next < entries.len() {
        let start = next;
        let mut bytes = 0;
        while let Some(entry) = entries.get(next) {
            match &entry.kind {
                EntryKind::Dir => {}
                EntryKind::File { size, .. }
                    if *size <= IN_MEMORY && bytes + size <= BATCH_BYTES =>
                {
                    bytes += size;
                }
                EntryKind::File { size, .. } if *size <= IN_MEMORY && next == start => {
                    bytes += size;
                }
                EntryKind::File { .. } => break,
            }
            next += 1;
        }
        if next == start {
            let entry = &entries[next];
            let copy = reusable(entry).zip(old.as_ref().map(|(f, _)| f));
            let (at, len, method, crc) =
                stream_file(&mut zip, entry, copy).map_err(|e| e.into_pack(zip_error))?;
            index.insert(entry.path.clone(), stored(entry, method, crc, at, len));
            next += 1;
            continue;
        }
        let batch = &entries[start..next];
        let compressed: Vec<Option<Result<Compressed, PackError>>> = batch
            .par_iter()
            .map_init(zipfile::compressor, |compressor, entry| match &entry.kind {
                EntryKind::Dir => None,
                EntryKind::File { .. } => Some(match reusable(entry) {
                    Some(s) => copy_stored(old.as_ref().map(|(f, _)| f), s, entry),
                    None => read_compressed(entry, compressor),
                }),
            })
            .collect();
        for (entry, data) in batch.iter().zip(compressed) {
            match data {
                None => zip.dir(&entry.zip_name(), entry.mode).map_err(zip_error)?,
                Some(data) => {
                    let data = data?;
                    let at = zip
                        .file(&entry.path, entry.mode, &data)
                        .map_err(zip_error)?;
                    let len = data.data.len() as u64;
                    index.insert(
                        entry.path.clone(),
                        stored(entry, data.method, data.crc, at, len),
                    );
                }
            }
        }
    }
    let (mut out, bytes) = zip.finish().map_err(zip_error)?;
    out.flush().map_err(zip_error)?;
    Ok((bytes, index, reused))
}

fn stored(entry: &Entry, method: Method, crc: u32, offset: u64, len: u64) -> Stored {
    let (hash, size) = match &entry.kind {
        EntryKind::File { hash, size, .. } => (*hash, *size),
        EntryKind::Dir => ([0; 32], 0),
    };
    Stored {
        hash,
        method,
        crc,
        size,
        offset,
        len,
    }
}

/// The compressed data of an unchanged file, read from the previous zip.
fn copy_stored(
    old: Option<&fs::File>,
    stored: &Stored,
    entry: &Entry,
) -> Result<Compressed, PackError> {
    let old = old.expect("reusable only with a previous zip");
    let mut data = vec![0; stored.len as usize];
    old.read_exact_at(&mut data, stored.offset)
        .map_err(|source| PackError::Read {
            path: PathBuf::from(&entry.path),
            source,
        })?;
    Ok(Compressed {
        method: stored.method,
        crc: stored.crc,
        size: stored.size,
        data,
    })
}

/// Reads one file, checks it against the snapshot, and compresses it.
fn read_compressed(
    entry: &Entry,
    compressor: &mut libdeflater::Compressor,
) -> Result<Compressed, PackError> {
    let EntryKind::File { size, hash, source } = &entry.kind else {
        unreachable!("only files are read");
    };
    let mut file = open_regular(source)?;
    // One byte more than expected shows a file that grew.
    let mut data = Vec::with_capacity(*size as usize + 1);
    (&mut file)
        .take(size + 1)
        .read_to_end(&mut data)
        .map_err(|source_err| PackError::Read {
            path: source.clone(),
            source: source_err,
        })?;
    if data.len() as u64 != *size || blake3::hash(&data).as_bytes() != hash {
        return Err(PackError::Changed {
            path: source.clone(),
        });
    }
    Ok(zipfile::compress(
        &data,
        is_precompressed(&entry.path),
        compressor,
    ))
}

enum StreamError {
    Io(io::Error),
    Pack(PackError),
}

impl StreamError {
    fn into_pack(self, zip_error: impl Fn(io::Error) -> PackError) -> PackError {
        match self {
            StreamError::Io(e) => zip_error(e),
            StreamError::Pack(e) => e,
        }
    }
}

/// Streams one large file into the zip through a deflate encoder (or stored), hashing
/// what goes in; or copies its compressed data from the previous zip. Returns where the
/// data sits, its length, method and CRC.
fn stream_file<W: Write + Seek>(
    zip: &mut zipfile::Writer<W>,
    entry: &Entry,
    copy: Option<(&Stored, &fs::File)>,
) -> Result<(u64, u64, Method, u32), StreamError> {
    let EntryKind::File { size, hash, source } = &entry.kind else {
        unreachable!("only files are streamed");
    };
    if let Some((stored, old)) = copy {
        let (at, len) = zip
            .file_streamed(&entry.path, entry.mode, stored.method, *size, |out| {
                let mut buf = vec![0; BUFFER];
                let mut done = 0u64;
                while done < stored.len {
                    let n = (stored.len - done).min(BUFFER as u64) as usize;
                    old.read_exact_at(&mut buf[..n], stored.offset + done)?;
                    out.write_all(&buf[..n])?;
                    done += n as u64;
                }
                Ok((stored.crc, stored.size))
            })
            .map_err(StreamError::Io)?;
        return Ok((at, len, stored.method, stored.crc));
    }
    let mut file = open_regular(source).map_err(StreamError::Pack)?;
    let method = if is_precompressed(&entry.path) {
        Method::Stored
    } else {
        Method::Deflated
    };
    let mut failure = None;
    let mut crc_out = 0;
    let result = zip.file_streamed(&entry.path, entry.mode, method, *size, |out| {
        let mut buf = vec![0; BUFFER];
        let mut hasher = blake3::Hasher::new();
        let mut crc = crc32fast::Hasher::new();
        let mut written = 0u64;
        let mut sink: Box<dyn Write + '_> = match method {
            Method::Deflated => Box::new(flate2::write::DeflateEncoder::new(
                &mut *out,
                flate2::Compression::new(6),
            )),
            Method::Stored => Box::new(&mut *out),
        };
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(PackError::Read {
                        path: source.clone(),
                        source: e,
                    });
                    return Err(io::Error::other("read failed"));
                }
            };
            hasher.update(&buf[..n]);
            crc.update(&buf[..n]);
            sink.write_all(&buf[..n])?;
            written += n as u64;
        }
        sink.flush()?;
        drop(sink);
        if written != *size || hasher.finalize().as_bytes() != hash {
            failure = Some(PackError::Changed {
                path: source.clone(),
            });
            return Err(io::Error::other("changed"));
        }
        crc_out = crc.finalize();
        Ok((crc_out, written))
    });
    match (result, failure) {
        (_, Some(failure)) => Err(StreamError::Pack(failure)),
        (Err(e), None) => Err(StreamError::Io(e)),
        (Ok((at, len)), None) => Ok((at, len, method, crc_out)),
    }
}

/// Snapshots `root` and writes its zip to a temporary file in `tmp_dir`.
pub fn package(root: &Path, settings: &Settings, tmp_dir: &Path) -> Result<Package, PackError> {
    match package_changed(root, settings, tmp_dir, None, &mut Memory::default(), None)? {
        Outcome::Packaged(package) => Ok(package),
        Outcome::Unchanged(_) => unreachable!("there is no last hash to equal"),
    }
}

/// Snapshots `root` and, unless its tree hash equals `last`, writes its zip to
/// a temporary file in `tmp_dir`.
///
/// A file that changes meanwhile makes the whole packaging start over, a few
/// times; then it gives up with [`PackError::Unsettled`]. A zip over
/// `max_zip_bytes` is [`PackError::TooLarge`].
pub fn package_changed(
    root: &Path,
    settings: &Settings,
    tmp_dir: &Path,
    last: Option<&TreeHash>,
    memory: &mut Memory,
    changed: Option<&[String]>,
) -> Result<Outcome, PackError> {
    let mut changed_path = PathBuf::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            // Give whatever is writing a moment to finish.
            thread::sleep(Duration::from_millis(100 * u64::from(attempt - 1)));
        }
        let rules = Rules::load(root, &settings.rules)?;
        let previous = memory.last.take().filter(|_| attempt == 1);
        let taken = match (changed, previous) {
            (Some(changed), Some(previous)) => {
                snapshot::update(previous, &rules, settings, &mut memory.stat, changed)
                    .unwrap_or_else(|| snapshot::take_with(&rules, settings, &mut memory.stat))
            }
            _ => snapshot::take_with(&rules, settings, &mut memory.stat),
        };
        let snapshot = match taken {
            Err(PackError::Changed { path }) => {
                changed_path = path;
                continue;
            }
            other => other?,
        };
        if last == Some(&snapshot.hash) {
            return Ok(Outcome::Unchanged(snapshot));
        }
        let mut zip = tempfile::Builder::new()
            .prefix("package-")
            .suffix(".zip")
            .tempfile_in(tmp_dir)
            .map_err(|source| PackError::Temp {
                path: tmp_dir.to_path_buf(),
                source,
            })?;
        let written = write_zip_reusing(
            &snapshot,
            BufWriter::with_capacity(BUFFER, zip.as_file_mut()),
            memory.previous.as_ref(),
        );
        let (bytes, index, reused) = match written {
            Err(PackError::Changed { path }) => {
                changed_path = path;
                continue;
            }
            other => other?,
        };
        if bytes > settings.max_zip_bytes {
            return Err(PackError::TooLarge {
                root: snapshot.root.clone(),
                limit: Limit::ZipBytes {
                    found: bytes,
                    max: settings.max_zip_bytes,
                },
                largest: snapshot.largest(),
            });
        }
        return Ok(Outcome::Packaged(Package {
            snapshot,
            zip,
            bytes,
            index,
            reused,
        }));
    }
    Err(PackError::Unsettled {
        root: root.to_path_buf(),
        attempts: ATTEMPTS,
        path: changed_path,
    })
}

/// Whether `path`'s extension names an already-compressed format.
pub fn is_precompressed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => STORED_EXTENSIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(ext)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::{chmod, tree};
    use crate::snapshot::{take, Entry, MODE_EXEC};
    use std::fs;
    use std::io::Cursor;
    use std::process::Command;
    use tempfile::TempDir;
    use zip::{CompressionMethod, DateTime, ZipArchive};

    const SAMPLE: &[(&str, &str)] = &[
        (".gitignore", "*.log\n"),
        ("main.go", "package main\n\nfunc main() {}\n\n// main main main main main main main main main main main main\n"),
        ("bootstrap", "#!/bin/sh\nexec ./main\n"),
        ("lib/util.go", "package lib\n"),
        ("static/logo.PNG", "not really a png"),
        ("empty/", ""),
        ("nested/empty/", ""),
        ("debug.log", "noise"),
    ];

    fn sample() -> TempDir {
        let tmp = tree(SAMPLE);
        chmod(&tmp.path().join("bootstrap"), 0o700);
        tmp
    }

    fn package_fresh(root: &Path, out: &Path, memory: &mut Memory) -> Package {
        match package_changed(root, &Settings::default(), out, None, memory, None).unwrap() {
            Outcome::Packaged(package) => package,
            Outcome::Unchanged(_) => panic!("nothing to compare with, so never unchanged"),
        }
    }

    /// After an edit, a zip that copies the unchanged entries from the previous one is the
    /// same, byte for byte, as a zip made from nothing; also when the previous zip is gone.
    #[test]
    fn reusing_the_previous_zip_changes_no_byte() {
        let tmp = sample();
        let big = "0123456789abcdef".repeat(400_000); // over IN_MEMORY: the streamed path
        fs::write(tmp.path().join("big.txt"), &big).unwrap();
        let out = TempDir::new().unwrap();
        let mut memory = Memory::default();
        let first = package_fresh(tmp.path(), out.path(), &mut memory);
        let kept = out.path().join("last.zip");
        first.zip.persist(&kept).unwrap();
        memory.previous = Some(Previous {
            path: kept.clone(),
            index: first.index,
        });

        fs::write(tmp.path().join("main.go"), "package main // edited\n").unwrap();
        let second = package_fresh(tmp.path(), out.path(), &mut memory);
        let reused = fs::read(second.zip.path()).unwrap();
        assert_eq!(
            reused,
            zip_bytes(tmp.path()),
            "reused entries change the zip"
        );
        let mut archive = ZipArchive::new(Cursor::new(&reused)).unwrap();
        let mut text = String::new();
        archive
            .by_name("big.txt")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, big);

        fs::remove_file(&kept).unwrap();
        let third = package_fresh(tmp.path(), out.path(), &mut memory);
        assert_eq!(
            fs::read(third.zip.path()).unwrap(),
            reused,
            "a lost previous zip only costs time"
        );
    }

    fn zip_bytes(root: &Path) -> Vec<u8> {
        let snapshot = take(root, &Settings::default()).unwrap();
        let mut out = Cursor::new(Vec::new());
        let bytes = write_zip(&snapshot, &mut out).unwrap();
        assert_eq!(bytes, out.get_ref().len() as u64);
        out.into_inner()
    }

    #[test]
    fn same_tree_same_bytes_even_in_a_copy() {
        let tmp = sample();
        let first = zip_bytes(tmp.path());
        assert_eq!(first, zip_bytes(tmp.path()));

        let copy = TempDir::new().unwrap();
        let status = Command::new("cp")
            .arg("-r")
            .arg(tmp.path())
            .arg(copy.path().join("fn"))
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(first, zip_bytes(&copy.path().join("fn")));

        fs::write(
            tmp.path().join("main.go"),
            "package main\n\nfunc main() {}!",
        )
        .unwrap();
        assert_ne!(first, zip_bytes(tmp.path()));
    }

    #[test]
    fn entries_read_back_as_shipped() {
        let tmp = sample();
        let mut archive = ZipArchive::new(Cursor::new(zip_bytes(tmp.path()))).unwrap();
        #[rustfmt::skip]
        let want: &[(&str, u32, CompressionMethod)] = &[
            // Files that deflate does not shrink are stored.
            (".gitignore", 0o100644, CompressionMethod::Stored),
            ("bootstrap", 0o100755, CompressionMethod::Stored),
            ("empty/", 0o40755, CompressionMethod::Stored),
            ("lib/", 0o40755, CompressionMethod::Stored),
            ("lib/util.go", 0o100644, CompressionMethod::Stored),
            ("main.go", 0o100644, CompressionMethod::Deflated),
            ("nested/", 0o40755, CompressionMethod::Stored),
            ("nested/empty/", 0o40755, CompressionMethod::Stored),
            ("static/", 0o40755, CompressionMethod::Stored),
            ("static/logo.PNG", 0o100644, CompressionMethod::Stored),
        ];
        assert_eq!(archive.len(), want.len());
        for (i, (name, mode, method)) in want.iter().enumerate() {
            let mut file = archive.by_index(i).unwrap();
            assert_eq!(file.name(), *name);
            assert_eq!(file.unix_mode(), Some(*mode), "{name}");
            assert_eq!(file.compression(), *method, "{name}");
            assert_eq!(file.last_modified(), Some(DateTime::default()), "{name}");
            assert_eq!(file.extra_data().unwrap_or_default(), b"", "{name}");
            if let Some((_, content)) = SAMPLE.iter().find(|(path, _)| path == name) {
                let mut read = String::new();
                file.read_to_string(&mut read).unwrap();
                assert_eq!(read, *content, "{name}");
            }
        }
    }

    #[test]
    fn a_file_changed_after_hashing_is_refused() {
        let tmp = sample();
        let snapshot = take(tmp.path(), &Settings::default()).unwrap();
        // Same size, different bytes: only the hash can tell.
        fs::write(tmp.path().join("lib/util.go"), "package lix\n").unwrap();
        let err = write_zip(&snapshot, Cursor::new(Vec::new())).unwrap_err();
        assert!(
            matches!(&err, PackError::Changed { path } if path.ends_with("lib/util.go")),
            "{err:?}"
        );
        fs::remove_file(tmp.path().join("main.go")).unwrap();
        let err = write_zip(&snapshot, Cursor::new(Vec::new())).unwrap_err();
        assert!(matches!(&err, PackError::Changed { .. }), "{err:?}");
    }

    #[test]
    fn package_writes_a_temp_zip_and_checks_its_size() {
        let tmp = sample();
        let out = TempDir::new().unwrap();
        let package = package(tmp.path(), &Settings::default(), out.path()).unwrap();
        assert_eq!(package.zip.path().parent(), Some(out.path()));
        assert_eq!(fs::read(package.zip.path()).unwrap(), zip_bytes(tmp.path()));
        assert_eq!(
            package.bytes,
            fs::metadata(package.zip.path()).unwrap().len()
        );
        assert_eq!(package.snapshot.files, 5);

        let unchanged = package_changed(
            tmp.path(),
            &Settings::default(),
            out.path(),
            Some(&package.snapshot.hash),
            &mut Memory::default(),
            None,
        )
        .unwrap();
        assert!(matches!(unchanged, Outcome::Unchanged(s) if s.hash == package.snapshot.hash));

        let settings = Settings {
            max_zip_bytes: package.bytes - 1,
            ..Settings::default()
        };
        let err = super::package(tmp.path(), &settings, out.path()).unwrap_err();
        assert!(
            matches!(&err, PackError::TooLarge { limit: Limit::ZipBytes { found, .. }, .. } if *found == package.bytes),
            "{err:?}"
        );
        assert!(err.to_string().contains("largest files: main.go"), "{err}");
    }

    #[test]
    fn more_entries_than_plain_zip_counts() {
        let entries: Vec<Entry> = (0..70_000)
            .map(|i| Entry {
                path: format!("d{i:05}"),
                mode: MODE_EXEC,
                kind: EntryKind::Dir,
            })
            .collect();
        let snapshot = Snapshot {
            root: PathBuf::from("/nowhere"),
            hash: TreeHash::of(&entries),
            entries,
            skipped: Vec::new(),
            files: 0,
            bytes: 0,
            links: false,
        };
        let mut out = Cursor::new(Vec::new());
        write_zip(&snapshot, &mut out).unwrap();
        let mut archive = ZipArchive::new(out).unwrap();
        assert_eq!(archive.len(), 70_000);
        assert_eq!(archive.by_index(69_999).unwrap().name(), "d69999/");
    }

    #[test]
    fn precompressed_by_extension() {
        #[rustfmt::skip]
        let cases = [
            ("a.zip", true), ("x/b.tar.gz", true), ("IMG.JPG", true), ("font.woff2", true),
            ("main.go", false), ("README", false), (".png", false), ("png", false), ("a.png.txt", false),
        ];
        for (path, stored) in cases {
            assert_eq!(is_precompressed(path), stored, "{path}");
        }
    }
}
