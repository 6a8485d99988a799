//! A job's log, as stored in the vault (`<name>-logs.gz`, `restore-<name>-logs.gz`): text
//! lines in logfmt like Velero's (`time="…" level=info msg="…"`), compressed as they are
//! written so that a backup of many objects keeps only the compressed log in memory.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::ports::clock::Clock;

/// The level of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warning,
    Error,
}

/// A duration for a log line or a summary: seconds with milliseconds (`12.345s`).
pub(crate) fn seconds(d: jiff::SignedDuration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// A job's log being written.
pub(crate) struct JobLog {
    clock: Arc<dyn Clock>,
    gz: GzEncoder<Vec<u8>>,
    /// The line being written: formatted whole, then compressed in one write (formatting
    /// straight into the encoder made a deflate call per piece of the line).
    line: String,
}

impl JobLog {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        JobLog {
            clock,
            gz: GzEncoder::new(Vec::new(), Compression::default()),
            line: String::new(),
        }
    }

    /// Appends one line, dated by the engine's clock.
    pub(crate) fn line(&mut self, level: Level, message: impl AsRef<str>) {
        let level = match level {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        };
        self.line.clear();
        // Writing into a String or a Vec cannot fail.
        let _ = writeln!(
            self.line,
            "time=\"{}\" level={level} msg={:?}",
            self.clock.now(),
            message.as_ref()
        );
        let _ = self.gz.write_all(self.line.as_bytes());
    }

    pub(crate) fn info(&mut self, message: impl AsRef<str>) {
        self.line(Level::Info, message);
    }

    pub(crate) fn warning(&mut self, message: impl AsRef<str>) {
        self.line(Level::Warning, message);
    }

    pub(crate) fn error(&mut self, message: impl AsRef<str>) {
        self.line(Level::Error, message);
    }

    /// The gzip bytes of the whole log.
    pub(crate) fn finish(self) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        self.gz.finish().unwrap_or_default()
    }
}
