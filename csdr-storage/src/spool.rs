//! [`TempFileSpool`]: csdr-core's [`Spool`] port on anonymous temporary files, so a restore
//! streams the archive to disk instead of holding it in memory (R13).
//!
//! ```
//! use std::io::Read;
//! use csdr_core::ports::spool::{Spool, SpoolReader};
//! use csdr_storage::TempFileSpool;
//!
//! let mut file = TempFileSpool::default().create()?;
//! file.append(b"tar")?;
//! file.append(b"ball")?;
//! let mut back = Vec::new();
//! SpoolReader::new(&*file).read_to_end(&mut back)?;
//! assert_eq!(back, b"tarball");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use csdr_core::ports::spool::{Spool, SpoolFile};

/// Temporary files in a directory (the system's temporary directory by default), removed
/// by the operating system when dropped (they have no name once created).
#[derive(Clone, Debug, Default)]
pub struct TempFileSpool {
    dir: Option<PathBuf>,
}

impl TempFileSpool {
    /// Temporary files in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        TempFileSpool {
            dir: Some(dir.into()),
        }
    }
}

impl Spool for TempFileSpool {
    fn create(&self) -> io::Result<Box<dyn SpoolFile>> {
        let file = match &self.dir {
            Some(dir) => tempfile::tempfile_in(dir)?,
            None => tempfile::tempfile()?,
        };
        Ok(Box::new(TempFile {
            file: Mutex::new(file),
            len: 0,
        }))
    }
}

/// One temporary file.
struct TempFile {
    file: Mutex<File>,
    len: u64,
}

impl SpoolFile for TempFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = self.len;
        let file = self.file.get_mut().unwrap_or_else(|e| e.into_inner());
        file.seek(SeekFrom::Start(len))?;
        file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.seek(SeekFrom::Start(offset))?;
        file.read(buf)
    }

    fn len(&self) -> u64 {
        self.len
    }
}
