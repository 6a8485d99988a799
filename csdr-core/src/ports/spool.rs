//! The `Spool` port: temporary storage a restore streams the archive to, so the archive is
//! never held whole in memory (R13) while the core stays free of I/O.
//!
//! The adapter decides where the bytes go: `csdr_storage::TempFileSpool` writes an anonymous
//! temporary file that disappears when dropped; [`MemorySpool`] keeps them in memory (tests,
//! small backups, and the engine's default when no spool is given). A [`SpoolFile`] is
//! written once, in order, then read at any offset: [`SpoolReader`] reads it as a stream.
//!
//! ```
//! use std::io::Read;
//! use csdr_core::ports::spool::{MemorySpool, Spool, SpoolReader};
//!
//! let mut file = MemorySpool.create()?;
//! file.append(b"hello, ")?;
//! file.append(b"world")?;
//! assert_eq!(file.len(), 12);
//! let mut text = String::new();
//! SpoolReader::new(&*file).read_to_string(&mut text)?;
//! assert_eq!(text, "hello, world");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read};
use std::sync::Mutex;

/// Where temporary files come from.
pub trait Spool: Send + Sync {
    /// A new, empty spool file; whatever it holds is removed when it is dropped.
    fn create(&self) -> io::Result<Box<dyn SpoolFile>>;
}

/// A temporary file: appended to in order, read at any offset.
pub trait SpoolFile: Send + Sync {
    /// Appends bytes at the end.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Reads into `buf` from `offset`; returns how many bytes were read (0 at the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// How many bytes it holds.
    fn len(&self) -> u64;

    /// Whether it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A spool in memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemorySpool;

impl Spool for MemorySpool {
    fn create(&self) -> io::Result<Box<dyn SpoolFile>> {
        Ok(Box::new(MemorySpoolFile::default()))
    }
}

/// A [`MemorySpool`]'s file.
#[derive(Debug, Default)]
struct MemorySpoolFile {
    bytes: Mutex<Vec<u8>>,
}

impl SpoolFile for MemorySpoolFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.bytes
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let n = buf.len().min(bytes.len() - start);
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        Ok(n)
    }

    fn len(&self) -> u64 {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }
}

/// Reads a spool file from the start, as a stream.
pub struct SpoolReader<'a> {
    file: &'a dyn SpoolFile,
    offset: u64,
}

impl<'a> SpoolReader<'a> {
    /// A reader at the file's start.
    pub fn new(file: &'a dyn SpoolFile) -> Self {
        SpoolReader { file, offset: 0 }
    }
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(self.offset, buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}
