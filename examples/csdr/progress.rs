//! A progress bar on stderr fed by the engine's [`ProgressEvent`]s.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use csdr::core::engine::{ProgressEvent, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, hidden when stderr is not a terminal or logs are written there (`-v`).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar drawn on stderr when `show` and stderr is a terminal.
    pub fn new(show: bool) -> Self {
        let target = if show && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix} {pos} items {wide_msg}")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// The callback to give the engine.
    pub fn sink(&self) -> ProgressSink {
        let bar = self.bar.clone();
        Arc::new(move |event: &ProgressEvent| match event {
            ProgressEvent::Started { job, name } => bar.set_prefix(format!("{job} {name}")),
            ProgressEvent::Resource { resource } => bar.set_message(resource.clone()),
            ProgressEvent::Items { done, total, .. } => {
                if let Some(total) = total
                    && bar.length() != Some(*total)
                {
                    bar.set_length(*total);
                    if let Ok(style) = ProgressStyle::with_template(
                        "{spinner} {prefix} [{bar:30}] {pos}/{len} {wide_msg}",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                }
                bar.set_position(*done);
            }
            ProgressEvent::Issue { .. } => {}
            ProgressEvent::Finished { phase } => bar.set_message(phase.to_string()),
        })
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
