//! The `CSDRENC1` file format: what an encrypted csdr file holds, byte by byte.
//!
//! ```text
//! offset  size  field
//! 0       8     magic `CSDRENC1`
//! 8       1     format version: 1
//! 9       1     chunk size as a power of two: 16 (64 KiB of plaintext per chunk)
//! 10      16    salt: random per file; HKDF-SHA256(data key, salt, "csdr file v1\0" + label)
//!               gives the file's ChaCha20-Poly1305 key
//! 26      …     chunks: each ciphertext is its plaintext (64 KiB, the last 0–64 KiB) plus a
//!               16-byte tag; nonce = 7 zero bytes ‖ chunk index (u32, big-endian) ‖ last flag
//!               (1 on the last chunk, else 0) — the STREAM construction (Hoang, Reyhanitabar,
//!               Rogaway, Vizár 2015); associated data = the 26 header bytes
//! ```
//!
//! Every file has at least one chunk: an empty file is the header and one 16-byte tag. Zero
//! nonce prefixes are safe because no two files share a key (the salt is random per file).

/// The magic bytes every encrypted file starts with.
pub const MAGIC: &[u8; 8] = b"CSDRENC1";
/// The format version written.
pub const VERSION: u8 = 1;
/// log2 of the plaintext bytes per chunk.
pub const CHUNK_LOG2: u8 = 16;
/// Plaintext bytes per chunk (all but the last).
pub const CHUNK: usize = 1 << CHUNK_LOG2;
/// Bytes of the authentication tag each chunk carries.
pub const TAG: usize = 16;
/// Bytes of the per-file salt.
pub const SALT: usize = 16;
/// Bytes of the header.
pub const HEADER: usize = 8 + 1 + 1 + SALT;

/// The header of a file sealed with `salt`.
pub fn header(salt: &[u8; SALT]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8] = VERSION;
    h[9] = CHUNK_LOG2;
    h[10..].copy_from_slice(salt);
    h
}

/// How a file's first bytes read as a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCheck {
    /// Not a `CSDRENC1` file.
    NotEncrypted,
    /// A `CSDRENC1` file of an unknown version or chunk size: (version, chunk size log2).
    Unsupported(u8, u8),
    /// A header this version reads, with its salt.
    Salt([u8; SALT]),
}

/// Reads a header (`bytes` holds at least [`HEADER`] bytes, else it is not encrypted).
pub fn check_header(bytes: &[u8]) -> HeaderCheck {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return HeaderCheck::NotEncrypted;
    }
    if bytes[8] != VERSION || bytes[9] != CHUNK_LOG2 {
        return HeaderCheck::Unsupported(bytes[8], bytes[9]);
    }
    let mut salt = [0u8; SALT];
    salt.copy_from_slice(&bytes[10..HEADER]);
    HeaderCheck::Salt(salt)
}

/// Whether bytes start like an encrypted csdr file (the magic alone).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The size of the sealed file for `plaintext` bytes.
pub fn sealed_len(plaintext: u64) -> u64 {
    let chunks = plaintext.div_ceil(CHUNK as u64).max(1);
    HEADER as u64 + plaintext + chunks * TAG as u64
}
