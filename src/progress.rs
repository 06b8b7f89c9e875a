//! An upload's byte counts in, a progress bar on a terminal's stderr out.
//!
//! Only here is indicatif used. The bar shows only when both stdout and stderr are
//! terminals, lines are human, `-q` is off and the zip is large enough for an upload to
//! take noticeable time; everywhere else (a pipe, a file, the journal) nothing is drawn.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::SentCallback;
use crate::events::{Emitter, LogFormat};

/// Zips smaller than this upload too fast for a bar to help.
pub const MIN_BYTES: u64 = 1 << 20;

/// One upload's bar; cleared from the screen when dropped.
pub struct UploadBar {
    bar: ProgressBar,
}

impl UploadBar {
    /// A bar for uploading `total` bytes of `function`, if one should be drawn at all.
    pub fn start(emitter: &Emitter, function: &str, total: u64) -> Option<UploadBar> {
        let wanted = total >= MIN_BYTES
            && emitter.format() == LogFormat::Human
            && !emitter.quiet()
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal();
        if !wanted {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:<14} uploading [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(function.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(UploadBar { bar })
    }

    /// What the client calls as bytes go out.
    pub fn callback(&self) -> SentCallback {
        let bar = self.bar.clone();
        Arc::new(move |sent| bar.set_position(sent))
    }
}

impl Drop for UploadBar {
    fn drop(&mut self) {
        // The submitted (or error) line that follows says how it went; the bar just goes.
        self.bar.finish_and_clear();
    }
}
