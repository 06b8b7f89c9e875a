//! One accepted build in, its finished timeline out: waits, checks the upload, runs `--build-cmd`, moves the build on.

use std::sync::Arc;

use axum::body::Bytes;
use tokio::task::spawn_blocking;
use tokio::time::{sleep, sleep_until, Instant};

use crate::api::BuildStatus;
use crate::events::human_bytes;

use super::command::{self, Limits};
use super::upload::{self, Contents};
use super::Shared;

/// Drives build `id` from the status it has now to SUCCESS or FAILED, or,
/// with `--hold-builds-in`, to the status it names, where it stays.
///
/// `upload` is the zip when it is still in memory (a fresh submission); a
/// build resumed after a restart reads it back from the data dir.
pub(super) async fn drive(shared: Arc<Shared>, id: String, upload: Option<Bytes>) {
    let Some(record) = shared.record(&id) else {
        return;
    };
    if record.status() == BuildStatus::Pending {
        sleep(shared.build_delay).await;
        if let Some(held) = &shared.hold_in {
            let line = format!("held in {held} for good (--hold-builds-in)");
            shared.advance(&id, held.clone(), vec![line]).await;
            return;
        }
        shared.advance(&id, BuildStatus::Building, Vec::new()).await;
    } else if shared.hold_in.is_some() {
        // No build ends while builds are held, resumed ones included.
        return;
    }
    // BUILDING lasts the build delay at least, and as long as the work takes.
    let building_until = Instant::now() + shared.build_delay;
    let (log, success) = build(&shared, &id, &record.function_id, upload).await;
    sleep_until(building_until).await;
    let to = if success {
        BuildStatus::Success
    } else {
        BuildStatus::Failed
    };
    shared.advance(&id, to, log).await;
}

/// The log lines of the build, and whether it succeeded.
async fn build(
    shared: &Shared,
    id: &str,
    function_id: &str,
    upload: Option<Bytes>,
) -> (Vec<String>, bool) {
    let upload = match upload {
        Some(upload) => upload,
        None => {
            let disk = shared.disk.clone();
            let owned = id.to_string();
            match spawn_blocking(move || disk.read_upload(&owned)).await {
                Ok(Ok(bytes)) => Bytes::from(bytes),
                Ok(Err(e)) => return (vec![format!("cannot read the stored upload: {e}")], false),
                Err(e) => return (vec![format!("cannot read the stored upload: {e}")], false),
            }
        }
    };
    let mut log = vec![format!("received {}", human_bytes(upload.len() as u64))];

    let checked = {
        let upload = upload.clone();
        spawn_blocking(move || upload::inspect(&upload)).await
    };
    match checked {
        Ok(Ok(contents)) => log.push(describe(&contents)),
        Ok(Err(problem)) => {
            log.push(format!("upload rejected: {problem}"));
            return (log, false);
        }
        Err(e) => {
            log.push(format!("cannot check the upload: {e}"));
            return (log, false);
        }
    }

    let Some(cmd) = shared.build_cmd.as_deref() else {
        return (log, true);
    };
    let disk = shared.disk.clone();
    let owned = id.to_string();
    let unpacked = spawn_blocking(move || -> Result<_, String> {
        let dir = disk.make_work_dir(&owned).map_err(|e| e.to_string())?;
        upload::unpack(&upload, &dir).map_err(|e| e.to_string())?;
        Ok(dir)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let success = match unpacked {
        Ok(dir) => {
            log.push(format!("$ {cmd}"));
            let env = [
                ("GCWATCH_BUILD_ID", id),
                ("GCWATCH_FUNCTION_ID", function_id),
            ];
            let outcome = command::run(cmd, &dir, &env, Limits::default()).await;
            log.extend(outcome.log);
            outcome.success
        }
        Err(e) => {
            log.push(format!("cannot unpack the upload: {e}"));
            false
        }
    };
    let disk = shared.disk.clone();
    let owned = id.to_string();
    match spawn_blocking(move || disk.remove_work_dir(&owned)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(build = id, error = %e, "cannot remove the unpacked build"),
        Err(e) => tracing::warn!(build = id, error = %e, "cannot remove the unpacked build"),
    }
    (log, success)
}

fn describe(contents: &Contents) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!(
        "unpacked {} and {} ({})",
        plural(contents.files, "file", "files"),
        plural(contents.folders, "folder", "folders"),
        human_bytes(contents.bytes)
    );
    if contents.links > 0 {
        line.push_str(&format!(
            "; skipped {}",
            plural(contents.links, "symbolic link", "symbolic links")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_read_as_a_log_line() {
        let cases = [
            ((1, 0, 0, 12), "unpacked 1 file and 0 folders (12 B)"),
            (
                (3, 1, 2, 2048),
                "unpacked 3 files and 1 folder (2.0 KiB); skipped 2 symbolic links",
            ),
        ];
        for ((files, folders, links, bytes), want) in cases {
            let contents = Contents {
                files,
                folders,
                links,
                bytes,
            };
            assert_eq!(describe(&contents), want);
        }
    }
}
