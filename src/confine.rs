//! Confined input files: regular files only (never a device, FIFO, socket or directory),
//! opened without blocking so a FIFO is refused at once instead of hanging, optionally
//! required to stay inside a directory (a symlink may not lead out of it), and read with a
//! size cap.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Open `path` for reading if it is a regular file. With `within`, the file (after
/// resolving every symlink) must lie inside that directory.
pub fn open_regular(path: &Path, within: Option<&Path>) -> Result<File> {
    if let Some(dir) = within {
        check_within(path, dir)?;
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let md = f.metadata().map_err(|e| Error::io(path, e))?;
    let t = md.file_type();
    if !t.is_file() {
        let what = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        // an environment problem (exit 2), like a missing or unreadable file
        return Err(Error::io_at(
            path.display().to_string(),
            std::io::Error::other(format!("is {what}; agar reads regular files only")),
        ));
    }
    Ok(f)
}

/// Refuse `path` unless it resolves (symlinks followed) to a place inside `dir`.
pub fn check_within(path: &Path, dir: &Path) -> Result<PathBuf> {
    let real = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let base = fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !real.starts_with(&base) {
        return Err(Error::Refused(format!(
            "{} resolves to {}, outside {}; agar reads input files only inside the directory they belong to",
            path.display(),
            real.display(),
            base.display()
        )));
    }
    Ok(real)
}

/// Read a whole regular file of at most `cap` bytes (see [`open_regular`]).
pub fn read_regular(path: &Path, within: Option<&Path>, cap: u64) -> Result<Vec<u8>> {
    let f = open_regular(path, within)?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > cap {
        return Err(Error::invalid(
            path.display().to_string(),
            format!("is {len} bytes, more than the {cap}-byte limit for this file"),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > cap {
        return Err(Error::invalid(
            path.display().to_string(),
            format!("grew past the {cap}-byte limit for this file while it was read"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_dirs_and_escaping_links_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let inside = t.path().join("in");
        fs::create_dir(&inside).unwrap();
        fs::write(inside.join("ok"), b"{}").unwrap();
        fs::write(t.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink("../secret", inside.join("out")).unwrap();
        std::os::unix::fs::symlink("ok", inside.join("alias")).unwrap();
        assert_eq!(
            read_regular(&inside.join("ok"), Some(&inside), 10).unwrap(),
            b"{}"
        );
        assert_eq!(
            read_regular(&inside.join("alias"), Some(&inside), 10).unwrap(),
            b"{}"
        );
        assert!(read_regular(&inside.join("out"), Some(&inside), 10)
            .unwrap_err()
            .to_string()
            .contains("outside"));
        assert!(read_regular(&inside.join("ok"), None, 1)
            .unwrap_err()
            .to_string()
            .contains("limit"));
        assert!(read_regular(Path::new("/dev/zero"), None, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("device"));
        assert!(read_regular(&inside, None, 10)
            .unwrap_err()
            .to_string()
            .contains("directory"));
        let fifo = inside.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_regular(&fifo, Some(&inside), 10)
            .unwrap_err()
            .to_string()
            .contains("FIFO"));
    }
}
