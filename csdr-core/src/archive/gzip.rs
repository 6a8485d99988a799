//! Gzip in fixed-size members, compressed on a small pool of worker threads.
//!
//! The input is cut into blocks of `block_size` bytes (the last one may be shorter); each block
//! becomes one complete gzip member (header with mtime 0, deflate data, CRC-32, length). A
//! concatenation of members is one valid gzip file (RFC 1952 §2.2): `gzip -d`, `tar xzf`, Go's
//! `gzip.Reader` (which Velero uses) and `flate2::read::MultiGzDecoder` read it whole.
//!
//! Block boundaries depend only on the input bytes and `block_size`, and each member depends
//! only on its block and the level, so the output is byte-identical whatever the number of
//! threads or the scheduling. Block `i` goes to worker `i % threads` and results are taken back
//! in block order, so no reordering buffer is needed; at most `2 × threads` blocks are in
//! flight, which bounds memory to a few blocks whatever the input length.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use flate2::{Compression, GzBuilder};

/// Compresses one block into one gzip member.
fn compress_member(block: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let out = Vec::with_capacity(block.len() / 3 + 64);
    let mut encoder = GzBuilder::new().mtime(0).write(out, level);
    encoder.write_all(block)?;
    encoder.finish()
}

struct Worker {
    jobs: Option<SyncSender<Vec<u8>>>,
    results: Receiver<io::Result<Vec<u8>>>,
    handle: Option<JoinHandle<()>>,
}

/// The worker pool: one job and one result channel per worker, blocks assigned round-robin.
struct Pool {
    workers: Vec<Worker>,
    next_job: usize,
    next_result: usize,
    in_flight: usize,
}

impl Pool {
    fn new(threads: usize, level: Compression) -> io::Result<Self> {
        let mut workers = Vec::with_capacity(threads);
        for index in 0..threads {
            let (job_tx, job_rx) = mpsc::sync_channel::<Vec<u8>>(2);
            let (result_tx, result_rx) = mpsc::channel();
            let handle = std::thread::Builder::new()
                .name(format!("csdr-gzip-{index}"))
                .spawn(move || {
                    for block in job_rx {
                        if result_tx.send(compress_member(&block, level)).is_err() {
                            break;
                        }
                    }
                })?;
            workers.push(Worker {
                jobs: Some(job_tx),
                results: result_rx,
                handle: Some(handle),
            });
        }
        Ok(Pool {
            workers,
            next_job: 0,
            next_result: 0,
            in_flight: 0,
        })
    }

    fn max_in_flight(&self) -> usize {
        2 * self.workers.len()
    }

    fn submit(&mut self, block: Vec<u8>) -> io::Result<()> {
        let worker = &self.workers[self.next_job];
        let sent = worker.jobs.as_ref().map(|jobs| jobs.send(block));
        if !matches!(sent, Some(Ok(()))) {
            return Err(worker_died());
        }
        self.next_job = (self.next_job + 1) % self.workers.len();
        self.in_flight += 1;
        Ok(())
    }

    /// The next member in block order: waits for it if `block`, else only if it is ready.
    fn take(&mut self, block: bool) -> io::Result<Option<Vec<u8>>> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        let results = &self.workers[self.next_result].results;
        let member = if block {
            results.recv().map_err(|_| worker_died())?
        } else {
            match results.try_recv() {
                Ok(member) => member,
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => return Err(worker_died()),
            }
        };
        self.next_result = (self.next_result + 1) % self.workers.len();
        self.in_flight -= 1;
        member.map(Some)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.jobs = None;
        }
        for worker in &mut self.workers {
            if let Some(handle) = worker.handle.take() {
                // A worker that panicked has already reported through its closed channel.
                let _ = handle.join();
            }
        }
    }
}

fn worker_died() -> io::Error {
    io::Error::other("a gzip compression worker stopped unexpectedly")
}

/// A `Write` that gzips its input in fixed-size members, on `threads` workers when more than one.
pub(crate) struct MemberGzWriter<W: Write> {
    out: W,
    block: Vec<u8>,
    block_size: usize,
    level: Compression,
    pool: Option<Pool>,
}

impl<W: Write> MemberGzWriter<W> {
    /// A writer; `threads <= 1` compresses on the caller's thread (same output bytes).
    pub(crate) fn new(
        out: W,
        level: Compression,
        threads: usize,
        block_size: usize,
    ) -> io::Result<Self> {
        let block_size = block_size.max(1);
        let pool = if threads > 1 {
            Some(Pool::new(threads, level)?)
        } else {
            None
        };
        Ok(MemberGzWriter {
            out,
            block: Vec::with_capacity(block_size),
            block_size,
            level,
            pool,
        })
    }

    fn emit_block(&mut self) -> io::Result<()> {
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(self.block_size));
        match &mut self.pool {
            None => {
                let member = compress_member(&block, self.level)?;
                self.out.write_all(&member)
            }
            Some(pool) => {
                while pool.in_flight >= pool.max_in_flight() {
                    if let Some(member) = pool.take(true)? {
                        self.out.write_all(&member)?;
                    }
                }
                pool.submit(block)?;
                // Write whatever is already done so the output keeps flowing.
                while let Some(member) = pool.take(false)? {
                    self.out.write_all(&member)?;
                }
                Ok(())
            }
        }
    }

    /// Compresses what is left, writes every member in order and returns the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() {
            self.emit_block()?;
        }
        if let Some(pool) = &mut self.pool {
            while let Some(member) = pool.take(true)? {
                self.out.write_all(&member)?;
            }
        }
        self.pool = None;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for MemberGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.block_size - self.block.len();
        let taken = room.min(buf.len());
        self.block.extend_from_slice(&buf[..taken]);
        if self.block.len() == self.block_size {
            self.emit_block()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Members are cut only at block boundaries so the output stays deterministic; the
        // data is written out by `finish`.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::MultiGzDecoder;

    use super::*;

    fn compress(data: &[u8], threads: usize, block_size: usize) -> Vec<u8> {
        let mut writer =
            MemberGzWriter::new(Vec::new(), Compression::new(6), threads, block_size).unwrap();
        // Uneven write sizes, to cross block boundaries mid-write.
        for chunk in data.chunks(777) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn members_are_one_gzip_stream_and_independent_of_threads() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect();
        let one = compress(&data, 1, 4096);
        for threads in [2, 3] {
            assert_eq!(compress(&data, threads, 4096), one);
        }
        let mut back = Vec::new();
        MultiGzDecoder::new(&one[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // More than one member was written.
        assert!(one.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count() > 2);
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert!(compress(&[], 2, 4096).is_empty());
    }
}
