//! One-shot gzip of small files: the one home of the gzip helpers for the vault's companion
//! files (logs, results, resource lists), which are gzip-compressed as Velero writes them.
//!
//! The tarball itself is compressed while it streams, in parallel members, by
//! [`archive`](crate::archive)'s writer; this module is for files small enough to hold in
//! memory.
//!
//! ```
//! use csdr_core::gzip::{gunzip, gzip};
//!
//! let gz = gzip(b"line 1\nline 2\n");
//! assert_eq!(&gz[..2], &[0x1f, 0x8b]); // the gzip magic
//! assert_eq!(gunzip(&gz)?, b"line 1\nline 2\n");
//! assert!(gunzip(b"not gzip").is_err());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{Read, Write};

/// Gzip-compresses bytes (default level, one member).
pub fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(plain);
    enc.finish().unwrap_or_default()
}

/// Decompresses gzip bytes, of one member or several concatenated (RFC 1952 §2.2).
pub fn gunzip(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut out)?;
    Ok(out)
}
