//! Event lines: one [`Event`] in, one line on stdout out, human or JSON.
//!
//! Every line goes through one [`Emitter`] so that concurrent tasks never
//! interleave half lines. Nothing here ever sees a token or an API key.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Local, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::BuildStatus;

/// How event lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Severity of an event line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Everything gcwatch reports, with the fields the README's event table lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Listening {
        url: String,
    },
    Ready {
        functions: usize,
        files: usize,
    },
    Change {
        function: String,
        paths: usize,
        path: String,
        /// The first few paths of the burst, in the order they changed (`path` is the first).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        named: Vec<String>,
    },
    Unchanged {
        function: String,
        hash: String,
        ms: u64,
    },
    Packaged {
        function: String,
        hash: String,
        files: usize,
        bytes: u64,
        ms: u64,
    },
    SkippedPath {
        function: String,
        path: String,
        reason: String,
    },
    Submitted {
        function: String,
        build_id: String,
        hash: String,
        bytes: u64,
    },
    Queued {
        function: String,
        after: Option<String>,
    },
    Status {
        function: String,
        build_id: String,
        from: Option<BuildStatus>,
        to: BuildStatus,
        elapsed_ms: u64,
        /// On the status that ends a build shipped by this process: the time from the
        /// start of packaging to the end, and the zip's size.
        #[serde(skip_serializing_if = "Option::is_none")]
        total_ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
    },
    BuildLog {
        function: String,
        build_id: String,
        line: String,
    },
    ConfigReloaded {
        functions: usize,
    },
    Error {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        function: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
    },
    Stopped,
}

impl Event {
    /// An `error` event about one function, or about none.
    pub fn error(function: Option<&str>, message: impl Into<String>) -> Event {
        Event::Error {
            message: message.into(),
            function: function.map(str::to_string),
            retry_in_ms: None,
        }
    }

    pub fn level(&self) -> Level {
        match self {
            Event::Error { .. } => Level::Error,
            Event::SkippedPath { .. } => Level::Warn,
            Event::Status { to, .. } if *to == BuildStatus::Failed => Level::Warn,
            _ => Level::Info,
        }
    }

    /// The function an event is about, if any.
    fn function(&self) -> Option<&str> {
        match self {
            Event::Change { function, .. }
            | Event::Unchanged { function, .. }
            | Event::Packaged { function, .. }
            | Event::SkippedPath { function, .. }
            | Event::Submitted { function, .. }
            | Event::Queued { function, .. }
            | Event::Status { function, .. }
            | Event::BuildLog { function, .. } => Some(function),
            Event::Error { function, .. } => function.as_deref(),
            _ => None,
        }
    }

    fn build_id(&self) -> Option<&str> {
        match self {
            Event::Submitted { build_id, .. }
            | Event::Status { build_id, .. }
            | Event::BuildLog { build_id, .. } => Some(build_id),
            _ => None,
        }
    }

    /// The JSON object of one line: `ts`, `level`, `event`, then the fields.
    pub fn to_json(&self, ts: DateTime<Utc>) -> Value {
        let mut obj = Map::new();
        obj.insert(
            "ts".into(),
            Value::String(ts.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        obj.insert("level".into(), serde_json::to_value(self.level()).unwrap());
        if let Ok(Value::Object(fields)) = serde_json::to_value(self) {
            obj.extend(fields);
        }
        Value::Object(obj)
    }

    /// The human line: time, function, build id, then what happened.
    pub fn to_human(&self, ts: DateTime<Local>, color: bool) -> String {
        let time = ts.format("%H:%M:%S%.3f");
        let function = self.function().unwrap_or("");
        let build = self.build_id().map(short_id).unwrap_or_default();
        let what = self.describe(color);
        format!("{time}  {function:<14} {build:<8}  {what}")
            .trim_end()
            .to_string()
    }

    fn describe(&self, color: bool) -> String {
        match self {
            Event::Listening { url } => format!("listening on {url}"),
            Event::Ready { functions, files } => {
                format!("ready: watching {functions} function(s), {files} file(s)")
            }
            Event::Change {
                paths, path, named, ..
            } => {
                let shown: Vec<&str> = if named.is_empty() {
                    vec![path.as_str()]
                } else {
                    named.iter().take(SHOWN_PATHS).map(String::as_str).collect()
                };
                let more = paths.saturating_sub(shown.len());
                let list = shown.join(", ");
                match more {
                    0 => format!("change: {list}"),
                    n => format!("change: {list} and {n} more ({paths} paths)"),
                }
            }
            Event::Unchanged { hash, ms, .. } => {
                format!("unchanged {} ({ms} ms)", short_hash(hash))
            }
            Event::Packaged {
                hash,
                files,
                bytes,
                ms,
                ..
            } => format!(
                "packaged {} ({files} file{}, {}, {ms} ms)",
                short_hash(hash),
                if *files == 1 { "" } else { "s" },
                human_bytes(*bytes)
            ),
            Event::SkippedPath { path, reason, .. } => {
                paint(color, YELLOW, &format!("skipped {path}: {reason}"))
            }
            Event::Submitted {
                build_id, bytes, ..
            } => {
                format!("submitted build {build_id} ({})", human_bytes(*bytes))
            }
            Event::Queued { after, .. } => match after {
                Some(id) => format!("queued after build {id}"),
                None => "queued after the build in progress".to_string(),
            },
            Event::Status {
                from,
                to,
                elapsed_ms,
                total_ms,
                bytes,
                ..
            } => {
                let from_text = match from {
                    Some(from) => paint(color, status_color(from), from.as_str()),
                    None => "—".to_string(),
                };
                let to_text = paint(color, status_color(to), to.as_str());
                let mut line = format!("{from_text} → {to_text} ({})", human_ms(*elapsed_ms));
                // The build's one-line summary, on the line that ends it.
                if let (Some(total), Some(bytes)) = (total_ms, bytes) {
                    let verdict = match to {
                        BuildStatus::Success => "built",
                        BuildStatus::Failed => "failed",
                        _ => "ended",
                    };
                    line.push_str(&format!(
                        " · {} in {}, zip {}",
                        paint(color, BOLD, verdict),
                        human_ms(*total),
                        human_bytes(*bytes)
                    ));
                }
                line
            }
            Event::BuildLog { line, .. } => format!("│ {line}"),
            Event::ConfigReloaded { functions } => {
                format!("config reloaded: {functions} function(s)")
            }
            Event::Error {
                message,
                retry_in_ms,
                ..
            } => {
                let text = match retry_in_ms {
                    Some(ms) => format!("error: {message} (retrying in {})", human_ms(*ms)),
                    None => format!("error: {message}"),
                };
                paint(color, RED, &text)
            }
            Event::Stopped => "stopped".to_string(),
        }
    }
}

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const CYAN: &str = "36";
const BOLD: &str = "1";

/// How many of a burst's paths a human `change` line names.
const SHOWN_PATHS: usize = 3;

fn status_color(status: &BuildStatus) -> &'static str {
    match status {
        BuildStatus::Success => GREEN,
        BuildStatus::Failed => RED,
        BuildStatus::Pending | BuildStatus::Building => CYAN,
        BuildStatus::Other(_) => YELLOW,
    }
}

/// `text` coloured as `status` is in event lines (when `color`); pad before painting.
pub fn paint_status(color: bool, status: &BuildStatus, text: &str) -> String {
    paint(color, status_color(status), text)
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn short_id(id: &str) -> String {
    id.chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Writes event lines to stdout, one whole line at a time.
#[derive(Clone)]
pub struct Emitter {
    format: LogFormat,
    color: bool,
    quiet: bool,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Emitter {
    pub fn stdout(format: LogFormat, color: bool, quiet: bool) -> Emitter {
        Emitter::to_writer(format, color, quiet, Box::new(io::stdout()))
    }

    pub fn to_writer(
        format: LogFormat,
        color: bool,
        quiet: bool,
        out: Box<dyn Write + Send>,
    ) -> Emitter {
        Emitter {
            format,
            color,
            quiet,
            out: Arc::new(Mutex::new(out)),
        }
    }

    pub fn format(&self) -> LogFormat {
        self.format
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    pub fn emit(&self, event: Event) {
        // `-q` keeps warnings, errors and the lines a script waits for.
        if self.quiet
            && event.level() == Level::Info
            && !matches!(
                event,
                Event::Listening { .. } | Event::Ready { .. } | Event::Status { .. }
            )
        {
            return;
        }
        let line = match self.format {
            LogFormat::Json => event.to_json(Utc::now()).to_string(),
            LogFormat::Human => event.to_human(Local::now(), self.color),
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout must not kill the daemon: the line is lost, the work goes on.
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_ts_level_event_first() {
        let ts = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases = [
            (
                Event::Ready {
                    functions: 2,
                    files: 7,
                },
                r#"{"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"ready","functions":2,"files":7}"#,
            ),
            (
                Event::Status {
                    function: "f".into(),
                    build_id: "b".into(),
                    from: None,
                    to: BuildStatus::Pending,
                    elapsed_ms: 5,
                    total_ms: None,
                    bytes: None,
                },
                r#"{"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"status","function":"f","build_id":"b","from":null,"to":"PENDING","elapsed_ms":5}"#,
            ),
            (
                Event::error(Some("f"), "boom"),
                r#"{"ts":"2026-01-02T03:04:05.678Z","level":"error","event":"error","message":"boom","function":"f"}"#,
            ),
            (
                Event::Stopped,
                r#"{"ts":"2026-01-02T03:04:05.678Z","level":"info","event":"stopped"}"#,
            ),
        ];
        for (event, want) in cases {
            assert_eq!(event.to_json(ts).to_string(), want);
        }
    }

    #[test]
    fn human_lines_show_transitions_without_color_codes() {
        let ts = Local::now();
        let line = Event::Status {
            function: "hello".into(),
            build_id: "66787d8f694aa083bbdf9aa9".into(),
            from: Some(BuildStatus::Pending),
            to: BuildStatus::Building,
            elapsed_ms: 1500,
            total_ms: None,
            bytes: None,
        }
        .to_human(ts, false);
        assert!(line.contains("hello"), "{line}");
        assert!(line.contains("bbdf9aa9"), "{line}");
        assert!(line.contains("PENDING → BUILDING (1.5 s)"), "{line}");
        assert!(!line.contains('\x1b'), "{line}");
    }

    #[test]
    fn change_lines_name_the_first_paths_and_count_the_rest() {
        let change = |paths: usize, named: &[&str]| {
            Event::Change {
                function: "f".into(),
                paths,
                path: named[0].to_string(),
                named: named.iter().map(|s| s.to_string()).collect(),
            }
            .to_human(Local::now(), false)
        };
        assert!(change(1, &["a.py"]).ends_with("change: a.py"));
        assert!(change(2, &["a.py", "b.py"]).ends_with("change: a.py, b.py"));
        let many = change(9, &["a", "b", "c", "d", "e"]);
        assert!(
            many.ends_with("change: a, b, c and 6 more (9 paths)"),
            "{many}"
        );
    }

    #[test]
    fn the_final_status_carries_a_summary_and_colours_only_when_asked() {
        let end = Event::Status {
            function: "hello".into(),
            build_id: "66787d8f694aa083bbdf9aa9".into(),
            from: Some(BuildStatus::Building),
            to: BuildStatus::Success,
            elapsed_ms: 2500,
            total_ms: Some(3100),
            bytes: Some(1536),
        };
        let plain = end.to_human(Local::now(), false);
        assert!(
            plain.ends_with("BUILDING → SUCCESS (2.5 s) · built in 3.1 s, zip 1.5 KiB"),
            "{plain}"
        );
        let painted = end.to_human(Local::now(), true);
        assert!(painted.contains("\x1b[32mSUCCESS\x1b[0m"), "{painted:?}");
        assert!(painted.contains("\x1b[36mBUILDING\x1b[0m"), "{painted:?}");
    }

    #[test]
    fn byte_sizes() {
        for (bytes, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (3 << 20, "3.0 MiB"),
        ] {
            assert_eq!(human_bytes(bytes), want);
        }
    }
}
