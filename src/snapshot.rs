//! Snapshot: a function folder and its settings in, the sorted shipped entries with their content hashes and the tree hash out.
//!
//! The walk asks [`Rules`] about every entry and never descends into an
//! excluded folder, so the watcher, the snapshot and `explain` cannot
//! disagree about what is shipped.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;

use crate::events::human_bytes;
use crate::pack::{Limit, PackError};
use crate::rules::{RuleSettings, Rules};
use crate::statcache::{now_ns, Stamp, StatCache};
use rayon::prelude::*;

/// Mode stored for folders and for files with any execute bit.
pub const MODE_EXEC: u32 = 0o755;
/// Mode stored for other files.
pub const MODE_FILE: u32 = 0o644;

/// Buffer size for streaming file contents through hashers and compressors.
pub(crate) const BUFFER: usize = 64 * 1024;

/// How a function folder is packaged: the `[watch]` keys and the function's `ignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub rules: RuleSettings,
    pub follow_external_symlinks: bool,
    pub max_files: usize,
    pub max_zip_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: RuleSettings::default(),
            follow_external_symlinks: false,
            max_files: 20_000,
            max_zip_bytes: 100 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File {
        size: u64,
        hash: [u8; 32],
        /// The path to read: the file itself, or a link's resolved target.
        source: PathBuf,
    },
}

/// One shipped folder or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the function folder, `/`-separated, no trailing slash.
    pub path: String,
    /// [`MODE_EXEC`] or [`MODE_FILE`].
    pub mode: u32,
    pub kind: EntryKind,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir)
    }

    /// The name stored in the zip: folders end with `/`.
    pub fn zip_name(&self) -> String {
        if self.is_dir() {
            format!("{}/", self.path)
        } else {
            self.path.clone()
        }
    }
}

/// A path that would have been shipped but cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A symbolic link whose target does not exist (or is a link loop itself).
    Dangling,
    /// A symbolic link that resolves outside the function folder.
    Outside { target: PathBuf },
    /// A symbolic link to a folder that is already being walked.
    Loop { target: PathBuf },
    /// A FIFO, socket or device: reading it could block or never end.
    Special { kind: &'static str },
    /// A name that cannot be stored faithfully in a zip.
    Name { why: &'static str },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Dangling => f.write_str("dangling symbolic link"),
            SkipReason::Outside { target } => write!(
                f,
                "symbolic link to {}, outside the function folder \
                 (follow_external_symlinks = true follows it)",
                target.display()
            ),
            SkipReason::Loop { target } => write!(
                f,
                "symbolic link loop: {} is a folder already being walked",
                target.display()
            ),
            SkipReason::Special { kind } => write!(f, "{kind}, never read"),
            SkipReason::Name { why } => f.write_str(why),
        }
    }
}

/// What would be shipped from a function folder, and its tree hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The function folder, canonical.
    pub root: PathBuf,
    /// Sorted by [`Entry::zip_name`] bytes, the order of the zip.
    pub entries: Vec<Entry>,
    pub hash: TreeHash,
    /// Sorted by path.
    pub skipped: Vec<Skipped>,
    /// Number of files (folders not counted).
    pub files: usize,
    /// Total size of the files.
    pub bytes: u64,
    /// Whether a symbolic link was followed: then one file may be shipped under two names,
    /// and only a full walk sees every name a change touches.
    pub links: bool,
}

impl Snapshot {
    /// Where the entry stored under `zip_name` is, or would go: entries are sorted by it.
    fn find(&self, zip_name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| e.zip_name().as_str().cmp(zip_name))
    }

    /// Drops the file entry at `i`, and its cache line.
    fn remove_file(&mut self, i: usize, cache: &mut StatCache) {
        if let EntryKind::File { size, source, .. } = self.entries.remove(i).kind {
            self.files -= 1;
            self.bytes -= size;
            cache.remove(&source);
        }
    }

    /// The largest folders and files, for an error the user can act on.
    pub fn largest(&self) -> Largest {
        Largest::of(self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::File { size, .. } => Some((e.path.as_str(), *size)),
            EntryKind::Dir => None,
        }))
    }
}

/// BLAKE3 over the canonical listing of the shipped entries.
///
/// The listing is `gcwatch-tree-v1\0` followed, for each entry in zip order,
/// by `D 755 <path>/\0` for a folder or `F <mode> <content hash> <path>\0` for
/// a file (mode in octal, content hash as 64 hex digits). Only what is
/// shipped goes in: times, owners and ignored files never do.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHash(pub [u8; 32]);

impl TreeHash {
    pub fn of(entries: &[Entry]) -> TreeHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"gcwatch-tree-v1\0");
        // One buffer for every line: this runs after each change, over every entry.
        let mut line = Vec::with_capacity(256);
        for entry in entries {
            line.clear();
            match &entry.kind {
                EntryKind::Dir => {
                    line.extend_from_slice(b"D ");
                    push_octal(&mut line, entry.mode);
                    line.push(b' ');
                    line.extend_from_slice(entry.path.as_bytes());
                    line.extend_from_slice(b"/\0");
                }
                EntryKind::File { hash, .. } => {
                    line.extend_from_slice(b"F ");
                    push_octal(&mut line, entry.mode);
                    line.push(b' ');
                    push_hex(&mut line, hash);
                    line.push(b' ');
                    line.extend_from_slice(entry.path.as_bytes());
                    line.push(0);
                }
            }
            hasher.update(&line);
        }
        TreeHash(*hasher.finalize().as_bytes())
    }
}

/// Bytes as lowercase hex digits.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    String::from_utf8(out).expect("hex digits are ASCII")
}

fn push_octal(out: &mut Vec<u8>, mode: u32) {
    let digits = format!("{mode:o}");
    out.extend_from_slice(digits.as_bytes());
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHash({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree hash is 64 hex digits, not `{0}`")]
pub struct ParseTreeHashError(String);

impl FromStr for TreeHash {
    type Err = ParseTreeHashError;

    fn from_str(s: &str) -> Result<TreeHash, ParseTreeHashError> {
        let error = || ParseTreeHashError(s.to_string());
        if s.len() != 64 || !s.is_ascii() {
            return Err(error());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| error())?;
        }
        Ok(TreeHash(bytes))
    }
}

impl serde::Serialize for TreeHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TreeHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TreeHash, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The largest folders (by file count and by bytes, subfolders included)
/// and files of a tree, five of each. Displayed on one line, as it ends up
/// in an event line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Largest {
    pub folders_by_files: Vec<FolderSize>,
    pub folders_by_bytes: Vec<FolderSize>,
    pub files: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSize {
    pub path: String,
    pub files: usize,
    pub bytes: u64,
}

impl Largest {
    const SHOWN: usize = 5;

    /// From `(path, size)` of each file.
    pub fn of<'a>(files: impl IntoIterator<Item = (&'a str, u64)>) -> Largest {
        let mut folders: HashMap<&str, (usize, u64)> = HashMap::new();
        let mut all_files = Vec::new();
        for (path, size) in files {
            for (i, _) in path.match_indices('/') {
                let total = folders.entry(&path[..i]).or_default();
                total.0 += 1;
                total.1 += size;
            }
            all_files.push((path.to_string(), size));
        }
        let mut folders: Vec<FolderSize> = folders
            .into_iter()
            .map(|(path, (files, bytes))| FolderSize {
                path: path.to_string(),
                files,
                bytes,
            })
            .collect();
        folders.sort_by(|a, b| b.files.cmp(&a.files).then_with(|| a.path.cmp(&b.path)));
        let folders_by_files = folders.iter().take(Self::SHOWN).cloned().collect();
        folders.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
        let folders_by_bytes = folders.into_iter().take(Self::SHOWN).collect();
        all_files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all_files.truncate(Self::SHOWN);
        Largest {
            folders_by_files,
            folders_by_bytes,
            files: all_files,
        }
    }
}

impl fmt::Display for Largest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let folders = |list: &[FolderSize]| {
            list.iter()
                .map(|d| format!("{}/ ({}, {})", d.path, files(d.files), human_bytes(d.bytes)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.folders_by_files.is_empty() {
            write!(
                f,
                "largest folders by files: {}; by bytes: {}; ",
                folders(&self.folders_by_files),
                folders(&self.folders_by_bytes)
            )?;
        }
        let largest_files: Vec<String> = self
            .files
            .iter()
            .map(|(path, size)| format!("{path} ({})", human_bytes(*size)))
            .collect();
        write!(f, "largest files: {}", largest_files.join(", "))
    }
}

fn files(n: usize) -> String {
    if n == 1 {
        "1 file".to_string()
    } else {
        format!("{n} files")
    }
}

/// Walks and hashes the function folder `root`.
pub fn take(root: &Path, settings: &Settings) -> Result<Snapshot, PackError> {
    let rules = Rules::load(root, &settings.rules)?;
    take_with(&rules, settings, &mut StatCache::default())
}

/// Walks and hashes the function folder of `rules`, reading only the files whose stat
/// differs from what `cache` remembers; `cache` is updated to the files found.
///
/// A file that disappears, or stops being a regular file, between the listing
/// and its hashing is [`PackError::Changed`]: the caller takes a new snapshot.
pub fn take_with(
    rules: &Rules,
    settings: &Settings,
    cache: &mut StatCache,
) -> Result<Snapshot, PackError> {
    let walk = walk(rules, settings)?;
    if walk.files > settings.max_files {
        return Err(PackError::TooLarge {
            root: rules.root().to_path_buf(),
            limit: Limit::Files {
                found: walk.files,
                max: settings.max_files,
                complete: walk.complete,
            },
            largest: Largest::of(walk.found.iter().filter_map(|f| match &f.kind {
                Found::File { size, .. } => Some((f.path.as_str(), *size)),
                Found::Dir => None,
            })),
        });
    }

    // Files the cache cannot vouch for are read, on every core.
    let recorded_ns = now_ns();
    let hashes: Vec<Option<Result<Hashed, PackError>>> = walk
        .found
        .par_iter()
        .map(|listed| match &listed.kind {
            Found::Dir => None,
            Found::File {
                source,
                stamp,
                size,
            } => Some(match cache.get(source, stamp) {
                Some(hash) => Ok((hash, *size)),
                None => hash_file(source),
            }),
        })
        .collect();

    let mut entries = Vec::with_capacity(walk.found.len());
    let mut bytes = 0;
    let mut fresh = StatCache::default();
    for (listed, hashed) in walk.found.into_iter().zip(hashes) {
        let kind = match (listed.kind, hashed) {
            (Found::File { source, stamp, .. }, Some(hashed)) => {
                let (hash, size) = hashed?;
                bytes += size;
                fresh.insert(source.clone(), stamp, hash, recorded_ns);
                EntryKind::File { size, hash, source }
            }
            _ => EntryKind::Dir,
        };
        entries.push(Entry {
            path: listed.path,
            mode: listed.mode,
            kind,
        });
    }
    *cache = fresh;
    let links = walk.links;
    entries.sort_by_cached_key(Entry::zip_name);
    let mut skipped = walk.skipped;
    skipped.sort_by(|a, b| a.path.cmp(&b.path));

    Ok(Snapshot {
        root: rules.root().to_path_buf(),
        hash: TreeHash::of(&entries),
        entries,
        skipped,
        files: walk.files,
        bytes,
        links,
    })
}

/// The snapshot after changes at `changed` (paths relative to the function folder), made
/// from `previous` without walking the whole folder. `None` when a change needs the
/// full walk: a folder that came or went, a link or special file, an
/// ignore file, a name that is not plain, or a snapshot that followed links.
///
/// What it decides is what a full walk would: the same rules judge each changed path
/// (with its ancestors), and each file's content comes from the stat cache or is read.
pub fn update(
    mut previous: Snapshot,
    rules: &Rules,
    settings: &Settings,
    cache: &mut StatCache,
    changed: &[String],
) -> Option<Result<Snapshot, PackError>> {
    if previous.links {
        return walk_instead("links were followed");
    }
    let recorded_ns = now_ns();
    for rel in changed {
        let plain = !rel.is_empty()
            && rel != "."
            && !rel.contains('\\')
            && !rel.contains('\u{FFFD}')
            && !rel
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        let rel_path = Path::new(rel);
        // A path the last walk skipped (or one above or below it) may stop being skipped.
        let near_skipped = previous.skipped.iter().any(|k| {
            k.path == *rel
                || rel.starts_with(&format!("{}/", k.path))
                || k.path.starts_with(&format!("{rel}/"))
        });
        if !plain || near_skipped || rules.is_ignore_file(rel_path) {
            return walk_instead("not a plain path, near a skipped one, or an ignore file");
        }
        let abs = previous.root.join(rel_path);
        let at = previous.find(rel);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if previous.find(&format!("{rel}/")).is_ok() {
                    // Only a walk knows what was under the folder that went.
                    return walk_instead("a folder went");
                }
                if let Ok(i) = at {
                    previous.remove_file(i, cache);
                }
                continue;
            }
            Err(_) => return walk_instead("cannot stat a changed path"),
        };
        if meta.is_dir() {
            if previous.find(&format!("{rel}/")).is_ok() {
                continue; // Its entries changed, and are paths of their own in `changed`.
            }
            return walk_instead("a new folder");
        }
        if !meta.is_file() {
            return walk_instead("not a regular file");
        }
        let decision = match rules.decide(rel_path, false) {
            Ok(d) => d,
            Err(e) => return Some(Err(e.into())),
        };
        if !decision.shipped {
            if let Ok(i) = at {
                previous.remove_file(i, cache);
            }
            continue;
        }
        // A file in a folder the snapshot does not hold yet needs the walk to add it.
        if let Some((parent, _)) = rel.rsplit_once('/') {
            if previous.find(&format!("{parent}/")).is_err() {
                return walk_instead("a file in a new folder");
            }
        }
        let stamp = Stamp::of(&meta);
        let (hash, size) = match cache.get(&abs, &stamp) {
            Some(hash) => (hash, meta.len()),
            None => match hash_file(&abs) {
                Ok(hashed) => hashed,
                Err(e) => return Some(Err(e)),
            },
        };
        cache.insert(abs.clone(), stamp, hash, recorded_ns);
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            MODE_EXEC
        } else {
            MODE_FILE
        };
        let entry = Entry {
            path: rel.clone(),
            mode,
            kind: EntryKind::File {
                size,
                hash,
                source: abs,
            },
        };
        match at {
            Ok(i) => {
                if let EntryKind::File { size: old, .. } = previous.entries[i].kind {
                    previous.bytes -= old;
                }
                previous.entries[i] = entry;
            }
            Err(i) => {
                previous.files += 1;
                previous.entries.insert(i, entry);
            }
        }
        previous.bytes += size;
    }
    if previous.files > settings.max_files {
        return walk_instead("over max_files");
    }
    previous.hash = TreeHash::of(&previous.entries);
    Some(Ok(previous))
}

/// Says why an update falls back to the full walk (at debug level), and does.
fn walk_instead(why: &str) -> Option<Result<Snapshot, PackError>> {
    tracing::debug!("full walk: {why}");
    None
}

/// Opens `path` for reading only if it is (still) a regular file.
///
/// `O_NONBLOCK` makes the open itself return at once even if the file was
/// replaced by a FIFO since it was listed; such a file then counts as changed.
pub(crate) fn open_regular(path: &Path) -> Result<File, PackError> {
    let changed = || PackError::Changed {
        path: path.to_path_buf(),
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => changed(),
            _ => PackError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
    let meta = file.metadata().map_err(|source| PackError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(changed());
    }
    Ok(file)
}

/// A file's content hash and length.
type Hashed = ([u8; 32], u64);

/// The BLAKE3 hash and length of a file's content, read in chunks.
fn hash_file(path: &Path) -> Result<([u8; 32], u64), PackError> {
    let mut file = open_regular(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; BUFFER];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PackError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((*hasher.finalize().as_bytes(), size))
}

/// An entry found by the walk, before hashing.
struct Listed {
    path: String,
    mode: u32,
    kind: Found,
}

enum Found {
    Dir,
    File {
        size: u64,
        source: PathBuf,
        stamp: Stamp,
    },
}

struct Walk {
    found: Vec<Listed>,
    skipped: Vec<Skipped>,
    files: usize,
    /// False when the walk stopped early because there were far too many files.
    complete: bool,
    /// Whether a symbolic link was followed.
    links: bool,
}

/// The canonical folders from the root down to the one being read: a link
/// to any of them would walk forever.
struct Chain {
    dir: PathBuf,
    up: Option<Rc<Chain>>,
}

impl Chain {
    fn contains(&self, dir: &Path) -> bool {
        let mut link = Some(self);
        while let Some(chain) = link {
            if chain.dir == dir {
                return true;
            }
            link = chain.up.as_deref();
        }
        false
    }
}

/// A folder waiting to be read.
struct Frame {
    /// Its canonical path, to read.
    chain: Rc<Chain>,
    /// Its path relative to the root, `/`-separated ("" for the root).
    rel: String,
}

/// How an entry looks once symbolic links are resolved.
enum Resolved {
    Plain(Metadata),
    Link { target: PathBuf, meta: Metadata },
    Dangling,
}

fn walk(rules: &Rules, settings: &Settings) -> Result<Walk, PackError> {
    let root = rules.root();
    // Past this many files the listing stops: enough to show what is large,
    // and a bound on trees that links make explode.
    let cap = settings.max_files.saturating_mul(10);
    let mut walk = Walk {
        found: Vec::new(),
        skipped: Vec::new(),
        files: 0,
        complete: true,
        links: false,
    };
    let mut stack = vec![Frame {
        chain: Rc::new(Chain {
            dir: root.to_path_buf(),
            up: None,
        }),
        rel: String::new(),
    }];

    while let Some(frame) = stack.pop() {
        let dir = &frame.chain.dir;
        let list_error = |source| PackError::List {
            path: dir.clone(),
            source,
        };
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(list_error)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(list_error)?;
        // Sorted so that a walk cut short at the cap, and errors, do not
        // depend on the order the file system lists names in.
        names.sort();

        for name in names {
            let abs = dir.join(&name);
            let rel_path = Path::new(&frame.rel).join(&name);
            let resolved = match resolve(&abs) {
                Ok(Some(resolved)) => resolved,
                // Gone since it was listed: the watcher will report its removal.
                Ok(None) => continue,
                Err(source) => return Err(PackError::List { path: abs, source }),
            };
            let is_dir = match &resolved {
                Resolved::Plain(meta) | Resolved::Link { meta, .. } => meta.is_dir(),
                Resolved::Dangling => false,
            };
            if !rules.decide_entry(&rel_path, is_dir)?.shipped {
                continue;
            }

            let rel = match name.to_str() {
                Some(name) if name.contains('\\') => {
                    walk.skip(&rel_path, SkipReason::Name {
                        why: "name contains a backslash, which unzips as a folder separator on some systems",
                    });
                    continue;
                }
                Some(name) if frame.rel.is_empty() => name.to_string(),
                Some(name) => format!("{}/{name}", frame.rel),
                None => {
                    walk.skip(
                        &rel_path,
                        SkipReason::Name {
                            why: "name is not valid UTF-8, which zip names must be",
                        },
                    );
                    continue;
                }
            };

            let (meta, target) = match resolved {
                Resolved::Plain(meta) => (meta, None),
                Resolved::Dangling => {
                    walk.skip(&rel_path, SkipReason::Dangling);
                    continue;
                }
                Resolved::Link { target, meta } => {
                    walk.links = true;
                    if !target.starts_with(root) && !settings.follow_external_symlinks {
                        walk.skip(&rel_path, SkipReason::Outside { target });
                        continue;
                    }
                    (meta, Some(target))
                }
            };

            let file_type = meta.file_type();
            if file_type.is_dir() {
                let canonical = target.unwrap_or(abs);
                if frame.chain.contains(&canonical) {
                    walk.skip(&rel_path, SkipReason::Loop { target: canonical });
                    continue;
                }
                walk.found.push(Listed {
                    path: rel.clone(),
                    mode: MODE_EXEC,
                    kind: Found::Dir,
                });
                stack.push(Frame {
                    chain: Rc::new(Chain {
                        dir: canonical,
                        up: Some(frame.chain.clone()),
                    }),
                    rel,
                });
            } else if file_type.is_file() {
                let executable = meta.permissions().mode() & 0o111 != 0;
                walk.found.push(Listed {
                    path: rel,
                    mode: if executable { MODE_EXEC } else { MODE_FILE },
                    kind: Found::File {
                        size: meta.len(),
                        source: target.unwrap_or(abs),
                        stamp: Stamp::of(&meta),
                    },
                });
                walk.files += 1;
                if walk.files > cap {
                    walk.complete = false;
                    return Ok(walk);
                }
            } else {
                walk.skip(
                    &rel_path,
                    SkipReason::Special {
                        kind: special_kind(&file_type),
                    },
                );
            }
        }
    }
    Ok(walk)
}

impl Walk {
    fn skip(&mut self, path: &Path, reason: SkipReason) {
        self.skipped.push(Skipped {
            path: path.to_string_lossy().into_owned(),
            reason,
        });
    }
}

/// Stats `abs`, following a symbolic link to its final target. `None` when
/// `abs` itself no longer exists.
fn resolve(abs: &Path) -> io::Result<Option<Resolved>> {
    let meta = match fs::symlink_metadata(abs) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    if !meta.file_type().is_symlink() {
        return Ok(Some(Resolved::Plain(meta)));
    }
    // A missing target and a chain of links that loops both mean "dangling".
    let Ok(target) = fs::canonicalize(abs) else {
        return Ok(Some(Resolved::Dangling));
    };
    match fs::metadata(&target) {
        Ok(meta) => Ok(Some(Resolved::Link { target, meta })),
        Err(_) => Ok(Some(Resolved::Dangling)),
    }
}

/// Why the walk would skip `abs` (inside the function folder `root`, canonical) even though the
/// rules ship it: the same checks as the walk, for one path, so that `explain` tells the whole
/// story. `None` when it would be shipped, or does not exist.
pub fn skip_reason(root: &Path, abs: &Path, settings: &Settings) -> Option<SkipReason> {
    let name = abs.file_name()?;
    match name.to_str() {
        None => {
            return Some(SkipReason::Name {
                why: "name is not valid UTF-8, which zip names must be",
            })
        }
        Some(name) if name.contains('\\') => {
            return Some(SkipReason::Name {
                why:
                    "name contains a backslash, which unzips as a folder separator on some systems",
            })
        }
        Some(_) => {}
    }
    let meta = match resolve(abs).ok()?? {
        Resolved::Dangling => return Some(SkipReason::Dangling),
        Resolved::Link { target, meta } => {
            if !target.starts_with(root) && !settings.follow_external_symlinks {
                return Some(SkipReason::Outside { target });
            }
            // A link to a folder above it: the walk would find it already being walked.
            if meta.is_dir() && abs.parent().is_some_and(|p| p.starts_with(&target)) {
                return Some(SkipReason::Loop { target });
            }
            meta
        }
        Resolved::Plain(meta) => meta,
    };
    let file_type = meta.file_type();
    if file_type.is_dir() || file_type.is_file() {
        None
    } else {
        Some(SkipReason::Special {
            kind: special_kind(&file_type),
        })
    }
}

fn special_kind(file_type: &fs::FileType) -> &'static str {
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::symlink;
    use std::process::Command;
    use std::sync::mpsc;
    use std::time::Duration;
    use tempfile::TempDir;

    /// Writes `files` (path, content; a path ending in `/` is a folder) under `root`.
    pub(crate) fn write_tree(root: &Path, files: &[(&str, &str)]) {
        for (path, content) in files {
            let full = root.join(path);
            if path.ends_with('/') {
                fs::create_dir_all(&full).unwrap();
            } else {
                fs::create_dir_all(full.parent().unwrap()).unwrap();
                fs::write(&full, content).unwrap();
            }
        }
    }

    pub(crate) fn tree(files: &[(&str, &str)]) -> TempDir {
        let tmp = TempDir::new().unwrap();
        write_tree(tmp.path(), files);
        tmp
    }

    pub(crate) fn mkfifo(path: &Path) {
        let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    }

    pub(crate) fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// After each change, updating the last snapshot path by path gives exactly what a full
    /// walk gives, or declines (`None`) where only a walk can tell.
    #[test]
    fn updates_match_a_full_walk_or_decline() {
        type Change = fn(&Path);
        let cases: &[(&str, Change, &[&str], bool)] = &[
            (
                "edit",
                |r| fs::write(r.join("main.go"), "package main // 2").unwrap(),
                &["main.go"],
                true,
            ),
            (
                "same bytes",
                |r| fs::write(r.join("main.go"), "package main").unwrap(),
                &["main.go"],
                true,
            ),
            (
                "new file in a known folder",
                |r| fs::write(r.join("lib/new.go"), "x").unwrap(),
                &["lib/new.go"],
                true,
            ),
            (
                "delete",
                |r| fs::remove_file(r.join("lib/util.go")).unwrap(),
                &["lib/util.go"],
                true,
            ),
            (
                "chmod +x",
                |r| chmod(&r.join("main.go"), 0o755),
                &["main.go"],
                true,
            ),
            (
                "ignored file",
                |r| fs::write(r.join("debug.log"), "more").unwrap(),
                &["debug.log"],
                true,
            ),
            (
                "rename",
                |r| fs::rename(r.join("main.go"), r.join("app.go")).unwrap(),
                &["app.go", "main.go"],
                true,
            ),
            (
                "new folder",
                |r| write_tree(r, &[("pkg/a.go", "a")]),
                &["pkg", "pkg/a.go"],
                false,
            ),
            (
                "removed folder",
                |r| fs::remove_dir_all(r.join("lib")).unwrap(),
                &["lib", "lib/util.go"],
                false,
            ),
            (
                "ignore file",
                |r| fs::write(r.join(".gitignore"), "*.go\n").unwrap(),
                &[".gitignore"],
                false,
            ),
            ("the root itself", |_| {}, &["."], false),
            (
                "a link",
                |r| std::os::unix::fs::symlink("main.go", r.join("alias.go")).unwrap(),
                &["alias.go"],
                false,
            ),
        ];
        for (what, change, changed, handled) in cases {
            let tmp = tree(&[
                (".gitignore", "*.log\n"),
                ("main.go", "package main"),
                ("lib/util.go", "package lib"),
                ("debug.log", "x"),
            ]);
            // A skipped path elsewhere does not stop edits from being applied path by path.
            mkfifo(&tmp.path().join("pipe"));
            let settings = Settings::default();
            let rules = Rules::load(tmp.path(), &settings.rules).unwrap();
            let mut cache = StatCache::default();
            let before = take_with(&rules, &settings, &mut cache).unwrap();
            change(tmp.path());
            let changed: Vec<String> = changed.iter().map(|c| c.to_string()).collect();
            let rules = Rules::load(tmp.path(), &settings.rules).unwrap();
            let updated = update(before, &rules, &settings, &mut cache, &changed);
            assert_eq!(updated.is_some(), *handled, "{what}: handled?");
            if let Some(updated) = updated {
                let updated = updated.unwrap();
                let walked = take(tmp.path(), &settings).unwrap();
                assert_eq!(paths(&updated), paths(&walked), "{what}: entries");
                assert_eq!(updated.hash, walked.hash, "{what}: tree hash");
                assert_eq!(
                    (updated.files, updated.bytes),
                    (walked.files, walked.bytes),
                    "{what}"
                );
            }
        }
    }

    fn paths(snapshot: &Snapshot) -> Vec<String> {
        snapshot.entries.iter().map(Entry::zip_name).collect()
    }

    fn skipped(snapshot: &Snapshot) -> Vec<(String, String)> {
        let mut skipped: Vec<_> = snapshot
            .skipped
            .iter()
            .map(|s| (s.path.clone(), s.reason.to_string()))
            .collect();
        skipped.sort();
        skipped
    }

    const SAMPLE: &[(&str, &str)] = &[
        (".gitignore", "*.log\nbuild/\n"),
        ("main.go", "package main\n"),
        ("lib/util.go", "package lib\n"),
        ("lib/util_test.go", "package lib\n"),
        ("empty/", ""),
        ("debug.log", "noise\n"),
        ("build/out.bin", "binary"),
        ("a-b.txt", "sorts before a/"),
        ("a/x", "x"),
    ];

    #[test]
    fn lists_shipped_entries_in_zip_order() {
        let tmp = tree(SAMPLE);
        let snapshot = take(tmp.path(), &Settings::default()).unwrap();
        assert_eq!(
            paths(&snapshot),
            [
                ".gitignore",
                "a-b.txt",
                "a/",
                "a/x",
                "empty/",
                "lib/",
                "lib/util.go",
                "lib/util_test.go",
                "main.go"
            ]
        );
        assert_eq!(snapshot.files, 6);
        assert_eq!(snapshot.root, fs::canonicalize(tmp.path()).unwrap());
        let main = snapshot
            .entries
            .iter()
            .find(|e| e.path == "main.go")
            .unwrap();
        let EntryKind::File { size, hash, .. } = &main.kind else {
            panic!("main.go is a file");
        };
        assert_eq!(*size, 13);
        assert_eq!(hash, blake3::hash(b"package main\n").as_bytes());
    }

    #[test]
    fn tree_hash_follows_only_what_is_shipped() {
        type Change = fn(&Path);
        #[rustfmt::skip]
        let cases: &[(&str, Change, bool)] = &[
            ("nothing", |_| {}, true),
            ("touch", |r| {
                let f = File::options().write(true).open(r.join("main.go")).unwrap();
                f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
            }, true),
            ("rewrite with the same bytes", |r| fs::write(r.join("main.go"), "package main\n").unwrap(), true),
            ("change an ignored file", |r| fs::write(r.join("debug.log"), "more noise").unwrap(), true),
            ("add an ignored file", |r| fs::write(r.join("build/new"), "x").unwrap(), true),
            ("chmod without execute bits", |r| chmod(&r.join("main.go"), 0o600), true),
            ("one byte", |r| fs::write(r.join("main.go"), "package main!").unwrap(), false),
            ("rename", |r| fs::rename(r.join("main.go"), r.join("main2.go")).unwrap(), false),
            ("chmod +x", |r| chmod(&r.join("main.go"), 0o755), false),
            ("new empty folder", |r| fs::create_dir(r.join("new")).unwrap(), false),
            ("un-ignore a file", |r| fs::write(r.join(".gitignore"), "build/\n").unwrap(), false),
        ];
        for (name, change, same) in cases {
            let tmp = tree(SAMPLE);
            let before = take(tmp.path(), &Settings::default()).unwrap().hash;
            change(tmp.path());
            let after = take(tmp.path(), &Settings::default()).unwrap().hash;
            assert_eq!(before == after, *same, "{name}");
        }
    }

    #[test]
    fn tree_hash_is_the_same_in_a_copy() {
        let tmp = tree(SAMPLE);
        chmod(&tmp.path().join("main.go"), 0o755);
        let copy = TempDir::new().unwrap();
        let status = Command::new("cp")
            .arg("-r")
            .arg(tmp.path())
            .arg(copy.path().join("fn"))
            .status()
            .unwrap();
        assert!(status.success());
        let a = take(tmp.path(), &Settings::default()).unwrap();
        let b = take(&copy.path().join("fn"), &Settings::default()).unwrap();
        assert_eq!(a.hash, b.hash);
        assert_eq!(paths(&a), paths(&b));
    }

    #[test]
    fn links_inside_are_followed_others_skipped() {
        let tmp = tree(&[
            ("fn/real.txt", "real"),
            ("fn/dir/inner.txt", "inner"),
            ("outside.txt", "outside"),
            ("outside-dir/o.txt", "o"),
        ]);
        let root = tmp.path().join("fn");
        symlink("real.txt", root.join("file-link")).unwrap();
        symlink("dir", root.join("dir-link")).unwrap();
        symlink("..", root.join("dir/up")).unwrap();
        symlink(".", root.join("self")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        symlink("loop-b", root.join("loop-a")).unwrap();
        symlink("loop-a", root.join("loop-b")).unwrap();
        symlink("../outside.txt", root.join("out-file")).unwrap();
        symlink("../outside-dir", root.join("out-dir")).unwrap();
        symlink("..", tmp.path().join("outside-dir/back")).unwrap();

        let snapshot = take(&root, &Settings::default()).unwrap();
        assert_eq!(
            paths(&snapshot),
            [
                "dir-link/",
                "dir-link/inner.txt",
                "dir/",
                "dir/inner.txt",
                "file-link",
                "real.txt"
            ]
        );
        let link = snapshot
            .entries
            .iter()
            .find(|e| e.path == "file-link")
            .unwrap();
        let EntryKind::File { hash, source, .. } = &link.kind else {
            panic!("a link to a file is a file");
        };
        assert_eq!(hash, blake3::hash(b"real").as_bytes());
        assert_eq!(source, &fs::canonicalize(root.join("real.txt")).unwrap());

        let canonical = fs::canonicalize(tmp.path()).unwrap();
        let fn_dir = canonical.join("fn");
        let outside = |name: &str| {
            SkipReason::Outside {
                target: canonical.join(name),
            }
            .to_string()
        };
        let looped = SkipReason::Loop { target: fn_dir }.to_string();
        let dangling = SkipReason::Dangling.to_string();
        assert_eq!(
            skipped(&snapshot),
            [
                ("dangling".to_string(), dangling.clone()),
                ("dir-link/up".to_string(), looped.clone()),
                ("dir/up".to_string(), looped.clone()),
                ("loop-a".to_string(), dangling.clone()),
                ("loop-b".to_string(), dangling),
                ("out-dir".to_string(), outside("outside-dir")),
                ("out-file".to_string(), outside("outside.txt")),
                ("self".to_string(), looped),
            ]
        );

        let settings = Settings {
            follow_external_symlinks: true,
            ..Settings::default()
        };
        let snapshot = take(&root, &settings).unwrap();
        let names = paths(&snapshot);
        for shipped in ["out-dir/", "out-dir/o.txt", "out-file"] {
            assert!(names.contains(&shipped.to_string()), "{shipped}: {names:?}");
        }
        // Followed outside, `out-dir/back` leads to the parent of the function
        // folder, which is not on the walk's chain: it is walked once, and
        // stops where it comes back to a folder on the chain.
        assert!(
            names.contains(&"out-dir/back/outside.txt".to_string()),
            "{names:?}"
        );
        let loops: Vec<&str> = snapshot
            .skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::Loop { .. }))
            .map(|s| s.path.as_str())
            .collect();
        assert_eq!(
            loops,
            [
                "dir-link/up",
                "dir/up",
                "out-dir/back/fn",
                "out-dir/back/outside-dir",
                "self"
            ]
        );
    }

    #[test]
    fn fifos_are_skipped_without_blocking() {
        let tmp = tree(&[("a.txt", "a")]);
        mkfifo(&tmp.path().join("pipe"));
        let root = tmp.path().to_path_buf();
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || done.send(take(&root, &Settings::default())).unwrap());
        let snapshot = result
            .recv_timeout(Duration::from_secs(20))
            .expect("a FIFO must never be opened")
            .unwrap();
        assert_eq!(paths(&snapshot), ["a.txt"]);
        assert_eq!(
            skipped(&snapshot),
            [("pipe".to_string(), "FIFO, never read".to_string())]
        );
    }

    #[test]
    fn unstorable_names_are_skipped() {
        let tmp = tree(&[("a\\b", "x"), ("ok", "y")]);
        let snapshot = take(tmp.path(), &Settings::default()).unwrap();
        assert_eq!(paths(&snapshot), ["ok"]);
        assert_eq!(snapshot.skipped[0].path, "a\\b");
    }

    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        // Reading /proc/self/mem from its start fails even for root.
        let tmp = tree(&[]);
        symlink("/proc/self/mem", tmp.path().join("mem")).unwrap();
        let settings = Settings {
            follow_external_symlinks: true,
            ..Settings::default()
        };
        let err = take(tmp.path(), &settings).unwrap_err();
        assert!(matches!(err, PackError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("/proc/"), "{err}");

        if unsafe { libc::geteuid() } != 0 {
            let tmp = tree(&[("secret", "x")]);
            chmod(&tmp.path().join("secret"), 0o000);
            let err = take(tmp.path(), &Settings::default()).unwrap_err();
            assert!(err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn too_many_files_lists_the_largest() {
        let tmp = tree(&[("main.go", "x")]);
        for i in 0..8 {
            write_tree(
                tmp.path(),
                &[(&format!("node_modules/p{i}/index.js"), "js")],
            );
        }
        write_tree(tmp.path(), &[("data/big.bin", &"b".repeat(5000))]);
        let settings = Settings {
            max_files: 5,
            ..Settings::default()
        };
        let err = take(tmp.path(), &settings).unwrap_err();
        let PackError::TooLarge { limit, largest, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(
            *limit,
            Limit::Files {
                found: 10,
                max: 5,
                complete: true
            }
        );
        assert_eq!(largest.folders_by_files[0].path, "node_modules");
        assert_eq!(largest.folders_by_files[0].files, 8);
        assert_eq!(largest.folders_by_bytes[0].path, "data");
        assert_eq!(largest.files[0], ("data/big.bin".to_string(), 5000));
        let message = err.to_string();
        for needle in [
            "10 files",
            "max_files = 5",
            "node_modules/ (8 files",
            "data/big.bin (4.9 KiB)",
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
    }

    #[test]
    fn tree_hash_text_forms() {
        let hash = TreeHash(*blake3::hash(b"x").as_bytes());
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<TreeHash>().unwrap(), hash);
        assert_eq!(serde_json::to_string(&hash).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<TreeHash>(&format!("\"{text}\"")).unwrap(),
            hash
        );
        for bad in ["", "xyz", &text[1..], &format!("{}g", &text[1..])] {
            assert!(bad.parse::<TreeHash>().is_err(), "{bad}");
        }
    }

    /// git with no global or system config, so nothing machine-local applies.
    fn git(dir: &Path, home: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("git")
            .args(["-c", "core.excludesFile=/dev/null"])
            .args(args)
            .current_dir(dir)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git is installed");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        out.stdout
    }

    #[test]
    fn ships_what_git_lists_as_untracked() {
        #[rustfmt::skip]
        let trees: &[&[(&str, &str)]] = &[
            &[
                (".gitignore", "*.log\n/functions/hello/anchored.txt\n"),
                ("functions/.gitignore", "tmp/\n"),
                ("functions/hello/.gitignore", "# built\n/bin\n*.o\n!keep.o\nvendor/**/testdata\ndoc?/\n"),
                ("functions/hello/main.go", "x"), ("functions/hello/anchored.txt", "x"),
                ("functions/hello/sub/anchored.txt", "x"), ("functions/hello/a.log", "x"),
                ("functions/hello/bin/tool", "x"), ("functions/hello/sub/bin", "x"),
                ("functions/hello/x.o", "x"), ("functions/hello/keep.o", "x"),
                ("functions/hello/vendor/m/testdata/t", "x"), ("functions/hello/vendor/m/m.go", "x"),
                ("functions/hello/doc1/x", "x"), ("functions/hello/doc1.md", "x"),
                ("functions/hello/tmp/x", "x"), ("functions/hello/deep/tmp/y", "x"),
                ("functions/hello/.DS_Store", "x"), ("functions/hello/main.go.swp", "x"),
            ],
            &[
                ("functions/hello/.gitignore", "*\n!*/\n!*.go\n!.gitignore\nsecret/\n"),
                ("functions/hello/main.go", "x"), ("functions/hello/README", "x"),
                ("functions/hello/pkg/a.go", "x"), ("functions/hello/pkg/a.txt", "x"),
                ("functions/hello/secret/s.go", "x"),
                ("functions/hello/pkg/.gitignore", "!a.txt\n"),
                ("functions/hello/{a,b}.go", "x"), ("functions/hello/sp ace.go", "x"),
                ("functions/hello/trailing.go  ", "x"),
            ],
        ];
        for files in trees {
            let tmp = tree(files);
            let home = TempDir::new().unwrap();
            git(tmp.path(), home.path(), &["init", "-q"]);
            let root = tmp.path().join("functions/hello");
            let listed = git(
                &root,
                home.path(),
                &["ls-files", "-z", "--others", "--exclude-standard"],
            );
            let mut want: Vec<String> = String::from_utf8(listed)
                .unwrap()
                .split('\0')
                .filter(|p| !p.is_empty() && !p.ends_with(".DS_Store") && !p.ends_with(".swp"))
                .map(str::to_string)
                .collect();
            want.sort();
            let snapshot = take(&root, &Settings::default()).unwrap();
            let got: Vec<String> = snapshot
                .entries
                .iter()
                .filter(|e| !e.is_dir())
                .map(|e| e.path.clone())
                .collect();
            assert_eq!(got, want, "tree {files:?}");
        }
    }
}
