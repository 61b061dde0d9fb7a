//! `agar pack --swing-store` on a halted node's DB that another process (a starting node)
//! opens and rewrites while pack reads it: exit 4 with the documented "opened by another
//! process" message, never "database disk image is malformed" (issue 13). The test opens
//! the DB at a fixed point of pack's read (the first artifact), signalled through FIFOs
//! (`AGAR_TEST_DB_PAUSE`), not after a sleep.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use crate::common::*;

#[test]
fn a_db_opened_during_the_read_is_refused_as_opened_not_malformed() {
    for rewrite in ["vacuum", "update"] {
        let w = tempfile::tempdir().unwrap();
        let dir = w.path().join("agoric");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("swingstore.sqlite");
        std::fs::copy(fx("tiny/db/swingstore.sqlite"), &file).unwrap();
        // the fixture is a WAL-mode DB without -wal: a cleanly stopped node, read with
        // immutable=1
        assert_eq!(std::fs::read(&file).unwrap()[18], 2);
        let sync = w.path().join("sync");
        std::fs::create_dir(&sync).unwrap();
        mkfifo(&sync.join("paused"));
        mkfifo(&sync.join("resume"));
        let out = w.path().join("out.tar");
        let child = Command::new(bin())
            .args([
                "pack",
                "--swing-store",
                p(&dir),
                "--genesis",
                p(&fx("tiny/genesis/operational/genesis.json")),
                "--artifact-mode",
                "operational",
                "-o",
                p(&out),
                "-q",
            ])
            .env("AGAR_TEST_DB_PAUSE", &sync)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // wait until pack has read the export data and is about to read the artifacts
        let mut b = [0u8; 1];
        std::fs::File::open(sync.join("paused"))
            .unwrap()
            .read_exact(&mut b)
            .unwrap();
        // a node starts: opens the DB (WAL: creates -wal), writes, and checkpoints into the
        // main file, rewriting the pages pack is reading
        {
            let node = rusqlite::Connection::open(&file).unwrap();
            node.pragma_update(None, "journal_mode", "wal").unwrap();
            if rewrite == "vacuum" {
                node.execute_batch("VACUUM").unwrap();
            } else {
                node.execute_batch(
                    "UPDATE kvStore SET value = value || 'x' WHERE key LIKE 'v1.%'; \
                     DELETE FROM transcriptItems WHERE vatID = 'v1'",
                )
                .unwrap();
            }
            node.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
            // the node keeps running: its -wal stays
            assert!(dir.join("swingstore.sqlite-wal").exists());
            std::mem::forget(node);
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(sync.join("resume"))
            .unwrap()
            .write_all(b"go")
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(4), "{rewrite}: {e}");
        assert!(e.contains("opened by another process"), "{rewrite}: {e}");
        assert!(!e.contains("malformed"), "{rewrite}: {e}");
        assert!(!out.exists(), "{rewrite}: an archive was left behind");
    }
}
