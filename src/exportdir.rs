//! Export directories, in both dialects (spec §7.1–§7.3): the JS writer
//! (`export-kernel-db.js`: file names = artifact names, `artifactMode`, data last) and
//! agd's Go writer (`N-sanitised` file names, no `artifactMode`, `blockHeight` omitted
//! when 0). Read-only; every path is checked to stay inside the directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{bail, Error, Result};
use crate::gojson::{self, Entry};
use crate::model::ArtifactMode;
use crate::source::StateSource;

pub const MANIFEST_FILE: &str = "export-manifest.json";
pub const MAX_EXPORT_MANIFEST_BYTES: u64 = 256 << 20;
/// Longest export-data line accepted from an export (the readers' limit, FORMAT.md).
pub const MAX_LINE_BYTES: usize = crate::model::MAX_LINE_BYTES;
/// The Go writer's pseudo-artifact, never a real artifact (spec §7.3).
pub const UNTRUSTED_EXPORT_DATA: &str = "UNTRUSTED-EXPORT-DATA";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Js,
    Go,
}

#[derive(Debug)]
pub struct ExportDir {
    pub dir: PathBuf,
    pub dialect: Dialect,
    pub block_height: Option<u64>,
    pub artifact_mode: Option<ArtifactMode>,
    pub data_file: Option<PathBuf>,
    /// artifact name -> file path
    pub artifacts: BTreeMap<String, PathBuf>,
}

/// Resolve a manifest file name inside `dir`: a single plain component, an existing
/// regular file (not a symlink).
fn inside(dir: &Path, loc: &str, name: &str) -> Result<PathBuf> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.bytes().any(|b| b < 0x20);
    if !ok {
        return bail(
            loc,
            format!("file name {name:?} is not a plain file name inside the export directory"),
        );
    }
    let p = dir.join(name);
    let md = std::fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
    if !md.file_type().is_file() {
        return bail(
            loc,
            format!("{name:?} is not a regular file (symlinks and directories are refused)"),
        );
    }
    Ok(p)
}

impl ExportDir {
    pub fn open(dir: &Path) -> Result<ExportDir> {
        let mpath = dir.join(MANIFEST_FILE);
        let loc = mpath.display().to_string();
        // a regular file (no device or FIFO, no link out of the directory), at most 256 MiB
        let bytes = crate::confine::read_regular(&mpath, Some(dir), MAX_EXPORT_MANIFEST_BYTES)?;
        let v = crate::genesis::parse_strict(&loc, &bytes)?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::invalid(&loc, "not a JSON object"))?;
        let dialect = if obj.contains_key("artifactMode") {
            Dialect::Js
        } else {
            Dialect::Go
        };
        let block_height = match obj.get("blockHeight") {
            None => None,
            Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
                Error::invalid(&loc, "blockHeight is not a non-negative integer")
            })?),
            Some(_) => return bail(&loc, "blockHeight is not a number"),
        }
        .filter(|h| *h > 0);
        let artifact_mode = match obj.get("artifactMode") {
            None => None,
            Some(Value::String(s)) => Some(
                s.parse::<ArtifactMode>()
                    .map_err(|e| Error::invalid(&loc, format!("artifactMode: {e}")))?,
            ),
            Some(_) => return bail(&loc, "artifactMode is not a string"),
        };
        let data_file = match obj.get("data") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(inside(dir, &loc, s)?),
            Some(_) => return bail(&loc, "data is not a string"),
        };
        let mut artifacts = BTreeMap::new();
        match obj.get("artifacts") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for (i, pair) in a.iter().enumerate() {
                    let p = pair.as_array().filter(|p| p.len() == 2);
                    let (Some(name), Some(file)) =
                        (p.and_then(|p| p[0].as_str()), p.and_then(|p| p[1].as_str()))
                    else {
                        return bail(
                            &loc,
                            format!("artifacts[{i}] is not a [name, filename] pair of strings"),
                        );
                    };
                    if name == UNTRUSTED_EXPORT_DATA {
                        return bail(&loc, format!("artifacts[{i}] is the {UNTRUSTED_EXPORT_DATA} pseudo-artifact, which agd refuses in a manifest"));
                    }
                    let path = inside(dir, &loc, file)?;
                    if artifacts.insert(name.to_string(), path).is_some() {
                        return bail(&loc, format!("artifact {name:?} is listed twice; the official importer would silently keep the last file, so the export is ambiguous"));
                    }
                }
            }
            Some(_) => return bail(&loc, "artifacts is not an array"),
        }
        Ok(ExportDir {
            dir: dir.to_path_buf(),
            dialect,
            block_height,
            artifact_mode,
            data_file,
            artifacts,
        })
    }
}

/// Stream the lines of an export-data file, decoding each entry.
pub fn for_each_line(path: &Path, f: &mut dyn FnMut(&str, Entry) -> Result<()>) -> Result<()> {
    let file = crate::confine::open_regular(path, None)?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut lineno = 0u64;
    // the location string is rebuilt in place for each line (no allocation per line)
    let shown = path.display().to_string();
    let mut loc = String::with_capacity(shown.len() + 32);
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        loc.clear();
        {
            use std::fmt::Write as _;
            let _ = write!(loc, "{shown}: line {lineno}");
        }
        if line.len() > MAX_LINE_BYTES {
            return bail(&loc, format!("longer than {MAX_LINE_BYTES} bytes"));
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if body.is_empty() {
            return bail(&loc, "blank line (the official importer fails on it)");
        }
        let e = gojson::decode_line(body).map_err(|e| Error::invalid(&loc, e.to_string()))?;
        f(&loc, e)?;
    }
    Ok(())
}

impl StateSource for ExportDir {
    fn data_location(&self) -> String {
        self.data_file.as_ref().map_or_else(
            || self.dir.join(MANIFEST_FILE).display().to_string(),
            |p| p.display().to_string(),
        )
    }
    fn for_each_entry(&mut self, f: &mut dyn FnMut(&str, Entry) -> Result<()>) -> Result<()> {
        match &self.data_file {
            Some(p) => for_each_line(p, f),
            None => Ok(()),
        }
    }
    fn artifact_names(&self) -> Vec<String> {
        self.artifacts.keys().cloned().collect()
    }
    fn artifact_location(&self, name: &str) -> String {
        self.artifacts
            .get(name)
            .map_or_else(|| name.to_string(), |p| p.display().to_string())
    }
    fn open_artifact(&mut self, name: &str) -> Result<Box<dyn Read + '_>> {
        let p = self
            .artifacts
            .get(name)
            .ok_or_else(|| Error::invalid(name, "no such artifact"))?;
        let f = crate::confine::open_regular(p, None)?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
    fn declared_mode(&self) -> Option<ArtifactMode> {
        self.artifact_mode
    }
    fn export_height(&self) -> Option<u64> {
        self.block_height
    }
}
