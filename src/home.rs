//! The node home `agar explode` writes into: what is in it before anything is written
//! (Cosmos state, existing targets), whether its directories can be written safely (no
//! symlinked or non-directory `config/`, `data/`, `data/agoric/`), the exclusive lock held
//! for the whole run, the `--force` precheck (every move can be made), and the removal of
//! stale temp dirs of killed runs (agar's exact naming, owner process gone).
//!
//! Everything here only reads the home, except [`lock`] (which may create a missing home
//! directory) and [`remove_stale`].

use std::ffi::CString;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Prefix of explode's temp dirs (inside `config/` and `data/agoric/`); the full name is
/// `<prefix><pid>-<6 random alphanumerics>` (tempfile's default random part).
pub const TMP_PREFIX: &str = ".agar-tmp-explode-";
const TMP_RANDOM_LEN: usize = 6;

/// Entries of `HOME/data` that hold Cosmos (CometBFT or app) state. While any exists, agd
/// does not run InitGenesis, so it would never read what explode writes. These are the
/// entries `agd tendermint unsafe-reset-all` removes (it removes all of `data/` and writes
/// a reset `priv_validator_state.json`); cometbft `commands/reset.go` names the first six.
pub const COSMOS_STATE: &[&str] = &[
    "application.db",
    "blockstore.db",
    "state.db",
    "evidence.db",
    "tx_index.db",
    "cs.wal",
    "snapshots",
];

/// The priv validator state file; above height 0 it says the node has signed blocks.
pub const PRIV_VALIDATOR_STATE: &str = "priv_validator_state.json";
const MAX_PV_STATE_BYTES: u64 = 64 << 10;

/// The exclusive lock on the home directory (`flock(LOCK_EX)` on the directory itself):
/// held until dropped (or the process exits, however it exits).
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

/// Take the home's exclusive lock without waiting. A second explode on the same home is
/// refused (exit 4) while the first runs. The lock is on the directory, not on a lock
/// file, so that a refused run leaves the home byte-identical (there is nothing to create
/// or remove, and no stale lock file after a kill).
pub fn lock(home: &Path) -> Result<Lock> {
    let dir = File::open(home).map_err(|e| Error::io(home, e))?;
    // SAFETY: flock on a valid, owned descriptor; no memory is passed.
    let rc = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(Error::Refused(format!(
                "{}: another agar explode is running on this home (it holds the home's lock); nothing was written. Wait for it to finish, then check what it wrote before running explode again",
                home.display()
            )));
        }
        return Err(Error::io_at(
            format!(
                "{}: taking the home's exclusive lock (flock)",
                home.display()
            ),
            e,
        ));
    }
    Ok(Lock { _dir: dir })
}

/// Whether `p` exists as a real directory (not a symlink to one). Refuses a symlink or
/// anything that is not a directory: explode writes only inside the home.
pub fn check_dir(p: &Path) -> Result<bool> {
    match fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(p, e)),
        Ok(md) if md.file_type().is_symlink() => Err(Error::Refused(format!(
            "{} is a symbolic link (to {}); explode writes only inside the home and never through a link, so nothing was written. Make it a real directory, or run explode on a home where it is one and move the result",
            p.display(),
            fs::read_link(p).map_or_else(|_| "?".into(), |t| t.display().to_string())
        ))),
        Ok(md) if !md.is_dir() => Err(Error::Refused(format!(
            "{} exists but is not a directory; nothing was written. Move it out of the way first",
            p.display()
        ))),
        Ok(_) => Ok(true),
    }
}

/// The Cosmos state found in `data`, as displayable items (path and why).
pub fn cosmos_state(data: &Path) -> Vec<String> {
    let mut found: Vec<String> = COSMOS_STATE
        .iter()
        .map(|n| data.join(n))
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    let pv = data.join(PRIV_VALIDATOR_STATE);
    if fs::symlink_metadata(&pv).is_ok() {
        match pv_height(&pv) {
            Ok(0) => {}
            Ok(h) => found.push(format!("{} (height {h})", pv.display())),
            Err(why) => found.push(format!("{} ({why})", pv.display())),
        }
    }
    found
}

/// The `height` of a priv_validator_state.json (a decimal string in CometBFT's format).
fn pv_height(p: &Path) -> std::result::Result<u64, String> {
    let bytes = crate::confine::read_regular(p, None, MAX_PV_STATE_BYTES)
        .map_err(|e| format!("unreadable: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| "not JSON".to_string())?;
    match v.get("height") {
        Some(serde_json::Value::String(s)) => s.parse().map_err(|_| "bad height".into()),
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(|| "bad height".into()),
        _ => Err("no height".into()),
    }
}

/// The refusal for a home holding Cosmos state, with the exact commands of the restart
/// recipe.
pub fn cosmos_state_refusal(
    home: &Path,
    archive: &Path,
    expect: Option<&str>,
    found: &[String],
) -> Error {
    let h = shell_word(&home.display().to_string());
    let a = shell_word(&archive.display().to_string());
    Error::Refused(format!(
        "{} holds Cosmos state: {}. agd runs InitGenesis (and so reads the genesis.json and config/swing-store explode writes) only on an empty Cosmos state; nothing was written. For a genesis restart run:\n  1. stop agd (e.g. systemctl stop agd)\n  2. agd tendermint unsafe-reset-all --home {h} --keep-addr-book\n  3. agar explode {a} --home {h} --expect {} --force\n  4. agd start --home {h}\n(unsafe-reset-all deletes all of {h}/data, keeps the keys and the address book, and resets priv_validator_state.json to height 0; AGREED_DIGEST stands for the archive digest the validators agreed on, if --expect was not given.) To write into this home anyway, pass --allow-cosmos-state",
        home.display(),
        found.join(", "),
        expect.unwrap_or("AGREED_DIGEST")
    ))
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@%~,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What a target must be to be replaced by `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (or a symlink, which is replaced, never followed).
    File,
    /// A directory (or a symlink, likewise).
    Dir,
}

/// The `--force` precheck: every existing target in `targets` can be moved aside or
/// replaced by a rename, so that the placement cannot stop half-way on one of them.
/// Checks the type, that it is on the same filesystem as its parent (not a mount point),
/// write permission on the parent (and the sticky bit), write permission on a directory
/// that moves to another parent, and the immutable / append-only inode flags. Changes
/// nothing.
pub fn check_moves(targets: &[(PathBuf, Kind)]) -> Result<()> {
    for (p, kind) in targets {
        let Ok(md) = fs::symlink_metadata(p) else {
            continue;
        };
        let refuse = |why: String| {
            Err(Error::Refused(format!(
                "{}: --force cannot replace it: {why}; nothing was changed",
                p.display()
            )))
        };
        let ft = md.file_type();
        let link = ft.is_symlink();
        match kind {
            Kind::File if !(link || ft.is_file()) => {
                return refuse(format!(
                    "it is {}, not a regular file. Move it out of the way first",
                    type_name(&md)
                ))
            }
            Kind::Dir if !(link || ft.is_dir()) => {
                return refuse(format!(
                    "it is {}, not a directory. Move it out of the way first",
                    type_name(&md)
                ))
            }
            _ => {}
        }
        let parent = p.parent().unwrap_or(Path::new("."));
        let pmd = fs::metadata(parent).map_err(|e| Error::io(parent, e))?;
        if !link && md.dev() != pmd.dev() {
            return refuse("it is on another filesystem than its directory (a mount point), and a rename cannot cross filesystems".into());
        }
        if let Err(e) = access_w(parent) {
            return refuse(format!(
                "its directory {} is not writable ({e})",
                parent.display()
            ));
        }
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if pmd.mode() & libc::S_ISVTX != 0 && euid != 0 && md.uid() != euid && pmd.uid() != euid {
            return refuse(format!(
                "its directory {} is sticky and it belongs to another user",
                parent.display()
            ));
        }
        if !link && ft.is_dir() {
            if let Err(e) = access_w(p) {
                return refuse(format!("a directory must be writable to move it ({e})"));
            }
        }
        for (q, what) in [(p.as_path(), "it"), (parent, "its directory")] {
            if q == p.as_path() && link {
                continue;
            }
            if let Some(f) = inode_flags(q) {
                if f & (FS_IMMUTABLE_FL | FS_APPEND_FL) != 0 {
                    return refuse(format!(
                        "{what} is marked {} (chattr), so it cannot be renamed",
                        if f & FS_IMMUTABLE_FL != 0 {
                            "immutable"
                        } else {
                            "append-only"
                        }
                    ));
                }
            }
        }
    }
    Ok(())
}

fn type_name(md: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = md.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

fn cpath(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("path holds a NUL byte"))
}

/// Write (and search) permission for the effective user, as the kernel decides it
/// (including a read-only filesystem).
fn access_w(p: &Path) -> std::io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: a valid NUL-terminated path; faccessat only reads it.
    let rc = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::W_OK | libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

const FS_IMMUTABLE_FL: libc::c_long = 0x10;
const FS_APPEND_FL: libc::c_long = 0x20;

/// The inode flags (`lsattr`), where the filesystem has them.
fn inode_flags(p: &Path) -> Option<libc::c_long> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(p)
        .ok()?;
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`, which outlives the call.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    (rc == 0).then_some(flags)
}

/// The pid in a temp dir name of agar's exact naming, `<prefix><pid>-<6 alnum>`.
fn tmp_name_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, rand) = rest.split_once('-')?;
    let digits_ok = !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|b| b.is_ascii_digit())
        && !pid.starts_with('0');
    let rand_ok = rand.len() == TMP_RANDOM_LEN && rand.bytes().all(|b| b.is_ascii_alphanumeric());
    if digits_ok && rand_ok {
        pid.parse().ok()
    } else {
        None
    }
}

/// Remove explode temp dirs of processes that are gone (killed runs): only real
/// directories (not symlinks) of agar's exact naming, owned by this user, whose pid is
/// neither this process nor a live one. Anything else that merely starts with the prefix
/// (an operator's `.agar-tmp-explode-backup/`) is left alone.
pub fn remove_stale(dir: &Path, removed: &mut Vec<String>) {
    remove_stale_with(dir, TMP_PREFIX, removed)
}

/// [`remove_stale`] for temp dirs named `<prefix><pid>-<6 alnum>` (restore's too).
pub fn remove_stale_with(dir: &Path, prefix: &str, removed: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| tmp_name_pid(n, prefix)) else {
            continue;
        };
        if pid == std::process::id() || crate::cleanup::pid_alive(pid) {
            continue;
        }
        let p = e.path();
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        if !md.is_dir() || md.uid() != euid {
            continue;
        }
        if fs::remove_dir_all(&p).is_ok() {
            removed.push(p.display().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_agars_exact_temp_naming_is_recognised() {
        assert_eq!(
            tmp_name_pid(".agar-tmp-explode-123-aB3xYz", TMP_PREFIX),
            Some(123)
        );
        for n in [
            ".agar-tmp-explode-backup",
            ".agar-tmp-explode-backup-aB3xYz",
            ".agar-tmp-explode-123-aB3xY",
            ".agar-tmp-explode-123-aB3xYz7",
            ".agar-tmp-explode-123-aB3x.z",
            ".agar-tmp-explode-0123-aB3xYz",
            ".agar-tmp-explode--aB3xYz",
            ".agar-tmp-explode-123",
            "agar-tmp-explode-123-aB3xYz",
            ".agar-tmp-explode-12345678901-aB3xYz",
        ] {
            assert_eq!(tmp_name_pid(n, TMP_PREFIX), None, "{n}");
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/home/v/.agoric"), "/home/v/.agoric");
        assert_eq!(shell_word("/my home/it's"), "'/my home/it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
