//! SHA-256 digests as lower-case hex: the one home of hashing in csdr.
//!
//! The vault records the SHA-256 and size of every file it stores and of every archive entry
//! (V7); everything that computes or compares those digests uses these helpers.
//!
//! ```
//! use csdr_core::digest::{Sha256Hex, sha256_hex};
//!
//! assert_eq!(
//!     sha256_hex(b"abc"),
//!     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
//! );
//! // The same digest, fed in pieces as bytes stream past.
//! let mut streamed = Sha256Hex::default();
//! streamed.update(b"a");
//! streamed.update(b"bc");
//! assert_eq!(streamed.size(), 3);
//! assert_eq!(streamed.finish(), sha256_hex(b"abc"));
//! ```

use sha2::Digest;

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A SHA-256 computed over bytes fed piece by piece, with their total size.
#[derive(Clone, Debug, Default)]
pub struct Sha256Hex {
    hasher: sha2::Sha256,
    size: u64,
}

impl Sha256Hex {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// The number of bytes fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The lower-case hex digest of everything fed.
    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lower_hex_sha256() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }
}
