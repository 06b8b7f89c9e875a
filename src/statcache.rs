//! A file's stat (size, times, inode, mode) in, its content hash out when nothing changed:
//! so that a snapshot reads only the files that did.
//!
//! Kept in memory by the daemon and on disk in `<state_dir>/cache/`, in a small binary format.
//! A cache that is missing, stale or corrupt is rebuilt, never trusted blindly:
//!
//! 1. An entry counts only when every stat field is equal.
//! 2. An entry recorded less than [`RACY_NS`] after the file's last change is not trusted
//!    (the file may have changed again within the same timestamp tick), so such files are
//!    read again until they have been quiet for that long.
//! 3. A file that cannot be parsed, or has another version, is an empty cache.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long after a file's last change its cached hash starts to be trusted.
pub const RACY_NS: i128 = 2_000_000_000;
const MAGIC: &[u8; 8] = b"gcwstat1";

/// What is compared of a file: a change to any of it means the content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub inode: u64,
    pub dev: u64,
    pub mode: u32,
}

impl Stamp {
    pub fn of(meta: &fs::Metadata) -> Stamp {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            len: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            dev: meta.dev(),
            mode: meta.mode(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cached {
    stamp: Stamp,
    hash: [u8; 32],
    recorded_ns: i128,
}

/// Content hashes by file path (the path that is read: a link's target for a link).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StatCache {
    entries: HashMap<PathBuf, Cached>,
}

pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl StatCache {
    /// The cached hash of `path`, when its stamp is unchanged and old enough to trust.
    pub fn get(&self, path: &Path, stamp: &Stamp) -> Option<[u8; 32]> {
        let cached = self.entries.get(path)?;
        let settled = stamp.mtime_ns.max(stamp.ctime_ns) + RACY_NS <= cached.recorded_ns;
        (cached.stamp == *stamp && settled).then_some(cached.hash)
    }

    pub fn insert(&mut self, path: PathBuf, stamp: Stamp, hash: [u8; 32], recorded_ns: i128) {
        self.entries.insert(
            path,
            Cached {
                stamp,
                hash,
                recorded_ns,
            },
        );
    }

    pub fn remove(&mut self, path: &Path) {
        self.entries.remove(path);
    }

    /// Keeps only the paths `keep` accepts (the files of the latest snapshot).
    pub fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        self.entries.retain(|path, _| keep(path));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads a cache file; anything wrong with it gives an empty cache.
    pub fn load(path: &Path) -> StatCache {
        fs::File::open(path)
            .ok()
            .and_then(|f| read(&mut BufReader::new(f)).ok())
            .unwrap_or_default()
    }

    /// Writes the cache atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut out = BufWriter::new(tmp.as_file());
            out.write_all(MAGIC)?;
            out.write_all(&(self.entries.len() as u64).to_le_bytes())?;
            for (path, c) in &self.entries {
                let name = path.as_os_str().as_encoded_bytes();
                out.write_all(&(name.len() as u32).to_le_bytes())?;
                out.write_all(name)?;
                out.write_all(&c.stamp.len.to_le_bytes())?;
                out.write_all(&c.stamp.mtime_ns.to_le_bytes())?;
                out.write_all(&c.stamp.ctime_ns.to_le_bytes())?;
                out.write_all(&c.stamp.inode.to_le_bytes())?;
                out.write_all(&c.stamp.dev.to_le_bytes())?;
                out.write_all(&c.stamp.mode.to_le_bytes())?;
                out.write_all(&c.hash)?;
                out.write_all(&c.recorded_ns.to_le_bytes())?;
            }
            out.flush()?;
        }
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn read(input: &mut impl Read) -> io::Result<StatCache> {
    let mut magic = [0; 8];
    input.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(io::Error::other("not a stat cache"));
    }
    let count = u64::from_le_bytes(take(input)?);
    let mut entries = HashMap::with_capacity(count.min(1 << 22) as usize);
    for _ in 0..count {
        let len = u32::from_le_bytes(take(input)?) as usize;
        if len > 1 << 16 {
            return Err(io::Error::other("path too long"));
        }
        let mut name = vec![0; len];
        input.read_exact(&mut name)?;
        // SAFETY: the bytes were written from `as_encoded_bytes` of an OsStr on this platform.
        let path = PathBuf::from(unsafe { std::ffi::OsString::from_encoded_bytes_unchecked(name) });
        let stamp = Stamp {
            len: u64::from_le_bytes(take(input)?),
            mtime_ns: i128::from_le_bytes(take(input)?),
            ctime_ns: i128::from_le_bytes(take(input)?),
            inode: u64::from_le_bytes(take(input)?),
            dev: u64::from_le_bytes(take(input)?),
            mode: u32::from_le_bytes(take(input)?),
        };
        let hash = take(input)?;
        let recorded_ns = i128::from_le_bytes(take(input)?);
        entries.insert(
            path,
            Cached {
                stamp,
                hash,
                recorded_ns,
            },
        );
    }
    Ok(StatCache { entries })
}

fn take<const N: usize>(input: &mut impl Read) -> io::Result<[u8; N]> {
    let mut buf = [0; N];
    input.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(mtime_ns: i128) -> Stamp {
        Stamp {
            len: 3,
            mtime_ns,
            ctime_ns: mtime_ns,
            inode: 7,
            dev: 1,
            mode: 0o100644,
        }
    }

    #[test]
    fn only_equal_and_settled_stamps_are_trusted() {
        let mut cache = StatCache::default();
        let p = PathBuf::from("/f");
        let t = 10 * RACY_NS;
        cache.insert(p.clone(), stamp(t), [1; 32], t + RACY_NS);
        cache.insert(PathBuf::from("/racy"), stamp(t), [2; 32], t + RACY_NS - 1);
        let cases = [
            ("equal and settled", "/f", stamp(t), Some([1; 32])),
            ("mtime moved", "/f", stamp(t + 1), None),
            ("size changed", "/f", Stamp { len: 4, ..stamp(t) }, None),
            (
                "inode changed",
                "/f",
                Stamp {
                    inode: 8,
                    ..stamp(t)
                },
                None,
            ),
            (
                "mode changed",
                "/f",
                Stamp {
                    mode: 0o100755,
                    ..stamp(t)
                },
                None,
            ),
            (
                "recorded too soon after the change",
                "/racy",
                stamp(t),
                None,
            ),
            ("unknown path", "/g", stamp(t), None),
        ];
        for (what, path, s, want) in cases {
            assert_eq!(cache.get(Path::new(path), &s), want, "{what}");
        }
    }

    #[test]
    fn saves_and_loads_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache/a.bin");
        let mut cache = StatCache::default();
        for i in 0..100 {
            cache.insert(
                PathBuf::from(format!("/x/{i}")),
                stamp(i),
                [i as u8; 32],
                i * 2,
            );
        }
        cache.save(&file).unwrap();
        assert_eq!(StatCache::load(&file), cache);

        let bytes = fs::read(&file).unwrap();
        fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        assert!(
            StatCache::load(&file).is_empty(),
            "a cut file is an empty cache"
        );
        fs::write(&file, b"something else").unwrap();
        assert!(StatCache::load(&file).is_empty());
        assert!(StatCache::load(&dir.path().join("missing")).is_empty());
    }
}
