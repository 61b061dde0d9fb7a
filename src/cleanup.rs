//! Temporary outputs: a registry of the paths this process is writing, removed when it
//! is interrupted (SIGINT/SIGTERM, see the CLI's signal handler), and the cleaning of
//! stale ones that killed runs left behind.
//!
//! agar's own temp outputs are named `.<OUTPUT>.agar-tmp-<pid>-<random>` next to the
//! output. A file of that exact form whose owner process is gone is removed by the next
//! run writing the same output; nothing else is ever touched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static TERMINATING: AtomicBool = AtomicBool::new(false);

/// The signal handler is removing the temp outputs and will exit with 130/143: set before
/// anything is removed, so that an error the removal causes in the running command (a
/// temp file gone from under it) is known to be a consequence, not the outcome.
pub fn begin_termination() {
    TERMINATING.store(true, Ordering::SeqCst);
}

/// Whether [`begin_termination`] was called.
pub fn terminating() -> bool {
    TERMINATING.load(Ordering::SeqCst)
}

/// Remember a temporary output so that an interrupted run removes it.
pub fn register(path: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.push(path.to_path_buf());
    }
}

/// Forget a temporary output (renamed into place or removed).
pub fn unregister(path: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.retain(|p| p != path);
    }
}

/// Remove every registered temporary output (files and directories); returns those
/// removed. Called from the signal handler before exiting.
pub fn remove_registered() -> Vec<PathBuf> {
    let paths = match TEMPS.lock() {
        Ok(mut t) => std::mem::take(&mut *t),
        Err(_) => return Vec::new(),
    };
    remove_paths(paths)
}

/// The temporary outputs registered now.
pub fn registered() -> Vec<PathBuf> {
    TEMPS.lock().map(|t| t.clone()).unwrap_or_default()
}

fn remove_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths
        .into_iter()
        .filter(|p| match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).is_ok(),
            Ok(_) => std::fs::remove_file(p).is_ok(),
            Err(_) => false,
        })
        .collect()
}

/// Whether a process with this ID is running (Linux `/proc`; elsewhere assumed alive, so
/// nothing is removed).
pub fn pid_alive(pid: u32) -> bool {
    let proc_ = Path::new("/proc");
    !proc_.join("self").exists() || proc_.join(pid.to_string()).exists()
}

/// The temp-file prefix for `output`'s name: `.<name>.agar-tmp-`.
pub fn temp_prefix(output_name: &str) -> String {
    format!(".{output_name}.agar-tmp-")
}

/// Remove `dir/.<output_name>.agar-tmp-<pid>-<random>` regular files whose process is
/// gone; returns the removed paths.
pub fn remove_stale(dir: &Path, output_name: &str) -> Vec<PathBuf> {
    let prefix = temp_prefix(output_name);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some((pid, random)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid.to_string() != rest.split('-').next().unwrap_or_default()
            || random.is_empty()
            || !random.bytes().all(|b| b.is_ascii_alphanumeric())
            || pid == std::process::id()
            || pid_alive(pid)
            || !e.file_type().is_ok_and(|t| t.is_file())
        {
            continue;
        }
        if std::fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temps_of_dead_processes_only() {
        let d = tempfile::tempdir().unwrap();
        // a PID that cannot be running: above the kernel's pid_max (at most 2^22)
        let dead = 4_999_999u32;
        let me = std::process::id();
        let names = [
            format!(".a.tar.agar-tmp-{dead}-Ab12Cd"),  // removed
            format!(".a.tar.agar-tmp-{me}-Ab12Cd"),    // ours: kept
            format!(".a.tar.agar-tmp-0{dead}-Ab12Cd"), // not our naming
            format!(".b.tar.agar-tmp-{dead}-Ab12Cd"),  // another output
            ".a.tar.agar-tmp-Ab12Cd".to_string(),      // old naming, owner unknown
            "a.tar".to_string(),
        ];
        for n in &names {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let removed = remove_stale(d.path(), "a.tar");
        assert_eq!(removed, vec![d.path().join(&names[0])]);
        for n in &names[1..] {
            assert!(d.path().join(n).exists(), "{n} was removed");
        }
    }

    #[test]
    fn registered_paths_are_tracked_and_removed_once() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        let sub = d.path().join("sub");
        std::fs::write(&f, b"x").unwrap();
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("g"), b"y").unwrap();
        let kept = d.path().join("kept");
        std::fs::write(&kept, b"z").unwrap();
        // (the registry is process-wide: other tests may register paths concurrently)
        register(&f);
        register(&sub);
        register(&kept);
        unregister(&kept);
        let mine: Vec<PathBuf> = registered()
            .into_iter()
            .filter(|p| p.starts_with(d.path()))
            .collect();
        assert_eq!(mine, vec![f.clone(), sub.clone()]);
        unregister(&f);
        unregister(&sub);
        let mut removed = remove_paths(mine.clone());
        removed.sort();
        assert_eq!(removed, mine);
        assert!(!f.exists() && !sub.exists() && kept.exists());
        assert!(remove_paths(mine).is_empty(), "removed twice");
    }
}
