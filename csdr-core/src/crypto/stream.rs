//! Sealing and opening files chunk by chunk in the `CSDRENC1` format ([`super::format`]):
//! memory stays bounded by one chunk whatever the file's size.

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::format::{self, CHUNK, HEADER, HeaderCheck, SALT, TAG};
use super::{CryptoError, DataKey};

/// The 7-byte STREAM nonce prefix: zero (every file has its own key).
const NONCE_PREFIX: [u8; 7] = [0; 7];

/// The cipher of one file: HKDF-SHA256 of the data key over the file's salt and label.
fn file_cipher(key: &DataKey, salt: &[u8; SALT], label: &str) -> ChaCha20Poly1305 {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), key.bytes());
    let mut info = b"csdr file v1\0".to_vec();
    info.extend_from_slice(label.as_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32: expand cannot fail.
    if hkdf.expand(&info, okm.as_mut()).is_err() {
        unreachable!("HKDF-SHA256 yields 32 bytes");
    }
    ChaCha20Poly1305::new(Key::from_slice(okm.as_ref()))
}

/// Seals a file's plaintext as it arrives: [`Sealer::update`] with each piece, then
/// [`Sealer::finish`]. The output is the header, then one sealed chunk per 64 KiB.
pub struct Sealer {
    label: String,
    header: [u8; HEADER],
    encryptor: EncryptorBE32<ChaCha20Poly1305>,
    pending: Zeroizing<Vec<u8>>,
    started: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("label", &self.label)
            .finish()
    }
}

impl Sealer {
    /// A sealer of the file at `label` under `key`; `salt` must be random for every file.
    pub fn new(key: &DataKey, salt: [u8; SALT], label: &str) -> Self {
        let cipher = file_cipher(key, &salt, label);
        Sealer {
            label: label.to_string(),
            header: format::header(&salt),
            encryptor: EncryptorBE32::from_aead(cipher, (&NONCE_PREFIX).into()),
            pending: Zeroizing::new(Vec::with_capacity(CHUNK)),
            started: false,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&self.header);
            self.started = true;
        }
    }

    /// Seals the next piece of plaintext, appending whatever is ready to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.start(out);
        while !data.is_empty() {
            // A full chunk is sealed only once more data follows: the last one is marked.
            if self.pending.len() == CHUNK {
                let sealed = self
                    .encryptor
                    .encrypt_next(Payload {
                        msg: &self.pending,
                        aad: &self.header,
                    })
                    .map_err(|_| CryptoError::TooLarge {
                        label: self.label.clone(),
                    })?;
                out.extend_from_slice(&sealed);
                self.pending.clear();
            }
            let take = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals the last chunk (possibly empty), appending it to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.start(out);
        let Sealer {
            label,
            header,
            encryptor,
            pending,
            ..
        } = self;
        let sealed = encryptor
            .encrypt_last(Payload {
                msg: &pending,
                aad: &header,
            })
            .map_err(|_| CryptoError::TooLarge { label })?;
        out.extend_from_slice(&sealed);
        Ok(())
    }
}

/// Opens a sealed file as its bytes arrive: [`Opener::update`] with each piece, then
/// [`Opener::finish`]. Plaintext is released chunk by chunk, each authenticated; only
/// [`Opener::finish`] proves the file was not truncated, so a caller acts on the plaintext only
/// after it succeeds (or verifies the whole file first).
pub struct Opener {
    label: String,
    key: DataKey,
    header: Vec<u8>,
    decryptor: Option<DecryptorBE32<ChaCha20Poly1305>>,
    pending: Vec<u8>,
    chunk: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("label", &self.label)
            .field("chunk", &self.chunk)
            .finish()
    }
}

impl Opener {
    /// An opener of the file at `label` under `key`.
    pub fn new(key: &DataKey, label: &str) -> Self {
        Opener {
            label: label.to_string(),
            key: key.clone(),
            header: Vec::with_capacity(HEADER),
            decryptor: None,
            pending: Vec::with_capacity(CHUNK + TAG),
            chunk: 0,
        }
    }

    fn rejected(&self, at: String) -> CryptoError {
        CryptoError::Rejected {
            label: self.label.clone(),
            at,
        }
    }

    /// Reads the header once it is complete.
    fn read_header(&mut self) -> Result<(), CryptoError> {
        match format::check_header(&self.header) {
            HeaderCheck::NotEncrypted => Err(CryptoError::NotEncrypted {
                label: self.label.clone(),
            }),
            HeaderCheck::Unsupported(version, log2) => Err(CryptoError::Unsupported {
                label: self.label.clone(),
                what: format!("version {version} with 2^{log2}-byte chunks"),
            }),
            HeaderCheck::Salt(salt) => {
                let cipher = file_cipher(&self.key, &salt, &self.label);
                self.decryptor = Some(DecryptorBE32::from_aead(cipher, (&NONCE_PREFIX).into()));
                Ok(())
            }
        }
    }

    /// Opens the next piece of the sealed file, appending authenticated plaintext to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.decryptor.is_none() {
            let take = (HEADER - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() < HEADER {
                if !format::MAGIC.starts_with(&self.header[..self.header.len().min(8)]) {
                    return Err(CryptoError::NotEncrypted {
                        label: self.label.clone(),
                    });
                }
                return Ok(());
            }
            self.read_header()?;
        }
        while !data.is_empty() {
            // A full sealed chunk is opened only once more data follows: it is not the last.
            if self.pending.len() == CHUNK + TAG {
                self.open_next(out)?;
            }
            let take = (CHUNK + TAG - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// The error for a chunk that does not authenticate (`at` names it).
    fn refused(
        &self,
        at: String,
    ) -> impl FnOnce(chacha20poly1305::aead::Error) -> CryptoError + use<> {
        let label = self.label.clone();
        move |_| CryptoError::Rejected { label, at }
    }

    fn open_next(&mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let refused = self.refused(format!("chunk {}", self.chunk));
        let Some(decryptor) = self.decryptor.as_mut() else {
            return Err(self.rejected("header".into()));
        };
        let payload = Payload {
            msg: &self.pending,
            aad: &self.header,
        };
        out.extend_from_slice(&decryptor.decrypt_next(payload).map_err(refused)?);
        self.pending.clear();
        self.chunk += 1;
        Ok(())
    }

    /// Opens the last chunk, appending its plaintext to `out`; fails if the file ended early.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.decryptor.is_none() {
            return Err(CryptoError::NotEncrypted {
                label: self.label.clone(),
            });
        }
        if self.pending.len() < TAG {
            return Err(self.rejected("end".into()));
        }
        let refused = self.refused(format!("chunk {} (the last)", self.chunk));
        let Some(decryptor) = self.decryptor.take() else {
            return Err(self.rejected("header".into()));
        };
        let payload = Payload {
            msg: &self.pending,
            aad: &self.header,
        };
        out.extend_from_slice(&decryptor.decrypt_last(payload).map_err(refused)?);
        Ok(())
    }
}

/// Seals a whole file at once (see [`Sealer`]).
pub fn seal(
    key: &DataKey,
    salt: [u8; SALT],
    label: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(format::sealed_len(plaintext.len() as u64) as usize);
    let mut sealer = Sealer::new(key, salt, label);
    sealer.update(plaintext, &mut out)?;
    sealer.finish(&mut out)?;
    Ok(out)
}

/// Opens a whole sealed file at once (see [`Opener`]).
pub fn open(key: &DataKey, label: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(sealed.len());
    let mut opener = Opener::new(key, label);
    opener.update(sealed, &mut out)?;
    opener.finish(&mut out)?;
    Ok(out)
}

/// An [`std::io::Write`] that seals what is written to it into `inner` (e.g. the archive
/// writer's sink): the stream form of [`Sealer`]. [`SealingWriter::finish`] seals the last
/// chunk and gives `inner` back; dropping it without `finish` leaves an incomplete file that
/// does not open.
pub struct SealingWriter<W: std::io::Write> {
    sealer: Sealer,
    inner: W,
    out: Vec<u8>,
}

impl<W: std::io::Write> std::fmt::Debug for SealingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingWriter")
            .field("sealer", &self.sealer)
            .finish()
    }
}

impl<W: std::io::Write> SealingWriter<W> {
    /// Seals into `inner` under `key`, for the file at `label`, with a fresh random `salt`.
    pub fn new(inner: W, key: &DataKey, salt: [u8; SALT], label: &str) -> Self {
        SealingWriter {
            sealer: Sealer::new(key, salt, label),
            inner,
            out: Vec::with_capacity(CHUNK + TAG + HEADER),
        }
    }

    /// Seals the last chunk, flushes, and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.sealer
            .finish(&mut self.out)
            .map_err(std::io::Error::other)?;
        self.inner.write_all(&self.out)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: std::io::Write> std::io::Write for SealingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sealer
            .update(buf, &mut self.out)
            .map_err(std::io::Error::other)?;
        if !self.out.is_empty() {
            self.inner.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
