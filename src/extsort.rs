//! Sorting key/value entries that may not fit in memory: pack's fallback for a source
//! whose kv section is not in canonical (bytewise key) order. Entries are held up to a
//! byte budget, then sorted and written to an anonymous temp file as a run; reading
//! merges the runs (one entry per run in memory), so memory is the budget plus one entry
//! per run whatever the number of entries. The merged stream can be read any number of
//! times (pack reads it once to hash, once to write). A key seen twice is an error.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result};

/// Bytes of entries held in memory before they are sorted into a run on disk.
pub const DEFAULT_BUDGET: usize = 32 << 20;

/// Accounting overhead per held entry (two `String`s in a tuple).
const ENTRY_OVERHEAD: usize = 64;

/// Collects entries in any order; [`Sorter::finish`] gives them sorted.
pub struct Sorter {
    budget: usize,
    held: Vec<(String, String)>,
    held_bytes: usize,
    runs: Vec<File>,
    /// Names the data in errors (the export data being sorted).
    loc: String,
}

/// The entries, sorted bytewise by key, each key once.
pub struct Sorted {
    held: Vec<(String, String)>,
    runs: Vec<File>,
    loc: String,
}

impl Sorter {
    pub fn new(budget: usize, loc: &str) -> Sorter {
        Sorter {
            budget: budget.max(1),
            held: Vec::new(),
            held_bytes: 0,
            runs: Vec::new(),
            loc: loc.to_string(),
        }
    }

    pub fn push(&mut self, key: String, value: String) -> Result<()> {
        self.held_bytes += key.len() + value.len() + ENTRY_OVERHEAD;
        self.held.push((key, value));
        if self.held_bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn io(&self, e: io::Error) -> Error {
        Error::io_at(format!("{} (sorting it in a temporary file)", self.loc), e)
    }

    fn spill(&mut self) -> Result<()> {
        sort(&mut self.held);
        let f = tempfile::tempfile().map_err(|e| self.io(e))?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        for (k, v) in self.held.drain(..) {
            for s in [k.as_bytes(), v.as_bytes()] {
                let n = u32::try_from(s.len()).map_err(io::Error::other);
                n.and_then(|n| w.write_all(&n.to_le_bytes()))
                    .and_then(|_| w.write_all(s))
                    .map_err(|e| {
                        Error::io_at(format!("{} (sorting it in a temporary file)", self.loc), e)
                    })?;
            }
        }
        let f = w.into_inner().map_err(|e| self.io(e.into_error()))?;
        self.runs.push(f);
        self.held_bytes = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<Sorted> {
        if !self.runs.is_empty() && !self.held.is_empty() {
            self.spill()?;
        }
        sort(&mut self.held);
        Ok(Sorted {
            held: self.held,
            runs: self.runs,
            loc: self.loc,
        })
    }
}

fn sort(v: &mut [(String, String)]) {
    v.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
}

fn read_str(r: &mut impl Read) -> io::Result<Option<String>> {
    let mut n = [0u8; 4];
    match r.read_exact(&mut n) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut b = vec![0u8; u32::from_le_bytes(n) as usize];
    r.read_exact(&mut b)?;
    String::from_utf8(b).map(Some).map_err(io::Error::other)
}

fn read_entry(r: &mut impl Read) -> io::Result<Option<(String, String)>> {
    let Some(k) = read_str(r)? else {
        return Ok(None);
    };
    match read_str(r)? {
        Some(v) => Ok(Some((k, v))),
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "a sorted run ends inside an entry",
        )),
    }
}

impl Sorted {
    /// Number of entries held in memory (the rest are in runs on disk).
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Every entry in key order; a key that occurs twice is an error.
    pub fn for_each(&self, f: &mut dyn FnMut(&str, &str) -> Result<()>) -> Result<()> {
        let dup = |k: &str| {
            Err(Error::invalid(
                self.loc.clone(),
                format!("duplicate export-data key {k:?}"),
            ))
        };
        if self.runs.is_empty() {
            let mut prev: Option<&str> = None;
            for (k, v) in &self.held {
                if prev == Some(k.as_str()) {
                    return dup(k);
                }
                f(k, v)?;
                prev = Some(k);
            }
            return Ok(());
        }
        let io =
            |e: io::Error| Error::io_at(format!("{} (reading back its sorted runs)", self.loc), e);
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::new();
        for (i, run) in self.runs.iter().enumerate() {
            let mut f = run.try_clone().map_err(io)?;
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            let mut r = BufReader::with_capacity(1 << 16, f);
            if let Some((k, v)) = read_entry(&mut r).map_err(io)? {
                heap.push(Reverse((k.into_bytes(), v, i)));
            }
            readers.push(r);
        }
        let mut prev: Option<Vec<u8>> = None;
        while let Some(Reverse((k, v, i))) = heap.pop() {
            let key = String::from_utf8(k).map_err(|e| io(io::Error::other(e)))?;
            if prev.as_deref() == Some(key.as_bytes()) {
                return dup(&key);
            }
            f(&key, &v)?;
            if let Some((k2, v2)) = read_entry(&mut readers[i]).map_err(io)? {
                heap.push(Reverse((k2.into_bytes(), v2, i)));
            }
            prev = Some(key.into_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &Sorted) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        s.for_each(&mut |k, v| {
            out.push((k.to_string(), v.to_string()));
            Ok(())
        })?;
        Ok(out)
    }

    fn entries(n: usize) -> Vec<(String, String)> {
        // a scrambled order, keys with a shared prefix and non-ASCII bytes
        (0..n)
            .map(|i| {
                let j = (i * 7919) % n;
                (format!("kv.v{}.é{j:05}", j % 13), format!("value {j}"))
            })
            .collect()
    }

    #[test]
    fn in_memory_and_spilled_give_the_same_bytewise_order_twice() {
        let input = entries(5000);
        let mut want = input.clone();
        want.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for budget in [usize::MAX, 1, 100, 4096] {
            let mut s = Sorter::new(budget, "test");
            for (k, v) in input.clone() {
                s.push(k, v).unwrap();
            }
            let sorted = s.finish().unwrap();
            if budget < 4096 * 64 {
                assert!(sorted.spilled_runs() > 1, "budget {budget} spills");
            } else {
                assert_eq!(sorted.spilled_runs(), 0);
            }
            assert_eq!(collect(&sorted).unwrap(), want, "budget {budget}");
            assert_eq!(collect(&sorted).unwrap(), want, "budget {budget}, again");
        }
    }

    #[test]
    fn a_key_twice_is_an_error_in_memory_and_across_runs() {
        for budget in [usize::MAX, 200] {
            let mut s = Sorter::new(budget, "data.jsonl");
            for (k, v) in entries(50) {
                s.push(k, v).unwrap();
            }
            s.push("kv.v3.é00003".into(), "other".into()).unwrap();
            let e = collect(&s.finish().unwrap()).unwrap_err().to_string();
            assert!(e.contains("data.jsonl"), "{e}");
            assert!(
                e.contains("duplicate export-data key \"kv.v3.é00003\""),
                "{e}"
            );
        }
    }
}
