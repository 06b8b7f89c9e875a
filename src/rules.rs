//! Rules: a function folder and its ignore settings in, a [`Decision`] (shipped or not, and why) per path out.
//!
//! One rule set serves every consumer: the watcher asks whether a changed path
//! matters, the snapshot asks while it walks, and `explain` shows the deciding
//! rule. Pattern syntax and glob semantics come from the `ignore` crate's
//! gitignore matcher; the stacking of files and the precedence between them
//! are done here, the way git does them.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder, Glob};
use ignore::Match;

/// Names that are never shipped, whatever any ignore file or config pattern says.
///
/// `.git` has no trailing slash on purpose: a worktree or submodule has a
/// `.git` *file*, and it is as machine-local as the folder.
pub const DEFAULTS: &[&str] = &[".git", "*.swp", "*.swx", "*~", ".#*", "4913", ".DS_Store"];

/// What [`Rules`] are built from: the `[watch]` keys and a function's `ignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSettings {
    /// Ignore file names read in every folder, in order (a later file wins).
    pub ignore_files: Vec<String>,
    /// Config patterns (`[watch] ignore` then the function's `ignore`),
    /// gitignore syntax, rooted at the function folder.
    pub patterns: Vec<String>,
    /// The state dir, absolute; always ignored when inside the function folder.
    pub state_dir: Option<PathBuf>,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            ignore_files: vec![".gitignore".to_string(), ".gcignore".to_string()],
            patterns: Vec::new(),
            state_dir: None,
        }
    }
}

/// What decided a path's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// One of [`DEFAULTS`].
    Default(&'static str),
    /// The path is (inside) the state dir.
    StateDir,
    /// A config pattern, as written.
    Config(String),
    /// A line of an ignore file; `file` is absolute, `line` counts from 1.
    IgnoreFile {
        file: PathBuf,
        line: usize,
        pattern: String,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Default(pattern) => write!(f, "built-in default `{pattern}`"),
            Rule::StateDir => write!(f, "the state dir"),
            Rule::Config(pattern) => write!(f, "config pattern `{pattern}`"),
            Rule::IgnoreFile {
                file,
                line,
                pattern,
            } => write!(f, "{}:{line}: `{pattern}`", file.display()),
        }
    }
}

/// The verdict on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub shipped: bool,
    /// The deciding rule; `None` when no rule matched (the path is shipped).
    pub rule: Option<Rule>,
    /// The excluded ancestor folder (relative to the function folder) when the
    /// verdict was inherited from it rather than decided on the path itself.
    pub via: Option<PathBuf>,
}

impl Decision {
    const SHIPPED: Decision = Decision {
        shipped: true,
        rule: None,
        via: None,
    };

    fn excluded(rule: Rule) -> Decision {
        Decision::by(false, rule)
    }

    fn by(shipped: bool, rule: Rule) -> Decision {
        Decision {
            shipped,
            rule: Some(rule),
            via: None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.shipped { "shipped" } else { "ignored" })?;
        match (&self.rule, &self.via) {
            (None, _) => f.write_str(" (no rule matched)"),
            (Some(rule), None) => write!(f, " by {rule}"),
            (Some(rule), Some(via)) => {
                write!(f, " because folder {} is ignored by {rule}", via.display())
            }
        }
    }
}

/// Why rules could not be built or consulted.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot resolve function folder {path}")]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read ignore file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid ignore pattern `{pattern}`: {message}")]
    Pattern { pattern: String, message: String },
    #[error("cannot build the ignore matcher of {path}: {message}")]
    Matcher { path: PathBuf, message: String },
    #[error("path {path} is not inside the function folder {root}")]
    Outside { path: PathBuf, root: PathBuf },
}

/// A gitignore matcher with the lines it was built from, so that a matched
/// glob can be traced back to its file, line and text as written.
#[derive(Debug)]
struct Patterns {
    matcher: Gitignore,
    sources: Vec<Source>,
}

/// The lines of one ignore file, or of the config patterns (`file: None`).
#[derive(Debug)]
struct Source {
    file: Option<PathBuf>,
    lines: Vec<Line>,
}

#[derive(Debug)]
struct Line {
    /// As written.
    raw: String,
    /// As given to the matcher.
    given: String,
}

impl Line {
    fn new(raw: &str) -> Line {
        Line {
            raw: raw.to_string(),
            given: escape_braces(raw),
        }
    }
}

/// Where a matched glob came from.
struct Origin<'a> {
    file: Option<&'a Path>,
    line: usize,
    pattern: &'a str,
}

impl From<Origin<'_>> for Rule {
    fn from(origin: Origin<'_>) -> Rule {
        Rule::IgnoreFile {
            file: origin.file.unwrap_or(Path::new("")).to_path_buf(),
            line: origin.line,
            pattern: origin.pattern.to_string(),
        }
    }
}

impl Patterns {
    fn empty(dir: &Path) -> Patterns {
        Patterns {
            matcher: GitignoreBuilder::new(dir)
                .build()
                .expect("an empty gitignore always builds"),
            sources: Vec::new(),
        }
    }

    /// Config patterns, rooted at `dir`; a pattern the matcher refuses is an error.
    fn config(dir: &Path, patterns: &[String]) -> Result<Patterns, RulesError> {
        let mut builder = GitignoreBuilder::new(dir);
        let mut lines = Vec::new();
        for pattern in patterns {
            let line = Line::new(pattern);
            builder
                .add_line(None, &line.given)
                .map_err(|err| RulesError::Pattern {
                    pattern: pattern.clone(),
                    message: glob_message(err),
                })?;
            lines.push(line);
        }
        let source = Source { file: None, lines };
        Patterns::build(dir, builder, vec![source])
    }

    /// Reads each of `names` in `dir`. A missing file, or a folder in its
    /// place, contributes nothing, as with git; a line the matcher refuses is
    /// skipped, as git would never match it either.
    fn load(dir: &Path, names: &[String]) -> Result<Patterns, RulesError> {
        let mut builder = GitignoreBuilder::new(dir);
        let mut sources = Vec::new();
        for name in names {
            let path = dir.join(name);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(err) if is_absent(&err) => continue,
                Err(source) => return Err(RulesError::Read { path, source }),
            };
            let text = String::from_utf8_lossy(&bytes);
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            // Split on '\n' and drop one '\r' before it, as git does.
            let lines: Vec<Line> = text
                .split('\n')
                .map(|l| Line::new(l.strip_suffix('\r').unwrap_or(l)))
                .collect();
            for line in &lines {
                let _ = builder.add_line(Some(path.clone()), &line.given);
            }
            sources.push(Source {
                file: Some(path),
                lines,
            });
        }
        if sources.is_empty() {
            return Ok(Patterns::empty(dir));
        }
        Patterns::build(dir, builder, sources)
    }

    fn build(
        dir: &Path,
        builder: GitignoreBuilder,
        sources: Vec<Source>,
    ) -> Result<Patterns, RulesError> {
        let matcher = builder.build().map_err(|err| RulesError::Matcher {
            path: dir.to_path_buf(),
            message: err.to_string(),
        })?;
        Ok(Patterns { matcher, sources })
    }

    /// `Some((shipped, origin))` when a pattern matches `candidate` (relative
    /// to this matcher's folder).
    fn check(&self, candidate: &Path, is_dir: bool) -> Option<(bool, Origin<'_>)> {
        let (shipped, glob) = match self.matcher.matched(candidate, is_dir) {
            Match::None => return None,
            Match::Ignore(glob) => (false, glob),
            Match::Whitelist(glob) => (true, glob),
        };
        Some((shipped, self.origin(glob)))
    }

    fn origin<'a>(&'a self, glob: &'a Glob) -> Origin<'a> {
        let original = glob.original();
        let lines = self
            .sources
            .iter()
            .find(|source| source.file.as_deref() == glob.from())
            .map(|source| source.lines.as_slice())
            .unwrap_or_default();
        // The glob keeps its line minus trailing unescaped spaces; among
        // identical lines the last one is the one that matched.
        let found = lines.iter().rposition(|line| {
            line.given
                .strip_prefix(original)
                .is_some_and(|rest| rest.bytes().all(|b| b == b' '))
        });
        let (line, pattern) = match found {
            Some(i) => {
                let Line { raw, given } = &lines[i];
                let trimmed = given.len() - original.len();
                (i + 1, &raw[..raw.len() - trimmed])
            }
            None => (0, original),
        };
        Origin {
            file: glob.from(),
            line,
            pattern,
        }
    }
}

/// Makes `{` and `}` literal outside bracket classes: the matcher reads them
/// as alternation, which git's patterns do not have.
fn escape_braces(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                out.extend(&chars[i..(i + 2).min(chars.len())]);
                i += 2;
            }
            '[' => match class_end(&chars, i) {
                Some(end) => {
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            c @ ('{' | '}') => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The index of the `]` closing the class opened at `start`, if any. A `]`
/// first in the class (after an optional `!` or `^`) is a member, not the end.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if matches!(chars.get(i), Some('!' | '^')) {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            ']' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn glob_message(err: ignore::Error) -> String {
    match err {
        ignore::Error::Glob { err, .. } => err,
        other => other.to_string(),
    }
}

fn is_absent(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

/// The rule set of one function folder.
///
/// A path is decided by the first of these that has a say:
///
/// 1. The built-in [`DEFAULTS`] and the state dir exclude, and nothing can
///    re-include what they exclude.
/// 2. The config patterns (a gitignore rooted at the function folder): the
///    last matching pattern decides, so a `!` there re-includes what an ignore
///    file excludes.
/// 3. The ignore files, deepest folder first: those of the path's own folder,
///    then its parent's, up to the function folder, then those of the folders
///    above it up to the root of the enclosing git work tree (each anchored at
///    its own folder). Within a folder the files of `ignore_files` are read in
///    order and the last matching line wins.
/// 4. Nothing matched: the path is shipped.
///
/// And over all of these, as in git: a path inside an excluded folder is
/// excluded, whatever is said about the path itself. The function folder
/// itself is never considered excluded, even if a parent's ignore file says
/// so: the config names it explicitly. Global excludes and `.git/info/exclude`
/// never apply, so every machine ships the same files.
#[derive(Debug)]
pub struct Rules {
    root: PathBuf,
    ignore_files: Vec<String>,
    defaults: Patterns,
    config: Patterns,
    state_rel: Option<PathBuf>,
    /// The ignore files of the folders above the function folder inside its
    /// work tree, deepest first, each with the function folder's path
    /// relative to that folder.
    parents: Vec<(PathBuf, Patterns)>,
    /// The ignore files of folders inside, by folder relative to the root,
    /// read on first use.
    folders: Mutex<HashMap<PathBuf, Arc<Patterns>>>,
}

impl Rules {
    /// Builds the rules of the function folder `root`: reads the config
    /// patterns and the ignore files of the folders above it. Ignore files
    /// inside are read when first needed.
    pub fn load(root: &Path, settings: &RuleSettings) -> Result<Rules, RulesError> {
        let root = fs::canonicalize(root).map_err(|source| RulesError::Root {
            path: root.to_path_buf(),
            source,
        })?;

        let defaults: Vec<String> = DEFAULTS.iter().map(|p| p.to_string()).collect();
        let defaults = Patterns::config(&root, &defaults).expect("built-in patterns are valid");
        let config = Patterns::config(&root, &settings.patterns)?;

        let state_rel = settings
            .state_dir
            .as_deref()
            .and_then(|dir| relative_to(&root, dir))
            // A state dir that is the function folder itself would exclude
            // everything; config checks rule that out, and so does this.
            .filter(|rel| !rel.as_os_str().is_empty());

        let mut parents = Vec::new();
        if let Some(top) = enclosing_work_tree(&root) {
            for dir in root.ancestors().skip(1) {
                let prefix = root.strip_prefix(dir).expect("an ancestor").to_path_buf();
                parents.push((prefix, Patterns::load(dir, &settings.ignore_files)?));
                if dir == top {
                    break;
                }
            }
        }

        Ok(Rules {
            root,
            ignore_files: settings.ignore_files.clone(),
            defaults,
            config,
            state_rel,
            parents,
            folders: Mutex::new(HashMap::new()),
        })
    }

    /// The function folder, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` relative to the function folder, when it is inside it. Accepts
    /// absolute paths (through the folder as given or canonical) and relative
    /// ones; `None` for the folder itself or anything outside.
    pub fn relative(&self, path: &Path) -> Option<PathBuf> {
        let rel = if path.is_absolute() {
            relative_to(&self.root, path)?
        } else {
            path.to_path_buf()
        };
        let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
        (normal && !rel.as_os_str().is_empty()).then_some(rel)
    }

    /// Decides `rel` (relative to the function folder), ancestors included: a
    /// path inside an excluded folder is excluded.
    pub fn decide(&self, rel: &Path, is_dir: bool) -> Result<Decision, RulesError> {
        let rel = self.check_relative(rel)?;
        let mut ancestor = PathBuf::new();
        let mut components = rel.components().peekable();
        while let Some(component) = components.next() {
            if components.peek().is_none() {
                break;
            }
            ancestor.push(component);
            let decision = self.decide_entry(&ancestor, true)?;
            if !decision.shipped {
                return Ok(Decision {
                    via: Some(ancestor),
                    ..decision
                });
            }
        }
        self.decide_entry(rel, is_dir)
    }

    /// Decides `rel` on its own, assuming every ancestor folder is shipped: for
    /// a walk that never descends into an excluded folder.
    pub fn decide_entry(&self, rel: &Path, is_dir: bool) -> Result<Decision, RulesError> {
        let rel = self.check_relative(rel)?;

        if let Some((_, origin)) = self.defaults.check(rel, is_dir) {
            return Ok(Decision::excluded(Rule::Default(DEFAULTS[origin.line - 1])));
        }
        if self
            .state_rel
            .as_deref()
            .is_some_and(|s| rel.starts_with(s))
        {
            return Ok(Decision::excluded(Rule::StateDir));
        }

        if let Some((shipped, origin)) = self.config.check(rel, is_dir) {
            let rule = Rule::Config(origin.pattern.to_string());
            return Ok(Decision::by(shipped, rule));
        }

        for dir in rel.ancestors().skip(1) {
            let patterns = self.folder(dir)?;
            let candidate = rel.strip_prefix(dir).expect("an ancestor");
            if let Some((shipped, origin)) = patterns.check(candidate, is_dir) {
                return Ok(Decision::by(shipped, origin.into()));
            }
        }
        for (prefix, patterns) in &self.parents {
            if let Some((shipped, origin)) = patterns.check(&prefix.join(rel), is_dir) {
                return Ok(Decision::by(shipped, origin.into()));
            }
        }
        Ok(Decision::SHIPPED)
    }

    /// Whether `rel` names an ignore file: a change to it changes the rules.
    pub fn is_ignore_file(&self, rel: &Path) -> bool {
        rel.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| self.ignore_files.iter().any(|f| f == name))
    }

    /// Notes a change to `rel`; when it is an ignore file, its folder's
    /// patterns are read again on next use. Returns whether the rules changed.
    pub fn note_change(&self, rel: &Path) -> bool {
        if !self.is_ignore_file(rel) {
            return false;
        }
        self.forget(rel.parent().unwrap_or(Path::new("")));
        true
    }

    /// Drops the cached patterns of folder `rel_dir` ("" for the function
    /// folder) and of every folder below it.
    pub fn forget(&self, rel_dir: &Path) {
        self.cache().retain(|dir, _| !dir.starts_with(rel_dir));
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<Patterns>>> {
        // A panic while holding the lock leaves only a cache behind: keep it.
        self.folders.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn folder(&self, rel_dir: &Path) -> Result<Arc<Patterns>, RulesError> {
        if let Some(patterns) = self.cache().get(rel_dir) {
            return Ok(patterns.clone());
        }
        // Read outside the lock so that other threads are not held up by I/O.
        let patterns = Arc::new(Patterns::load(
            &self.root.join(rel_dir),
            &self.ignore_files,
        )?);
        self.cache().insert(rel_dir.to_path_buf(), patterns.clone());
        Ok(patterns)
    }

    fn check_relative<'p>(&self, rel: &'p Path) -> Result<&'p Path, RulesError> {
        let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if normal && !rel.as_os_str().is_empty() {
            Ok(rel)
        } else {
            Err(RulesError::Outside {
                path: rel.to_path_buf(),
                root: self.root.clone(),
            })
        }
    }
}

/// `path` relative to `root` (canonical), trying `path` as given and then
/// canonical (or its nearest existing ancestor canonical, for a state dir that
/// does not exist yet).
fn relative_to(root: &Path, path: &Path) -> Option<PathBuf> {
    if let Ok(rel) = path.strip_prefix(root) {
        return Some(rel.to_path_buf());
    }
    let mut missing = Vec::new();
    let mut existing = path;
    let canonical = loop {
        match fs::canonicalize(existing) {
            Ok(canonical) => break canonical,
            Err(_) => {
                missing.push(existing.file_name()?);
                existing = existing.parent()?;
            }
        }
    };
    let mut full = canonical;
    full.extend(missing.iter().rev());
    full.strip_prefix(root).ok().map(Path::to_path_buf)
}

/// The nearest folder strictly above `root` that holds `.git`, unless `root`
/// is itself the top of a work tree.
fn enclosing_work_tree(root: &Path) -> Option<&Path> {
    if root.join(".git").symlink_metadata().is_ok() {
        return None;
    }
    root.ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").symlink_metadata().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// Writes `files` (path, content; a path ending in `/` is a folder) under
    /// a new temp dir.
    fn tree(files: &[(&str, &str)]) -> TempDir {
        let tmp = TempDir::new().unwrap();
        for (path, content) in files {
            let full = tmp.path().join(path);
            if path.ends_with('/') {
                fs::create_dir_all(&full).unwrap();
            } else {
                fs::create_dir_all(full.parent().unwrap()).unwrap();
                fs::write(&full, content).unwrap();
            }
        }
        tmp
    }

    fn rules(root: &Path, patterns: &[&str]) -> Rules {
        let settings = RuleSettings {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            ..RuleSettings::default()
        };
        Rules::load(root, &settings).unwrap()
    }

    /// A case: its name, the ignore files (path, content), and the paths asked
    /// about (`/` at the end for a folder) with whether each is shipped.
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [(&'static str, bool)],
    );

    #[test]
    fn decides_like_git() {
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("no rules", &[], &[("a.txt", true), ("src/", true), ("src/main.go", true)]),
            ("unanchored name matches at any depth", &[(".gitignore", "debug.log\n")],
                &[("debug.log", false), ("a/b/debug.log", false), ("debug.log.1", true)]),
            ("leading slash anchors to the folder of the file", &[(".gitignore", "/todo\n")],
                &[("todo", false), ("sub/todo", true)]),
            ("a middle slash anchors too", &[(".gitignore", "doc/frotz\n")],
                &[("doc/frotz", false), ("a/doc/frotz", true)]),
            ("trailing slash matches folders only", &[(".gitignore", "build/\n")],
                &[("build/", false), ("build", true), ("a/build/", false), ("a/build/x", false)]),
            ("star does not cross slashes", &[(".gitignore", "/*.o\nlib/*.a\n")],
                &[("x.o", false), ("sub/x.o", true), ("lib/x.a", false), ("lib/sub/x.a", true)]),
            ("question mark is one character", &[(".gitignore", "file?.txt\n")],
                &[("file1.txt", false), ("file12.txt", true), ("file.txt", true)]),
            ("brackets are a class", &[(".gitignore", "x[0-9].c\ny[!a].c\n")],
                &[("x5.c", false), ("xa.c", true), ("yb.c", false), ("ya.c", true)]),
            ("leading double star", &[(".gitignore", "**/logs\n")],
                &[("logs/", false), ("a/b/logs/", false), ("a/logs/x", false)]),
            ("middle double star matches zero or more folders", &[(".gitignore", "a/**/b\n")],
                &[("a/b", false), ("a/x/b", false), ("a/x/y/b", false), ("c/a/b", true)]),
            ("trailing double star is everything inside", &[(".gitignore", "abc/**\n")],
                &[("abc/", true), ("abc/x", false), ("abc/x/y", false)]),
            ("negation re-includes", &[(".gitignore", "*.log\n!keep.log\n")],
                &[("a.log", false), ("keep.log", true), ("sub/keep.log", true)]),
            ("the last matching line wins", &[(".gitignore", "!keep.log\n*.log\n")],
                &[("keep.log", false)]),
            ("negation under an excluded folder stays excluded", &[(".gitignore", "out/\n!out/keep.txt\n")],
                &[("out/keep.txt", false), ("out/x", false)]),
            ("folder contents can be re-included when the folder is not", &[(".gitignore", "out/*\n!out/keep.txt\n")],
                &[("out/", true), ("out/keep.txt", true), ("out/x", false)]),
            ("escaped hash and bang are literal", &[(".gitignore", "\\#notes\n\\!bang\n")],
                &[("#notes", false), ("!bang", false), ("notes", true), ("bang", true)]),
            ("comments and blank lines match nothing", &[(".gitignore", "# a.txt\n\n   \n")],
                &[("a.txt", true), ("# a.txt", true)]),
            ("trailing spaces are trimmed, escaped ones kept", &[(".gitignore", "a.txt   \nb\\ \n")],
                &[("a.txt", false), ("b ", false), ("b", true)]),
            ("CRLF line endings", &[(".gitignore", "a.txt\r\nb.txt\r\n")],
                &[("a.txt", false), ("b.txt", false)]),
            ("a deeper file wins over a shallower one", &[(".gitignore", "*.tmp\n"), ("sub/.gitignore", "!*.tmp\n")],
                &[("x.tmp", false), ("sub/x.tmp", true), ("sub/deeper/x.tmp", true)]),
            ("a nested file anchors at its own folder", &[("sub/.gitignore", "/gen\n")],
                &[("gen", true), ("sub/gen", false), ("sub/x/gen", true)]),
            ("a later ignore file wins in the same folder", &[(".gitignore", "*.txt\n"), (".gcignore", "!a.txt\n")],
                &[("a.txt", true), ("b.txt", false)]),
            ("braces are literal, not alternation", &[(".gitignore", "{a,b}.txt\n[{]x\n")],
                &[("{a,b}.txt", false), ("a.txt", true), ("{x", false)]),
            ("a double star between letters is a star", &[(".gitignore", "a**b\n")],
                &[("axxb", false), ("ax/xb", true)]),
            ("a trailing backslash matches nothing", &[(".gitignore", "trail\\\n")],
                &[("trail", true), ("trail\\", true)]),
            ("defaults cannot be re-included", &[(".gitignore", "!.git\n!*.swp\n!.DS_Store\n")],
                &[(".git/", false), (".git", false), (".git/config", false), ("a.swp", false),
                  ("x/.DS_Store", false), ("a~", false), (".#a", false), ("4913", false), ("b.swx", false)]),
        ];
        for (name, files, paths) in cases {
            let tmp = tree(files);
            let rules = rules(tmp.path(), &[]);
            for (path, want) in *paths {
                let (path, is_dir) = match path.strip_suffix('/') {
                    Some(p) => (p, true),
                    None => (*path, false),
                };
                let got = rules.decide(Path::new(path), is_dir).unwrap();
                assert_eq!(got.shipped, *want, "{name}: {path} (dir: {is_dir}): {got}");
            }
        }
    }

    #[test]
    fn parent_ignore_files_apply_up_to_the_work_tree() {
        let tmp = tree(&[
            (
                ".gitignore",
                "*.secret\n/fn/anchored.txt\n/anchored-at-top.txt\n",
            ),
            ("outside/.gitignore", "*.txt\n"),
            ("outside/repo/.git/", ""),
            ("outside/repo/.gitignore", "*.log\n/fn/top.txt\n"),
            ("outside/repo/fn/.gitignore", "!keep.log\n"),
            ("outside/repo/fn/", ""),
        ]);
        let rules = rules(&tmp.path().join("outside/repo/fn"), &[]);
        #[rustfmt::skip]
        let cases = [
            ("a.log", false), ("keep.log", true), ("sub/b.log", false),
            ("top.txt", false), ("sub/top.txt", true),
            // Above the work tree nothing applies.
            ("a.txt", true), ("x.secret", true),
        ];
        for (path, want) in cases {
            let got = rules.decide(Path::new(path), false).unwrap();
            assert_eq!(got.shipped, want, "{path}: {got}");
        }
    }

    #[test]
    fn without_a_work_tree_only_the_folder_counts() {
        let tmp = tree(&[(".gitignore", "*.log\n"), ("fn/", "")]);
        let rules = rules(&tmp.path().join("fn"), &[]);
        assert!(rules.decide(Path::new("a.log"), false).unwrap().shipped);
    }

    #[test]
    fn a_folder_that_is_its_own_work_tree_ignores_parents() {
        let tmp = tree(&[
            (".git/", ""),
            (".gitignore", "*.log\n"),
            ("fn/.git", "gitdir: x"),
        ]);
        let rules = rules(&tmp.path().join("fn"), &[]);
        assert!(rules.decide(Path::new("a.log"), false).unwrap().shipped);
        assert!(!rules.decide(Path::new(".git"), false).unwrap().shipped);
    }

    #[test]
    fn config_patterns_beat_ignore_files_and_defaults_beat_both() {
        let tmp = tree(&[(".gitignore", "*.log\n!*.test\n")]);
        let rules = rules(tmp.path(), &["!keep.log", "*.test", "!*.swp"]);
        #[rustfmt::skip]
        let cases = [
            ("a.log", false, "x"), ("keep.log", true, "config pattern `!keep.log`"),
            ("a.test", false, "config pattern `*.test`"), ("a.swp", false, "built-in default `*.swp`"),
        ];
        for (path, want, rule) in cases {
            let got = rules.decide(Path::new(path), false).unwrap();
            assert_eq!(got.shipped, want, "{path}: {got}");
            if rule != "x" {
                assert_eq!(got.rule.unwrap().to_string(), rule);
            }
        }
    }

    #[test]
    fn state_dir_is_always_ignored() {
        let tmp = tree(&[(".gitignore", "!.gcwatch/\n")]);
        let settings = RuleSettings {
            state_dir: Some(tmp.path().join(".gcwatch")),
            ..RuleSettings::default()
        };
        let rules = Rules::load(tmp.path(), &settings).unwrap();
        for path in [".gcwatch", ".gcwatch/local/x"] {
            let got = rules.decide(Path::new(path), true).unwrap();
            assert!(!got.shipped, "{path}: {got}");
        }
        assert!(rules.decide(Path::new("gcwatch"), true).unwrap().shipped);
    }

    #[test]
    fn names_the_deciding_file_and_line() {
        let tmp = tree(&[
            (".gitignore", "# comment\n*.log\n\nout/\n*.log\n"),
            ("sub/.gcignore", "x\n  \n!important.log   \n"),
        ]);
        let rules = rules(tmp.path(), &[]);
        let root = rules.root().to_path_buf();
        let ignore_file = |file: &str, line, pattern: &str| Rule::IgnoreFile {
            file: root.join(file),
            line,
            pattern: pattern.to_string(),
        };
        let got = rules.decide(Path::new("a.log"), false).unwrap();
        assert_eq!(got.rule, Some(ignore_file(".gitignore", 5, "*.log")));
        let got = rules.decide(Path::new("out/deep/a.txt"), false).unwrap();
        assert_eq!(got.rule, Some(ignore_file(".gitignore", 4, "out/")));
        assert_eq!(got.via.as_deref(), Some(Path::new("out")));
        let got = rules.decide(Path::new("sub/important.log"), false).unwrap();
        assert!(got.shipped);
        assert_eq!(
            got.rule,
            Some(ignore_file("sub/.gcignore", 3, "!important.log"))
        );
        let got = rules.decide(Path::new("a.txt"), false).unwrap();
        assert_eq!(got, Decision::SHIPPED);
    }

    #[test]
    fn forgets_a_changed_ignore_file() {
        let tmp = tree(&[("sub/.gitignore", "a\n")]);
        let rules = rules(tmp.path(), &[]);
        assert!(!rules.decide(Path::new("sub/a"), false).unwrap().shipped);
        fs::write(tmp.path().join("sub/.gitignore"), "b\n").unwrap();
        // Cached until told.
        assert!(!rules.decide(Path::new("sub/a"), false).unwrap().shipped);
        assert!(rules.note_change(Path::new("sub/.gitignore")));
        assert!(!rules.note_change(Path::new("sub/a")));
        assert!(rules.decide(Path::new("sub/a"), false).unwrap().shipped);
        assert!(!rules.decide(Path::new("sub/b"), false).unwrap().shipped);
    }

    #[test]
    fn rejects_paths_outside_and_bad_config_patterns() {
        let tmp = tree(&[]);
        let rules = rules(tmp.path(), &[]);
        for path in ["", "../x", "/etc/passwd", "a/../../b"] {
            assert!(rules.decide(Path::new(path), false).is_err(), "{path}");
        }
        assert_eq!(
            rules.relative(&tmp.path().join("a/b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(rules.relative(tmp.path()), None);
        let settings = RuleSettings {
            patterns: vec!["ok".to_string(), "trailing\\".to_string()],
            ..RuleSettings::default()
        };
        assert!(matches!(
            Rules::load(tmp.path(), &settings),
            Err(RulesError::Pattern { .. })
        ));
    }
}
