//! Entries whose data is already compressed in, a zip archive out.
//!
//! The zip crate compresses as it writes, one entry after the other. gcwatch compresses files
//! on every core, and copies unchanged entries' compressed bytes from the previous zip; both
//! need a writer that takes compressed data as it is. This one writes exactly what gcwatch
//! needs and nothing that varies: no extra fields but zip64's, every entry dated
//! 1980-01-01 00:00:00, unix modes, zip64 records only where sizes, offsets or the entry count
//! need them.

use std::io::{self, Seek, SeekFrom, Write};

/// DOS date of 1980-01-01; the time of day is 00:00:00 (zero).
const DOS_DATE_1980: u16 = (1 << 5) | 1;
const UNIX_FILE: u32 = 0o100_000;
const UNIX_DIR: u32 = 0o040_000;
const MSDOS_DIR: u32 = 0x10;
/// "Made by" Unix (3), spec version 4.5.
const MADE_BY: u16 = (3 << 8) | 45;
const NEEDS_DEFAULT: u16 = 20;
const NEEDS_ZIP64: u16 = 45;
/// Bit 11: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// Files at least this large get zip64 sizes from the start: deflate may grow data a little,
/// and a streamed entry's header is written before its compressed size is known.
pub const ZIP64_FROM: u64 = 0xFFFF_0000;

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored = 0,
    Deflated = 8,
}

/// The compressed form of one file and what the headers say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    pub method: Method,
    pub crc: u32,
    /// Uncompressed size.
    pub size: u64,
    pub data: Vec<u8>,
}

struct Central {
    name: String,
    external: u32,
    method: Method,
    crc: u32,
    size: u64,
    compressed: u64,
    offset: u64,
    zip64_sizes: bool,
}

/// Writes a zip archive to `out`, one entry at a time, in the order given.
pub struct Writer<W: Write + Seek> {
    out: W,
    offset: u64,
    central: Vec<Central>,
}

impl<W: Write + Seek> Writer<W> {
    pub fn new(mut out: W) -> io::Result<Writer<W>> {
        let offset = out.stream_position()?;
        Ok(Writer {
            out,
            offset,
            central: Vec::new(),
        })
    }

    /// A folder entry; `name` ends with `/`.
    pub fn dir(&mut self, name: &str, mode: u32) -> io::Result<()> {
        let external = ((UNIX_DIR | mode) << 16) | MSDOS_DIR;
        self.entry(name, external, Method::Stored, 0, 0, &[])
            .map(|_| ())
    }

    /// A file whose data is already compressed (or stored); returns where its data starts.
    pub fn file(&mut self, name: &str, mode: u32, c: &Compressed) -> io::Result<u64> {
        let external = (UNIX_FILE | mode) << 16;
        self.entry(name, external, c.method, c.crc, c.size, &c.data)
    }

    /// A file whose data `fill` writes as it goes, for files too large to hold in memory.
    /// `size` is the uncompressed size expected; `fill` returns the CRC-32 and the
    /// uncompressed size it wrote. The header is patched with the real values afterwards.
    pub fn file_streamed(
        &mut self,
        name: &str,
        mode: u32,
        method: Method,
        size: u64,
        fill: impl FnOnce(&mut W) -> io::Result<(u32, u64)>,
    ) -> io::Result<(u64, u64)> {
        let external = (UNIX_FILE | mode) << 16;
        let zip64 = size >= ZIP64_FROM;
        let start = self.offset;
        let header = local_header(name, method, 0, 0, 0, zip64);
        self.out.write_all(&header)?;
        let data_start = start + header.len() as u64;
        let (crc, written) = fill(&mut self.out)?;
        let end = self.out.stream_position()?;
        let compressed = end - data_start;
        if !zip64 && (written >= ZIP64_FROM || compressed >= ZIP64_FROM) {
            return Err(io::Error::other(format!(
                "{name} grew past 4 GiB while it was written"
            )));
        }
        // Patch CRC and sizes in place, then come back to the end.
        let patched = local_header(name, method, crc, written, compressed, zip64);
        self.out.seek(SeekFrom::Start(start))?;
        self.out.write_all(&patched)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.offset = end;
        self.central.push(Central {
            name: name.to_string(),
            external,
            method,
            crc,
            size: written,
            compressed,
            offset: start,
            zip64_sizes: zip64,
        });
        Ok((data_start, compressed))
    }

    fn entry(
        &mut self,
        name: &str,
        external: u32,
        method: Method,
        crc: u32,
        size: u64,
        data: &[u8],
    ) -> io::Result<u64> {
        let compressed = data.len() as u64;
        let zip64 = size >= ZIP64_FROM || compressed >= ZIP64_FROM;
        let header = local_header(name, method, crc, size, compressed, zip64);
        self.out.write_all(&header)?;
        self.out.write_all(data)?;
        self.central.push(Central {
            name: name.to_string(),
            external,
            method,
            crc,
            size,
            compressed,
            offset: self.offset,
            zip64_sizes: zip64,
        });
        let data_at = self.offset + header.len() as u64;
        self.offset = data_at + compressed;
        Ok(data_at)
    }

    /// Writes the central directory and the end records; returns the output and the size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let cd_start = self.offset;
        let mut cd = Vec::with_capacity(self.central.len() * 64);
        for c in &self.central {
            central_header(&mut cd, c);
        }
        self.out.write_all(&cd)?;
        let cd_size = cd.len() as u64;
        let entries = self.central.len() as u64;
        let mut end = Vec::with_capacity(120);
        let zip64 = entries >= 0xFFFF || cd_size >= 0xFFFF_FFFF || cd_start >= 0xFFFF_FFFF;
        if zip64 {
            let record_at = cd_start + cd_size;
            end.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            end.extend_from_slice(&44u64.to_le_bytes());
            end.extend_from_slice(&MADE_BY.to_le_bytes());
            end.extend_from_slice(&NEEDS_ZIP64.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&entries.to_le_bytes());
            end.extend_from_slice(&entries.to_le_bytes());
            end.extend_from_slice(&cd_size.to_le_bytes());
            end.extend_from_slice(&cd_start.to_le_bytes());
            end.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&record_at.to_le_bytes());
            end.extend_from_slice(&1u32.to_le_bytes());
        }
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        let count = if zip64 { 0xFFFF } else { entries as u16 };
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&clamp32(cd_size).to_le_bytes());
        end.extend_from_slice(&clamp32(cd_start).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&end)?;
        self.out.flush()?;
        let total = cd_start + cd_size + end.len() as u64;
        Ok((self.out, total))
    }
}

/// A 32-bit field: the value, or all ones where zip64 records carry it.
fn clamp32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn flags(name: &str) -> u16 {
    if name.is_ascii() {
        0
    } else {
        FLAG_UTF8
    }
}

fn local_header(
    name: &str,
    method: Method,
    crc: u32,
    size: u64,
    compressed: u64,
    zip64: bool,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len() + 20);
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&(if zip64 { NEEDS_ZIP64 } else { NEEDS_DEFAULT }).to_le_bytes());
    h.extend_from_slice(&flags(name).to_le_bytes());
    h.extend_from_slice(&(method as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&DOS_DATE_1980.to_le_bytes());
    h.extend_from_slice(&crc.to_le_bytes());
    if zip64 {
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
    } else {
        h.extend_from_slice(&(compressed as u32).to_le_bytes());
        h.extend_from_slice(&(size as u32).to_le_bytes());
    }
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    if zip64 {
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&compressed.to_le_bytes());
    }
    h
}

fn central_header(cd: &mut Vec<u8>, c: &Central) {
    let offset64 = c.offset >= 0xFFFF_FFFF;
    let mut extra = Vec::new();
    if c.zip64_sizes {
        extra.extend_from_slice(&c.size.to_le_bytes());
        extra.extend_from_slice(&c.compressed.to_le_bytes());
    }
    if offset64 {
        extra.extend_from_slice(&c.offset.to_le_bytes());
    }
    let needs = if c.zip64_sizes || offset64 {
        NEEDS_ZIP64
    } else {
        NEEDS_DEFAULT
    };
    cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    cd.extend_from_slice(&MADE_BY.to_le_bytes());
    cd.extend_from_slice(&needs.to_le_bytes());
    cd.extend_from_slice(&flags(&c.name).to_le_bytes());
    cd.extend_from_slice(&(c.method as u16).to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd.extend_from_slice(&DOS_DATE_1980.to_le_bytes());
    cd.extend_from_slice(&c.crc.to_le_bytes());
    if c.zip64_sizes {
        cd.extend_from_slice(&u32::MAX.to_le_bytes());
        cd.extend_from_slice(&u32::MAX.to_le_bytes());
    } else {
        cd.extend_from_slice(&(c.compressed as u32).to_le_bytes());
        cd.extend_from_slice(&(c.size as u32).to_le_bytes());
    }
    cd.extend_from_slice(&(c.name.len() as u16).to_le_bytes());
    let extra_len = if extra.is_empty() { 0 } else { extra.len() + 4 };
    cd.extend_from_slice(&(extra_len as u16).to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes()); // comment
    cd.extend_from_slice(&0u16.to_le_bytes()); // disk
    cd.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    cd.extend_from_slice(&c.external.to_le_bytes());
    let offset = if offset64 { u32::MAX } else { c.offset as u32 };
    cd.extend_from_slice(&offset.to_le_bytes());
    cd.extend_from_slice(c.name.as_bytes());
    if !extra.is_empty() {
        cd.extend_from_slice(&1u16.to_le_bytes());
        cd.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        cd.extend_from_slice(&extra);
    }
}

/// Compresses `data` with libdeflate at level 6, or stores it when that does not make it
/// smaller or when `store` asks for it (already-compressed formats).
pub fn compress(data: &[u8], store: bool, compressor: &mut libdeflater::Compressor) -> Compressed {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let crc = crc.finalize();
    let size = data.len() as u64;
    if !store && !data.is_empty() {
        let mut out = vec![0; compressor.deflate_compress_bound(data.len())];
        if let Ok(n) = compressor.deflate_compress(data, &mut out) {
            if n < data.len() {
                out.truncate(n);
                return Compressed {
                    method: Method::Deflated,
                    crc,
                    size,
                    data: out,
                };
            }
        }
    }
    Compressed {
        method: Method::Stored,
        crc,
        size,
        data: data.to_vec(),
    }
}

/// The compression level every entry uses, so that the same file always compresses alike.
pub fn compressor() -> libdeflater::Compressor {
    libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).expect("level 6 exists"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    fn read_back(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a valid zip");
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                let mut data = Vec::new();
                f.read_to_end(&mut data).unwrap();
                (f.name().to_string(), f.unix_mode().unwrap(), data)
            })
            .collect()
    }

    #[test]
    fn entries_of_every_kind_read_back() {
        let mut c = compressor();
        let text = b"hello hello hello hello hello hello\n".repeat(50);
        let mut w = Writer::new(Cursor::new(Vec::new())).unwrap();
        w.dir("lib/", 0o755).unwrap();
        w.file("lib/a.txt", 0o644, &compress(&text, false, &mut c))
            .unwrap();
        w.file("lib/b.png", 0o644, &compress(b"\x89PNG", true, &mut c))
            .unwrap();
        w.file("run.sh", 0o755, &compress(b"#!/bin/sh\n", false, &mut c))
            .unwrap();
        w.file("empty", 0o644, &compress(b"", false, &mut c))
            .unwrap();
        w.file_streamed("big.txt", 0o644, Method::Stored, 3, |out| {
            out.write_all(b"abc")?;
            let mut h = crc32fast::Hasher::new();
            h.update(b"abc");
            Ok((h.finalize(), 3))
        })
        .unwrap();
        w.file("é.txt", 0o644, &compress(b"x", false, &mut c))
            .unwrap();
        let (out, size) = w.finish().unwrap();
        let bytes = out.into_inner();
        assert_eq!(size, bytes.len() as u64);
        let got = read_back(&bytes);
        let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "lib/",
                "lib/a.txt",
                "lib/b.png",
                "run.sh",
                "empty",
                "big.txt",
                "é.txt"
            ]
        );
        assert_eq!(got[0].1 & 0o777, 0o755);
        assert_eq!(got[1].2, text);
        assert_eq!(got[2].2, b"\x89PNG");
        assert_eq!(got[3].1 & 0o777, 0o755);
        assert_eq!(got[5].2, b"abc");
    }

    #[test]
    fn many_entries_use_zip64_end_records() {
        let mut c = compressor();
        let mut w = Writer::new(Cursor::new(Vec::new())).unwrap();
        let data = compress(b"x", false, &mut c);
        for i in 0..70_000 {
            w.file(&format!("f{i:05}"), 0o644, &data).unwrap();
        }
        let (out, _) = w.finish().unwrap();
        let archive = zip::ZipArchive::new(Cursor::new(out.into_inner())).unwrap();
        assert_eq!(archive.len(), 70_000);
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        let write = || {
            let mut c = compressor();
            let mut w = Writer::new(Cursor::new(Vec::new())).unwrap();
            w.file("a", 0o644, &compress(&b"abc".repeat(1000), false, &mut c))
                .unwrap();
            w.finish().unwrap().0.into_inner()
        };
        assert_eq!(write(), write());
    }
}
