//! `gcwatch init`: a project folder in, a commented `greencloud.toml` naming its function
//! folders out.
//!
//! The ids cannot be guessed, so each is written as [`ID_PLACEHOLDER`], which the config
//! loader refuses with a message saying what to put there.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// What `init` writes where a function id belongs; not 24 hex digits, so never loaded.
pub const ID_PLACEHOLDER: &str = "FILL-IN-24-HEX-DIGIT-ID";

/// Files whose presence at a folder's root makes it look like a function.
const MARKERS: &[&str] = &[
    "go.mod",
    "main.go",
    "main.py",
    "requirements.txt",
    "package.json",
    "Gemfile",
    "Dockerfile",
];

/// Folders never searched for functions: tooling, dependencies, build output.
const SKIPPED: &[&str] = &["node_modules", "target", "vendor", "venv", "__pycache__"];

/// One function to write: its name and its folder relative to the config's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub path: String,
}

/// Whether `dir` has a function marker (or a `*.csproj`) at its root.
pub fn looks_like_function(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        e.path().is_file() && (MARKERS.contains(&name.as_ref()) || name.ends_with(".csproj"))
    })
}

/// The function-like folders under `root`: its direct sub-folders, and the sub-folders of
/// those that are not functions themselves (so `functions/*` is found), sorted by path.
/// Hidden folders and dependency or build folders are not searched.
pub fn discover(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for child in sub_folders(root) {
        if looks_like_function(&child) {
            found.push(child);
        } else {
            found.extend(
                sub_folders(&child)
                    .into_iter()
                    .filter(|g| looks_like_function(g)),
            );
        }
    }
    found.sort();
    found
}

fn sub_folders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && !SKIPPED.contains(&name.as_ref())
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Names and relative paths for `folders` (all under `root`). A name is the folder's own
/// name made of the characters the config accepts; a clash takes the parent's name as a
/// prefix (`api-hello`), then a number.
pub fn name_functions(root: &Path, folders: &[PathBuf]) -> Result<Vec<Found>, String> {
    let mut out: Vec<Found> = Vec::new();
    for folder in folders {
        let rel = relative(root, folder)?;
        let raw: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let parts: Vec<String> = raw.iter().map(|p| sanitize(p)).collect();
        let Some(last) = parts.last() else {
            return Err(format!(
                "{} is the project folder itself; name the function's folder below it",
                folder.display()
            ));
        };
        let mut name = last.clone();
        if out.iter().any(|f| f.name == name) && parts.len() > 1 {
            name = format!("{}-{last}", parts[parts.len() - 2]);
        }
        let base = name.clone();
        let mut n = 2;
        while out.iter().any(|f| f.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        let path = raw.join("/");
        if out.iter().any(|f| f.path == path) {
            continue;
        }
        let inside = |outer: &str, inner: &str| inner.starts_with(&format!("{outer}/"));
        if let Some(other) = out
            .iter()
            .find(|f| inside(&f.path, &path) || inside(&path, &f.path))
        {
            return Err(format!(
                "{} and {} nest; function folders must not sit inside one another",
                other.path, path
            ));
        }
        out.push(Found { name, path });
    }
    Ok(out)
}

/// `folder` relative to `root`, which must hold it; both are compared as given, after
/// making them absolute.
fn relative(root: &Path, folder: &Path) -> Result<PathBuf, String> {
    let abs = std::path::absolute(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let abs = normalize(&abs);
    let root = normalize(root);
    abs.strip_prefix(&root).map(Path::to_path_buf).map_err(|_| {
        format!(
            "{} is not inside the project folder {}",
            folder.display(),
            root.display()
        )
    })
}

/// Drops `.` and resolves `..` lexically, so `./a/../b` reads as `b`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() {
        "function".to_string()
    } else {
        clean
    }
}

/// The config text: every section of the config with its defaults commented out, then one
/// `[[functions]]` table per function with a placeholder id.
pub fn render(functions: &[Found]) -> String {
    let mut text = String::from(
        r#"# gcwatch project config. Paths are relative to this file's folder.
# Fill in each function's `id` (24 hex digits, from GreenCloud) before running gcwatch.

[api]
# url = "https://api.greencloud.dev/v1"
# api_key_env = "GREENCLOUD_API_KEY"     # env var holding an API key
# token_env = "GREENCLOUD_TOKEN"         # env var holding an access token (wins over the key)
# auth_scheme = "Bearer"
# request_timeout_secs = 30
# build_timeout_secs = 1800
# poll_interval_ms = 1000

[watch]
# debounce_ms = 300                      # quiet time before a burst of changes is acted on
# max_wait_ms = 5000                     # act at the latest this long after a burst began
# ignore_files = [".gitignore", ".gcignore"]
# ignore = []                            # extra gitignore-style patterns for every function
# state_dir = ".gcwatch"
# follow_external_symlinks = false
# max_zip_mb = 100
# max_files = 20000
# poll = false                           # watch by polling (network or WSL file systems)
"#,
    );
    for f in functions {
        let _ = write!(
            text,
            r#"
[[functions]]
name = "{}"
path = "{}"
id = "{ID_PLACEHOLDER}"   # the GreenCloud function id: 24 hex digits
# arch = "amd64"
# ignore = []                            # gitignore-style, relative to the function folder
"#,
            f.name,
            f.path.replace('\\', "\\\\").replace('"', "\\\"")
        );
    }
    text
}

/// Runs `gcwatch init`: writes `target` (which must not exist) for `folders`, or for the
/// folders [`discover`] finds beside it; returns what to tell the user, or why it refused.
pub fn run(target: &Path, folders: &[PathBuf]) -> Result<String, String> {
    let target = std::path::absolute(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let root = target
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no parent folder", target.display()))?;
    if target.exists() {
        return Err(format!(
            "{} already exists; init never overwrites a config (edit it, or move it away first)",
            target.display()
        ));
    }
    let folders = if folders.is_empty() {
        let found = discover(&root);
        if found.is_empty() {
            return Err(format!(
                "no function folders found in {} or its sub-folders (a folder with {}, or *.csproj, at its root); name them: gcwatch init FOLDER...",
                root.display(),
                MARKERS.join(", ")
            ));
        }
        found
    } else {
        for folder in folders {
            if !folder.is_dir() {
                return Err(format!("{} is not a folder", folder.display()));
            }
        }
        folders.to_vec()
    };
    let functions = name_functions(&root, &folders)?;
    let text = render(&functions);
    // create_new: a config written meanwhile by someone else is not clobbered either.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;

    let mut report = format!(
        "wrote {} with {} function(s):\n",
        target.display(),
        functions.len()
    );
    let width = functions.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &functions {
        let _ = writeln!(report, "  {:<width$}  {}", f.name, f.path);
    }
    let _ = write!(
        report,
        "next: replace each id = \"{ID_PLACEHOLDER}\" with the function's GreenCloud id (24 hex digits),\n\
         then run `gcwatch watch --local` to try it offline, or set GREENCLOUD_API_KEY and run `gcwatch watch`."
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn discovery_finds_sub_and_sub_sub_folders_with_markers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "api/go.mod",
            "functions/hello/main.py",
            "functions/web/package.json",
            "functions/web/lib/package.json",
            "functions/dotnet/App.csproj",
            "functions/notes/README.md",
            "docs/README.md",
            ".hidden/main.py",
            "node_modules/x/package.json",
        ] {
            touch(root, rel);
        }
        let found: Vec<String> = discover(root)
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            found,
            [
                "api",
                "functions/dotnet",
                "functions/hello",
                "functions/web"
            ]
        );
    }

    #[test]
    fn nested_folders_are_refused() {
        let root = Path::new("/p");
        let folders = [PathBuf::from("/p/api"), PathBuf::from("/p/api/sub")];
        let err = name_functions(root, &folders).unwrap_err();
        assert!(err.contains("nest"), "{err}");
        let siblings = [PathBuf::from("/p/api"), PathBuf::from("/p/api2")];
        assert_eq!(name_functions(root, &siblings).unwrap().len(), 2);
    }

    #[test]
    fn names_are_the_folder_names_made_unique() {
        let root = Path::new("/p");
        let folders: Vec<PathBuf> = ["/p/a/hello", "/p/b/hello", "/p/c d", "/p/./a/hello"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let found = name_functions(root, &folders).unwrap();
        let pairs: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.name.as_str(), f.path.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("hello", "a/hello"), ("b-hello", "b/hello"), ("c-d", "c d")]
        );
        assert!(name_functions(root, &[PathBuf::from("/elsewhere")]).is_err());
        assert!(name_functions(root, &[PathBuf::from("/p")]).is_err());
    }

    #[test]
    fn rendered_config_parses_as_toml_with_placeholder_ids() {
        let text = render(&[Found {
            name: "hello".into(),
            path: "functions/hello".into(),
        }]);
        let value: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(value["functions"][0]["id"].as_str(), Some(ID_PLACEHOLDER));
        assert_eq!(
            value["functions"][0]["path"].as_str(),
            Some("functions/hello")
        );
    }
}
