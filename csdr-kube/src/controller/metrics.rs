//! `/metrics` (Prometheus text format), `/healthz` and `/readyz` of `csdr server`: a minimal
//! HTTP/1.1 responder on a TCP port (one request per connection), enough for Prometheus
//! scrapes and kubelet probes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use csdr_core::model::JobPhase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Finished jobs by kind and phase, and their durations.
#[derive(Debug, Default)]
pub struct Metrics {
    jobs: Mutex<BTreeMap<(String, String), (u64, f64)>>,
    ready: AtomicBool,
}

impl Metrics {
    /// Counts a finished job.
    pub fn job_finished(&self, kind: &str, phase: JobPhase, duration: Duration) {
        if let Ok(mut jobs) = self.jobs.lock() {
            let entry = jobs
                .entry((kind.to_string(), phase.to_string()))
                .or_default();
            entry.0 += 1;
            entry.1 += duration.as_secs_f64();
        }
    }

    /// Whether the controllers run (this instance leads): `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP csdr_jobs_total Finished jobs by kind and phase.\n");
        out.push_str("# TYPE csdr_jobs_total counter\n");
        let jobs = self.jobs.lock().map(|j| j.clone()).unwrap_or_default();
        for ((kind, phase), (count, _)) in &jobs {
            let _ = writeln!(
                out,
                "csdr_jobs_total{{kind=\"{kind}\",phase=\"{phase}\"}} {count}"
            );
        }
        out.push_str("# HELP csdr_job_duration_seconds_sum Time spent in finished jobs.\n");
        out.push_str("# TYPE csdr_job_duration_seconds_sum counter\n");
        for ((kind, phase), (_, seconds)) in &jobs {
            let _ = writeln!(
                out,
                "csdr_job_duration_seconds_sum{{kind=\"{kind}\",phase=\"{phase}\"}} {seconds:.3}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP csdr_leader Whether this instance leads.\n# TYPE csdr_leader gauge\ncsdr_leader {}",
            u8::from(self.is_ready())
        );
        out
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until dropped.
    pub async fn serve(self: std::sync::Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                // Read the request head (up to 8 KiB).
                let mut buf = Vec::with_capacity(1024);
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&buf);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (code, body) = match path {
                    "/metrics" => ("200 OK", metrics.render()),
                    "/healthz" => ("200 OK", "ok\n".to_string()),
                    "/readyz" if metrics.is_ready() => ("200 OK", "ok\n".to_string()),
                    "/readyz" => ("503 Service Unavailable", "not leading\n".to_string()),
                    _ => ("404 Not Found", "not found\n".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {code}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_counted_by_kind_and_phase() {
        let m = Metrics::default();
        m.job_finished("backup", JobPhase::Completed, Duration::from_millis(1500));
        m.job_finished("backup", JobPhase::Completed, Duration::from_millis(500));
        m.job_finished("restore", JobPhase::Failed, Duration::ZERO);
        let text = m.render();
        assert!(
            text.contains("csdr_jobs_total{kind=\"backup\",phase=\"Completed\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "csdr_job_duration_seconds_sum{kind=\"backup\",phase=\"Completed\"} 2.000\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("csdr_jobs_total{kind=\"restore\",phase=\"Failed\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("csdr_leader 0"));
    }
}
