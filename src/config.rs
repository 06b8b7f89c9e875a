//! `greencloud.toml` in, a checked [`Config`] out; every error names file, line and column.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::api::{is_object_id, ARCH_AMD64};

/// The name looked for in the current folder and its parents.
pub const CONFIG_FILE_NAME: &str = "greencloud.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no {CONFIG_FILE_NAME} in {} or any folder above it (pass --config PATH)", start.display())]
    NotFound { start: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// A loaded and checked config. Every path in it is absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The config file itself.
    pub file: PathBuf,
    /// The folder the config's relative paths start from.
    pub dir: PathBuf,
    pub api: ApiConfig,
    pub watch: WatchConfig,
    pub functions: Vec<Function>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub url: String,
    pub api_key_env: String,
    pub token_env: String,
    pub auth_scheme: String,
    pub request_timeout: Duration,
    pub build_timeout: Duration,
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    pub debounce: Duration,
    pub max_wait: Duration,
    pub ignore_files: Vec<String>,
    pub ignore: Vec<String>,
    pub state_dir: PathBuf,
    pub follow_external_symlinks: bool,
    pub max_zip_bytes: u64,
    pub max_files: usize,
    pub poll: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    /// The function folder, canonical.
    pub path: PathBuf,
    pub id: String,
    pub arch: String,
    pub ignore: Vec<String>,
}

impl Config {
    /// Finds the config: `explicit` if given, else the first `greencloud.toml` in `start` or above.
    pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, ConfigError> {
        if let Some(path) = explicit {
            return Ok(path.to_path_buf());
        }
        start
            .ancestors()
            .map(|dir| dir.join(CONFIG_FILE_NAME))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| ConfigError::NotFound {
                start: start.to_path_buf(),
            })
    }

    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        Config::parse(&file, &text)
    }

    /// Parses and checks config text; `file` names it in errors and anchors relative paths.
    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid {
                file: file.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            let message = match e.span().and_then(|s| source_line(text, s.start)) {
                Some(line) => format!("{message}, in `{line}`"),
                None => message,
            };
            at(e.span(), message)
        })?;
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));

        let api = &raw.api;
        let url = api.url.get_ref().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(at(
                Some(api.url.span()),
                format!("[api] url must start with http:// or https://, found {url:?}"),
            ));
        }
        let api_config = ApiConfig {
            url,
            api_key_env: api.api_key_env.clone(),
            token_env: api.token_env.clone(),
            auth_scheme: api.auth_scheme.clone(),
            request_timeout: Duration::from_secs(in_range(
                &api.request_timeout_secs,
                "request_timeout_secs",
                1..=3600,
                &at,
            )?),
            build_timeout: Duration::from_secs(in_range(
                &api.build_timeout_secs,
                "build_timeout_secs",
                1..=7 * 24 * 3600,
                &at,
            )?),
            poll_interval: Duration::from_millis(in_range(
                &api.poll_interval_ms,
                "poll_interval_ms",
                10..=600_000,
                &at,
            )?),
        };

        let w = &raw.watch;
        let debounce_ms = in_range(&w.debounce_ms, "debounce_ms", 0..=600_000, &at)?;
        let max_wait_ms = in_range(&w.max_wait_ms, "max_wait_ms", 1..=3_600_000, &at)?;
        if max_wait_ms < debounce_ms {
            return Err(at(
                Some(w.max_wait_ms.span()),
                format!(
                    "max_wait_ms ({max_wait_ms}) must not be less than debounce_ms ({debounce_ms})"
                ),
            ));
        }
        let watch = WatchConfig {
            debounce: Duration::from_millis(debounce_ms),
            max_wait: Duration::from_millis(max_wait_ms),
            ignore_files: w.ignore_files.clone(),
            ignore: w.ignore.clone(),
            state_dir: dir.join(&w.state_dir),
            follow_external_symlinks: w.follow_external_symlinks,
            max_zip_bytes: in_range(&w.max_zip_mb, "max_zip_mb", 1..=100_000, &at)? << 20,
            max_files: in_range(&w.max_files, "max_files", 1..=10_000_000, &at)? as usize,
            poll: w.poll,
        };

        let mut functions: Vec<Function> = Vec::with_capacity(raw.functions.len());
        let mut names: HashMap<&str, ()> = HashMap::new();
        let mut ids: HashMap<String, &str> = HashMap::new();
        for f in &raw.functions {
            let name = f.name.get_ref();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(at(
                    Some(f.name.span()),
                    format!("function name {name:?} must be letters, digits, '-', '_' or '.'"),
                ));
            }
            if names.insert(name, ()).is_some() {
                return Err(at(
                    Some(f.name.span()),
                    format!("function name {name:?} is used twice; names must be unique"),
                ));
            }
            let id = f.id.get_ref();
            if !is_object_id(id) {
                return Err(at(
                    Some(f.id.span()),
                    if id == crate::init::ID_PLACEHOLDER {
                        format!("function {name:?}: fill in its id, the GreenCloud function id (24 hex digits), in place of the placeholder")
                    } else {
                        format!("function {name:?}: id {id:?} must be 24 hex digits (the GreenCloud function id)")
                    },
                ));
            }
            if let Some(other) = ids.insert(id.to_ascii_lowercase(), name) {
                return Err(at(
                    Some(f.id.span()),
                    format!("function {name:?}: id {id} is already used by function {other:?}"),
                ));
            }
            let arch = f.arch.get_ref();
            if arch != ARCH_AMD64 {
                return Err(at(
                    Some(f.arch.span()),
                    format!("function {name:?}: arch {arch:?} is not supported; the API accepts \"amd64\" only"),
                ));
            }
            let folder = dir.join(f.path.get_ref());
            let path = match std::fs::canonicalize(&folder) {
                Ok(p) if p.is_dir() => p,
                Ok(_) => {
                    return Err(at(
                        Some(f.path.span()),
                        format!("function {name:?}: {} is not a folder", folder.display()),
                    ))
                }
                Err(e) => {
                    return Err(at(
                        Some(f.path.span()),
                        format!(
                            "function {name:?}: folder {} cannot be used: {e}",
                            folder.display()
                        ),
                    ))
                }
            };
            if let Some(other) = functions
                .iter()
                .find(|o| path.starts_with(&o.path) || o.path.starts_with(&path))
            {
                return Err(at(
                    Some(f.path.span()),
                    format!(
                        "function {name:?}: folder {} overlaps the folder of function {:?} ({}); function folders must not nest",
                        path.display(),
                        other.name,
                        other.path.display()
                    ),
                ));
            }
            functions.push(Function {
                name: name.clone(),
                path,
                id: id.to_ascii_lowercase(),
                arch: arch.clone(),
                ignore: f.ignore.clone(),
            });
        }
        if functions.is_empty() {
            return Err(at(
                None,
                "no [[functions]] defined; add at least one with name, path and id".to_string(),
            ));
        }

        Ok(Config {
            file: file.to_path_buf(),
            dir,
            api: api_config,
            watch,
            functions,
        })
    }

    /// The functions named, in config order; all of them when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<Function>, String> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.functions.iter().any(|f| &f.name == *n))
        {
            let known: Vec<&str> = self.functions.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "no function named {unknown:?} in {} (known: {})",
                self.file.display(),
                known.join(", ")
            ));
        }
        Ok(self
            .functions
            .iter()
            .filter(|f| names.is_empty() || names.contains(&f.name))
            .cloned()
            .collect())
    }

    pub fn function(&self, name: &str) -> Result<&Function, String> {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.functions.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "no function named {name:?} in {} (known: {})",
                    self.file.display(),
                    known.join(", ")
                )
            })
    }
}

fn in_range<F>(
    value: &Spanned<u64>,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    at: &F,
) -> Result<u64, ConfigError>
where
    F: Fn(Option<Range<usize>>, String) -> ConfigError,
{
    let v = *value.get_ref();
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(at(
            Some(value.span()),
            format!(
                "{key} = {v} is out of range; expected {} to {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// The trimmed line of text around a byte offset, if it holds anything.
fn source_line(text: &str, offset: usize) -> Option<&str> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    Some(text[start..end].trim()).filter(|line| !line.is_empty())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    watch: RawWatch,
    #[serde(default)]
    functions: Vec<RawFunction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawApi {
    url: Spanned<String>,
    api_key_env: String,
    token_env: String,
    auth_scheme: String,
    request_timeout_secs: Spanned<u64>,
    build_timeout_secs: Spanned<u64>,
    poll_interval_ms: Spanned<u64>,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            url: Spanned::new(0..0, "https://api.greencloud.dev/v1".to_string()),
            api_key_env: "GREENCLOUD_API_KEY".to_string(),
            token_env: "GREENCLOUD_TOKEN".to_string(),
            auth_scheme: "Bearer".to_string(),
            request_timeout_secs: Spanned::new(0..0, 30),
            build_timeout_secs: Spanned::new(0..0, 1800),
            poll_interval_ms: Spanned::new(0..0, 1000),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWatch {
    debounce_ms: Spanned<u64>,
    max_wait_ms: Spanned<u64>,
    ignore_files: Vec<String>,
    ignore: Vec<String>,
    state_dir: String,
    follow_external_symlinks: bool,
    max_zip_mb: Spanned<u64>,
    max_files: Spanned<u64>,
    poll: bool,
}

impl Default for RawWatch {
    fn default() -> Self {
        RawWatch {
            debounce_ms: Spanned::new(0..0, 300),
            max_wait_ms: Spanned::new(0..0, 5000),
            ignore_files: vec![".gitignore".to_string(), ".gcignore".to_string()],
            ignore: Vec::new(),
            state_dir: ".gcwatch".to_string(),
            follow_external_symlinks: false,
            max_zip_mb: Spanned::new(0..0, 100),
            max_files: Spanned::new(0..0, 20_000),
            poll: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: Spanned<String>,
    path: Spanned<String>,
    id: Spanned<String>,
    #[serde(default = "default_arch")]
    arch: Spanned<String>,
    #[serde(default)]
    ignore: Vec<String>,
}

fn default_arch() -> Spanned<String> {
    Spanned::new(0..0, ARCH_AMD64.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "66787c5e84809f8a29ddc2f7";
    const ID2: &str = "66787c5e84809f8a29ddc2f8";

    fn project(folders: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in folders {
            std::fs::create_dir_all(dir.path().join(f)).unwrap();
        }
        dir
    }

    fn parse_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::parse(&dir.join(CONFIG_FILE_NAME), text)
    }

    #[test]
    fn defaults_fill_every_key() {
        let dir = project(&["fn/a"]);
        let text = format!("[[functions]]\nname = \"a\"\npath = \"fn/a\"\nid = \"{ID}\"\n");
        let config = parse_in(dir.path(), &text).unwrap();
        assert_eq!(config.api.url, "https://api.greencloud.dev/v1");
        assert_eq!(config.api.auth_scheme, "Bearer");
        assert_eq!(config.api.poll_interval, Duration::from_millis(1000));
        assert_eq!(config.watch.debounce, Duration::from_millis(300));
        assert_eq!(config.watch.max_wait, Duration::from_millis(5000));
        assert_eq!(config.watch.ignore_files, [".gitignore", ".gcignore"]);
        assert_eq!(config.watch.state_dir, dir.path().join(".gcwatch"));
        assert_eq!(config.watch.max_zip_bytes, 100 << 20);
        assert_eq!(config.watch.max_files, 20_000);
        assert_eq!(config.functions[0].arch, "amd64");
        assert_eq!(
            config.functions[0].path,
            std::fs::canonicalize(dir.path().join("fn/a")).unwrap()
        );
    }

    /// Each bad config must fail at the given line with a message containing the given words.
    #[test]
    fn bad_configs_name_line_and_cause() {
        let dir = project(&["fn/a", "fn/b", "fn/a/inner"]);
        std::fs::write(dir.path().join("file.txt"), "x").unwrap();
        let f = |name: &str, path: &str, id: &str| {
            format!("[[functions]]\nname = \"{name}\"\npath = \"{path}\"\nid = \"{id}\"\n")
        };
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("[api]\nurll = \"x\"\n{}", f("a", "fn/a", ID)),
                2,
                "unknown field `urll`",
            ),
            (
                format!("[watch]\ndebounce_ms = \"fast\"\n{}", f("a", "fn/a", ID)),
                2,
                "debounce_ms",
            ),
            ("[[functions]\nname = 1".to_string(), 1, ""),
            (f("a", "fn/a", "123"), 4, "24 hex digits"),
            (f("a", "fn/missing", ID), 3, "cannot be used"),
            (f("a", "file.txt", ID), 3, "not a folder"),
            (
                format!("{}{}", f("a", "fn/a", ID), f("a", "fn/b", ID2)),
                6,
                "used twice",
            ),
            (
                format!("{}{}", f("a", "fn/a", ID), f("b", "fn/b", ID)),
                8,
                "already used",
            ),
            (
                format!("{}{}", f("a", "fn/a", ID), f("b", "fn/a/inner", ID2)),
                7,
                "must not nest",
            ),
            (
                format!("{}arch = \"arm64\"\n", f("a", "fn/a", ID)),
                5,
                "not supported",
            ),
            (
                format!("[watch]\nmax_files = 0\n{}", f("a", "fn/a", ID)),
                2,
                "out of range",
            ),
            (
                format!(
                    "[watch]\ndebounce_ms = 900\nmax_wait_ms = 100\n{}",
                    f("a", "fn/a", ID)
                ),
                3,
                "must not be less",
            ),
            (
                format!("[api]\nurl = \"ftp://x\"\n{}", f("a", "fn/a", ID)),
                2,
                "http://",
            ),
            (
                format!("{}color = \"red\"\n", f("a", "fn/a", ID)),
                5,
                "unknown field `color`",
            ),
            (String::new(), 1, "no [[functions]]"),
        ];
        for (text, want_line, want_words) in cases {
            match parse_in(dir.path(), &text) {
                Err(ConfigError::Invalid {
                    line,
                    message,
                    file,
                    ..
                }) => {
                    assert_eq!(line, want_line, "{text}\n→ {message}");
                    assert!(message.contains(want_words), "{text}\n→ {message}");
                    assert!(file.ends_with(CONFIG_FILE_NAME));
                }
                other => panic!("{text}\n→ expected an Invalid error, got {other:?}"),
            }
        }
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        for (text, offset, want) in [
            ("abc", 0, (1, 1)),
            ("abc", 2, (1, 3)),
            ("a\nbc", 2, (2, 1)),
            ("a\nbc", 3, (2, 2)),
            ("é\nx", 1, (1, 1)),
        ] {
            let offset = if text.is_char_boundary(offset) {
                offset
            } else {
                0
            };
            assert_eq!(line_column(text, offset), want, "{text:?}@{offset}");
        }
    }

    #[test]
    fn locate_walks_up_to_the_first_config() {
        let dir = project(&["a/b/c"]);
        std::fs::write(dir.path().join("a").join(CONFIG_FILE_NAME), "").unwrap();
        let found = Config::locate(None, &dir.path().join("a/b/c")).unwrap();
        assert_eq!(found, dir.path().join("a").join(CONFIG_FILE_NAME));
        assert!(matches!(
            Config::locate(None, dir.path()),
            Err(ConfigError::NotFound { .. })
        ));
    }
}
