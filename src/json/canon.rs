//! The streaming canonicaliser (see the module docs of [`crate::json`]).
//!
//! A large object is read twice: a lax pass indexes its members (decoded key, value byte
//! range), skipping values by bracket counting; then the members are emitted in sorted
//! key order, seeking to each value and parsing it strictly. Every byte of the document is
//! strictly parsed exactly once (when emitted), and an emitted value must end where the
//! lax pass said it ends. An object that fits the read buffer is processed without
//! touching the file again. Memory: the key index of the open objects (one per nesting
//! level); an object past [`SPILL_KEYS`] keys or [`SPILL_BYTES`] of keys is sorted in
//! runs on disk and merged.
//!
//! A small object below the genesis fields (an account, a balance: most of a genesis) is
//! first tried in one strict pass into memory, its members sorted there
//! (`Canon::fast_object`); past [`FAST_MAX`] bytes of input, or at anything wrong, the
//! attempt is dropped and the object read again the two-pass way, so the output and every
//! error are the two-pass reader's. What an attempt holds is bounded: each completed
//! inner value is at most [`FAST_OUT_MAX`] bytes, and one copy of it is held per open
//! level of the attempt (a document nested 127 deep: under 50 MiB, kept for reuse by
//! later attempts).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use super::*;

/// Keys of one object held in memory before the index spills to a sorted run on disk.
pub const SPILL_KEYS: usize = 100_000;
/// Key bytes of one object held in memory before the index spills to disk.
pub const SPILL_BYTES: usize = 16 << 20;
/// Objects up to this size are kept in the read buffer while they are emitted.
const WINDOW: usize = 64 << 10;
/// An object below the genesis fields is first tried in one strict pass into memory
/// (`Canon::fast_object`): given up once it has read more than this many input bytes.
pub const FAST_MAX: u64 = 64 << 10;
/// Output bytes one value of such an attempt may produce (escaping can grow a string
/// sixfold: a raw 0x7f becomes `\u007f`); past it the attempt is given up.
pub const FAST_OUT_MAX: usize = 6 * FAST_MAX as usize;

#[derive(Clone, Copy)]
struct Ent {
    koff: usize,
    klen: usize,
    vstart: u64,
    vend: u64,
}

#[derive(Default)]
struct Level {
    keys: Vec<u8>,
    ents: Vec<Ent>,
    runs: Vec<File>,
}

/// One level of a one-pass attempt: decoded keys, canonical values, and per member
/// (key offset, key length, value offset, value length) into them.
#[derive(Default)]
struct FastLevel {
    keys: Vec<u8>,
    vals: Vec<u8>,
    ents: Vec<(usize, usize, usize, usize)>,
}

/// A one-pass attempt stopped: too large, or anything wrong with the input (the
/// two-pass path then reads it again and reports the error exactly as it always has).
struct GiveUp;

impl From<Error> for GiveUp {
    fn from(_: Error) -> GiveUp {
        GiveUp
    }
}

/// Writes a string's decoded content canonically into a bounded buffer (like
/// [`EmitStr`] into an [`Out`]).
struct VecStr<'a> {
    out: &'a mut Vec<u8>,
}

impl VecStr<'_> {
    #[inline]
    fn room(&self, n: usize) -> Result<()> {
        if self.out.len() + n > FAST_OUT_MAX {
            // any error gives the attempt up; the message is never shown
            return Err(Error::Refused("one-pass attempt over its size".into()));
        }
        Ok(())
    }
}

impl StrSink for VecStr<'_> {
    #[inline]
    fn plain(&mut self, b: &[u8]) -> Result<()> {
        self.room(b.len())?;
        self.out.extend_from_slice(b);
        Ok(())
    }
    #[inline]
    fn ch(&mut self, ch: char) -> Result<()> {
        let mut tmp = [0u8; 4];
        let s = ch.encode_utf8(&mut tmp).as_bytes();
        self.room(6 * s.len())?;
        escape_with(s, |b| {
            self.out.extend_from_slice(b);
            Ok(())
        })
    }
    #[inline]
    fn escapes(&mut self, raw: &[u8]) -> Result<()> {
        self.plain(raw)
    }
}

struct Canon<'a, 'o, R> {
    inp: Input<R>,
    out: &'a mut Out<'o>,
    fields: Fields,
    pool: Vec<Level>,
    pinned: bool,
    marks: Marks,
    /// Try small objects in one pass (always, but in the tests that compare both ways).
    one_pass: bool,
    fast: Vec<FastLevel>,
    fast_out: Vec<u8>,
    stats: Stats,
}

/// What the one-pass attempts did (the tests state the optimisation and its bounds).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Stats {
    /// Objects emitted from one pass, and attempts given up (read again in two).
    one_pass: u64,
    given_up: u64,
    /// Most output bytes one level of an attempt held.
    held: usize,
}

/// Canonicalise the JSON document in `r` (seekable: a file) into `w`. Returns the genesis
/// fields seen, the number of bytes written and their SHA-256 (hex).
pub fn canonicalize<R: Read + Seek>(
    r: R,
    loc: &str,
    w: &mut dyn Write,
) -> Result<(Fields, u64, String)> {
    run(
        r,
        loc,
        Out::new(w, loc).hashing(),
        true,
        &mut Stats::default(),
    )
}

/// [`canonicalize`] without hashing (the writer hashes: [`crate::archive::pipe::HashBehind`]
/// does it on another thread). Returns the fields and the number of bytes written.
pub fn canonicalize_unhashed<R: Read + Seek>(
    r: R,
    loc: &str,
    w: &mut dyn Write,
) -> Result<(Fields, u64)> {
    run(r, loc, Out::new(w, loc), true, &mut Stats::default()).map(|(f, n, _)| (f, n))
}

fn run<R: Read + Seek>(
    r: R,
    loc: &str,
    mut out: Out,
    one_pass: bool,
    stats: &mut Stats,
) -> Result<(Fields, u64, String)> {
    let mut c = Canon {
        inp: Input::new(r, loc),
        out: &mut out,
        fields: Fields::default(),
        pool: Vec::new(),
        pinned: false,
        marks: Marks::default(),
        one_pass,
        fast: Vec::new(),
        fast_out: Vec::new(),
        stats: Stats::default(),
    };
    let r = c.document();
    *stats = c.stats;
    r?;
    let fields = std::mem::take(&mut c.fields);
    let (n, sha) = out.finish()?;
    Ok((fields, n, sha.unwrap_or_default()))
}

impl<R: Read + Seek> Canon<'_, '_, R> {
    /// The whole document: one value, optional whitespace around it, then the end.
    fn document(&mut self) -> Result<()> {
        self.inp.ws()?;
        let root = self.value(Ctx::Root, None, 0)?;
        self.fields.root = Some(root);
        self.inp.ws()?;
        if !self.inp.at_eof()? {
            return Err(self.inp.err("trailing characters after the JSON value"));
        }
        self.out.push(b'\n')
    }
}

/// Lax skip of one value (already validated later by the strict pass).
pub(crate) fn skip_value<R: Read>(inp: &mut Input<R>) -> Result<()> {
    match inp.peek()? {
        None => Err(inp.err("unexpected end of input")),
        Some(b'"' | b'{' | b'[') => skip_nested(inp, None),
        Some(_) => {
            let mut n = 0u64;
            loop {
                let chunk = inp.chunk()?;
                if chunk.is_empty() {
                    break;
                }
                let k = chunk
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'));
                let k2 = k.unwrap_or(chunk.len());
                inp.advance(k2);
                n += k2 as u64;
                if k.is_some() {
                    break;
                }
            }
            if n == 0 {
                return Err(inp.err("expected a JSON value"));
            }
            Ok(())
        }
    }
}

/// Skip a string, object or array (the next byte opens it) by bracket counting, strings
/// handled inline: one loop over the buffer, 8 bytes at a time between the bytes that
/// matter (the per-string `memchr2` this replaces cost more than it saved on the short
/// strings a genesis is made of: addresses, amounts, denoms).
fn skip_nested<R: Read>(inp: &mut Input<R>, mut marks: Option<&mut Marks>) -> Result<()> {
    let mut depth = 0usize;
    let mut in_str = false;
    // bytes at the start of the next chunk already accounted for (an escape's 2nd byte)
    let mut from = 0;
    loop {
        inp.chunk()?;
        let at = inp.offset();
        let chunk = inp.chunk()?;
        let n = chunk.len();
        if n == 0 {
            return Err(inp.err(if in_str {
                "end of input inside a string"
            } else {
                "unexpected end of input inside an object or array"
            }));
        }
        let mut i = from;
        from = 0;
        while i < n {
            if in_str {
                i += string_run(&chunk[i..]);
                if i == n {
                    break;
                }
                if chunk[i] == b'"' {
                    in_str = false;
                    i += 1;
                    if depth == 0 {
                        inp.advance(i);
                        return Ok(());
                    }
                } else if i + 1 < n {
                    i += 2;
                } else {
                    // a backslash ends the buffer: its escaped byte must follow
                    inp.advance(i);
                    if inp.ensure(2)? < 2 {
                        return Err(inp.err("end of input inside a string"));
                    }
                    from = 2;
                    i = 0;
                    break;
                }
            } else {
                i += structure_run(&chunk[i..]);
                if i == n {
                    break;
                }
                match chunk[i] {
                    b'"' => in_str = true,
                    b'{' | b'[' => {
                        depth += 1;
                        if let Some(m) = &mut marks {
                            m.open(depth, at + i as u64, chunk[i] == b'{');
                        }
                    }
                    b'}' | b']' => {
                        if let Some(m) = &mut marks {
                            m.close(depth, at + i as u64 + 1);
                        }
                        depth -= 1;
                        if depth == 0 {
                            inp.advance(i + 1);
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        inp.advance(i);
    }
}

/// Where the large containers that are object members end, as found by a lax skip: the
/// objects holding them are indexed later (each object's index skips its members'
/// values), and a recorded end spares that second skip. Without it every byte was
/// skipped once per enclosing object (root, app_state, module, ...). Entries are taken
/// when used; memory is capped by [`MARKS_MAX`] and by recording only [`MARK_MIN`]-byte
/// containers (the lax end is the same whichever enclosing skip found it: a skip that
/// reaches a bracket outside a string is in the state a skip starting there begins in).
#[derive(Default)]
struct Marks {
    /// The open containers of one skip (its first [`MAX_DEPTH`] + 1 levels).
    stack: Vec<Open>,
    ends: std::collections::HashMap<u64, u64>,
}

struct Open {
    at: u64,
    is_obj: bool,
    /// A member of an object below the skipped value (one whose index will look it up).
    record: bool,
}

/// Containers smaller than this are skipped again rather than recorded.
const MARK_MIN: u64 = 64 << 10;
/// Recorded container ends held at most.
const MARKS_MAX: usize = 1 << 18;

impl Marks {
    #[inline]
    fn open(&mut self, depth: usize, at: u64, is_obj: bool) {
        if depth == 1 {
            self.stack.clear();
        }
        if depth == self.stack.len() + 1 && depth <= MAX_DEPTH + 1 {
            let record = self.stack.last().is_some_and(|o| o.is_obj);
            self.stack.push(Open { at, is_obj, record });
        }
    }
    #[inline]
    fn close(&mut self, depth: usize, end: u64) {
        if depth == self.stack.len() {
            let o = self.stack.pop().expect("depth == len >= 1");
            if o.record && end - o.at >= MARK_MIN && self.ends.len() < MARKS_MAX {
                self.ends.insert(o.at, end);
            }
        }
    }
}

/// Bytes before the first `"` or `\\` of `s` (all of it if none).
#[inline]
fn string_run(s: &[u8]) -> usize {
    swar_run(
        s,
        |w| eq_bytes(w, b'"') | eq_bytes(w, b'\\'),
        |b| b == b'"' || b == b'\\',
    )
}

/// Bytes before the first `"`, `{`, `}`, `[` or `]` of `s` (all of it if none): outside
/// strings. (`| 0x20` maps `[` and `]`, and only them, onto `{` and `}`.)
#[inline]
fn structure_run(s: &[u8]) -> usize {
    swar_run(
        s,
        |w| {
            let f = w | (LO * 0x20);
            eq_bytes(w, b'"') | eq_bytes(f, b'{') | eq_bytes(f, b'}')
        },
        |b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']'),
    )
}

/// One spilled key: (key, value start, value end, run).
#[derive(PartialEq, Eq)]
struct Head(Vec<u8>, u64, u64, usize);

impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        // min-heap on (key, run)
        o.0.cmp(&self.0).then(o.3.cmp(&self.3))
    }
}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

fn read_run(r: &mut BufReader<File>, run: usize, loc: &str) -> Result<Option<Head>> {
    let mut l = [0u8; 4];
    match r.read_exact(&mut l) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(Error::io_at(loc, e)),
    }
    let mut k = vec![0u8; u32::from_le_bytes(l) as usize];
    let mut se = [0u8; 16];
    r.read_exact(&mut k)
        .and_then(|_| r.read_exact(&mut se))
        .map_err(|e| Error::io_at(loc, e))?;
    let s = u64::from_le_bytes(se[..8].try_into().expect("8 bytes"));
    let e = u64::from_le_bytes(se[8..].try_into().expect("8 bytes"));
    Ok(Some(Head(k, s, e, run)))
}

impl<R: Read + Seek> Canon<'_, '_, R> {
    fn value(&mut self, ctx: Ctx, slot: Option<Slot>, depth: usize) -> Result<Kind> {
        let b = match self.inp.peek()? {
            Some(b) => b,
            None => return Err(self.inp.err("unexpected end of input")),
        };
        match b {
            b'{' => {
                if let Some(s) = slot {
                    self.fields.slot_mut(s, Kind::Object);
                }
                self.object(ctx, depth + 1)?;
                Ok(Kind::Object)
            }
            b'[' => {
                let n = self.array(depth + 1)?;
                if let Some(s) = slot {
                    self.fields.slot_mut(s, Kind::Array).items = n;
                }
                Ok(Kind::Array)
            }
            b'"' => {
                let cap = slot.map(|s| self.fields.slot_mut(s, Kind::String));
                let mut sink = EmitStr {
                    out: Some(&mut *self.out),
                    cap,
                };
                sink.out.as_mut().expect("set").push(b'"')?;
                parse_string(&mut self.inp, &mut sink, false)?;
                self.out.push(b'"')?;
                Ok(Kind::String)
            }
            b'-' | b'0'..=b'9' => {
                let mut cap = slot.map(|s| self.fields.slot_mut(s, Kind::Number));
                let out = &mut *self.out;
                parse_number(
                    &mut self.inp,
                    &mut |b| {
                        if let Some(c) = &mut cap {
                            c.text(b);
                        }
                        out.put(b)
                    },
                    false,
                )?;
                Ok(Kind::Number)
            }
            b't' | b'f' | b'n' => {
                let out = &mut *self.out;
                literal(&mut self.inp, &mut self.fields, slot, &mut |b| out.put(b))
            }
            c => Err(self
                .inp
                .err(format!("expected a JSON value, found {}", show(c)))),
        }
    }

    fn array(&mut self, depth: usize) -> Result<u64> {
        check_depth(&self.inp, depth)?;
        self.inp.expect(b'[')?;
        self.out.push(b'[')?;
        self.inp.ws()?;
        let mut n = 0u64;
        if self.inp.peek()? == Some(b']') {
            self.inp.advance(1);
            self.out.push(b']')?;
            return Ok(0);
        }
        loop {
            if n > 0 {
                self.out.push(b',')?;
            }
            self.inp.ws()?;
            self.value(Ctx::Other, None, depth)?;
            n += 1;
            self.inp.ws()?;
            if self.inp.sep(b']')? {
                break;
            }
        }
        self.out.push(b']')?;
        Ok(n)
    }

    fn object(&mut self, ctx: Ctx, depth: usize) -> Result<()> {
        check_depth(&self.inp, depth)?;
        let start = self.inp.offset();
        if !self.pinned {
            self.inp.window(WINDOW)?;
        }
        // Below the genesis fields (nothing to capture), a small object is read once,
        // strictly, into memory and emitted sorted from there; one known to be large (a
        // recorded end) or found large goes the two-pass way below, as does any error.
        let known_large = self.marks.ends.remove(&start).is_some();
        if self.one_pass && ctx == Ctx::Other && !known_large {
            let mut buf = std::mem::take(&mut self.fast_out);
            buf.clear();
            let r = self.fast_object(&mut buf, depth, start + FAST_MAX);
            if r.is_ok() {
                self.out.put(&buf)?;
            }
            self.fast_out = buf;
            if r.is_ok() {
                self.stats.one_pass += 1;
                return Ok(());
            }
            self.stats.given_up += 1;
            self.inp.seek_to(start)?;
        }
        let mut lv = if self.pool.len() > depth {
            std::mem::take(&mut self.pool[depth])
        } else {
            Level::default()
        };
        lv.keys.clear();
        lv.ents.clear();
        lv.runs.clear();
        let r = self.index(&mut lv);
        let r = r.and_then(|end| {
            let pin_here = !self.pinned && start >= self.inp.base;
            if pin_here {
                self.pinned = true;
            }
            let r = self
                .emit_members(&mut lv, ctx, depth)
                .and_then(|_| self.inp.seek_to(end));
            if pin_here {
                self.pinned = false;
            }
            r
        });
        if self.pool.len() <= depth {
            self.pool.resize_with(depth + 1, Level::default);
        }
        lv.runs.clear();
        self.pool[depth] = lv;
        r
    }

    /// The lax pass: index the members; returns the offset after `}`.
    fn index(&mut self, lv: &mut Level) -> Result<u64> {
        self.inp.expect(b'{')?;
        self.inp.ws()?;
        if self.inp.peek()? == Some(b'}') {
            self.inp.advance(1);
            return Ok(self.inp.offset());
        }
        loop {
            let (koff, klen) = self.key(&mut lv.keys)?;
            self.inp.ws()?;
            self.inp.expect(b':')?;
            self.inp.ws()?;
            let vstart = self.inp.offset();
            if let Some(&end) = self.marks.ends.get(&vstart) {
                // an object's mark stays until its own emission reads it (then it is
                // not tried in one pass); an array's goes now
                if self.inp.peek()? != Some(b'{') {
                    self.marks.ends.remove(&vstart);
                }
                self.inp.seek_to(end)?;
            } else if matches!(self.inp.peek()?, Some(b'{' | b'[')) {
                skip_nested(&mut self.inp, Some(&mut self.marks))?;
            } else {
                skip_value(&mut self.inp)?;
            }
            lv.ents.push(Ent {
                koff,
                klen,
                vstart,
                vend: self.inp.offset(),
            });
            if lv.ents.len() >= SPILL_KEYS || lv.keys.len() >= SPILL_BYTES {
                self.spill(lv)?;
            }
            self.inp.ws()?;
            if self.inp.sep(b'}')? {
                return Ok(self.inp.offset());
            }
        }
    }

    /// An object key (after optional whitespace), decoded and appended to `keys`:
    /// returns its offset and length there.
    fn key(&mut self, keys: &mut Vec<u8>) -> Result<(usize, usize)> {
        self.inp.ws()?;
        if self.inp.peek()? != Some(b'"') {
            return Err(self.inp.err("expected an object key (a string)"));
        }
        let koff = keys.len();
        let mut ks = KeySink {
            buf: keys,
            max: koff + MAX_KEY_BYTES,
            too_long: false,
        };
        parse_string(&mut self.inp, &mut ks, false)?;
        if ks.too_long {
            return Err(self.inp.err(format!(
                "an object key longer than {MAX_KEY_BYTES} bytes (agar's limit)"
            )));
        }
        Ok((koff, keys.len() - koff))
    }

    fn sort(lv: &mut Level) {
        let keys = &lv.keys;
        lv.ents.sort_unstable_by(|a, b| {
            keys[a.koff..a.koff + a.klen]
                .cmp(&keys[b.koff..b.koff + b.klen])
                .then(a.vstart.cmp(&b.vstart))
        });
    }

    fn spill(&mut self, lv: &mut Level) -> Result<()> {
        Self::sort(lv);
        let loc = format!("{} (spilling a wide object's key index)", self.inp.loc);
        let f = tempfile::tempfile().map_err(|e| Error::io_at(&loc, e))?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        for e in &lv.ents {
            let k = &lv.keys[e.koff..e.koff + e.klen];
            w.write_all(&(k.len() as u32).to_le_bytes())
                .and_then(|_| w.write_all(k))
                .and_then(|_| w.write_all(&e.vstart.to_le_bytes()))
                .and_then(|_| w.write_all(&e.vend.to_le_bytes()))
                .map_err(|e| Error::io_at(&loc, e))?;
        }
        let mut f = w
            .into_inner()
            .map_err(|e| Error::io_at(&loc, e.into_error()))?;
        f.rewind().map_err(|e| Error::io_at(&loc, e))?;
        lv.runs.push(f);
        lv.keys.clear();
        lv.ents.clear();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn member(
        &mut self,
        key: &[u8],
        prev: Option<&[u8]>,
        vstart: u64,
        vend: u64,
        ctx: Ctx,
        depth: usize,
    ) -> Result<()> {
        if let Some(p) = prev {
            if key == p {
                let k = String::from_utf8_lossy(key).into_owned();
                self.inp.seek_to(vstart)?;
                return Err(self.inp.err(format!("duplicate object key {k:?}")));
            }
            self.out.push(b',')?;
        }
        write_string(self.out, key)?;
        self.out.push(b':')?;
        let (cctx, slot) = ctx.child(key);
        self.inp.seek_to(vstart)?;
        self.value(cctx, slot, depth)?;
        if self.inp.offset() != vend {
            return Err(self.inp.err("expected ',' or '}' after an object member"));
        }
        Ok(())
    }

    /// One strict pass over a small object (the next byte opens it) into `out`, members
    /// sorted: the one-pass form of [`Canon::index`] + [`Canon::emit_members`], giving up
    /// past `limit` (an input offset) or at anything a strict parse or the sort refuses.
    fn fast_object(&mut self, out: &mut Vec<u8>, depth: usize, limit: u64) -> Result<(), GiveUp> {
        check_depth(&self.inp, depth)?;
        self.inp.expect(b'{')?;
        self.inp.ws()?;
        if self.inp.peek()? == Some(b'}') {
            self.inp.advance(1);
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        if self.fast.len() <= depth {
            self.fast.resize_with(depth + 1, FastLevel::default);
        }
        let mut lv = std::mem::take(&mut self.fast[depth]);
        lv.keys.clear();
        lv.vals.clear();
        lv.ents.clear();
        let r = self.fast_members(&mut lv, depth, limit);
        self.stats.held = self.stats.held.max(lv.vals.len());
        let r = r.and_then(|()| {
            let keys = &lv.keys;
            lv.ents
                .sort_unstable_by(|a, b| keys[a.0..a.0 + a.1].cmp(&keys[b.0..b.0 + b.1]));
            out.push(b'{');
            for (i, &(ko, kl, vo, vl)) in lv.ents.iter().enumerate() {
                let key = &keys[ko..ko + kl];
                if i > 0 {
                    let p = lv.ents[i - 1];
                    if key == &keys[p.0..p.0 + p.1] {
                        return Err(GiveUp); // a duplicate: reported by the two-pass path
                    }
                    out.push(b',');
                }
                out.push(b'"');
                escape_with(key, |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })?;
                out.extend_from_slice(b"\":");
                out.extend_from_slice(&lv.vals[vo..vo + vl]);
            }
            out.push(b'}');
            Ok(())
        });
        self.fast[depth] = lv;
        r
    }

    fn fast_members(&mut self, lv: &mut FastLevel, depth: usize, limit: u64) -> Result<(), GiveUp> {
        loop {
            let (koff, klen) = self.key(&mut lv.keys)?;
            self.inp.ws()?;
            self.inp.expect(b':')?;
            self.inp.ws()?;
            let voff = lv.vals.len();
            self.fast_value(&mut lv.vals, depth, limit)?;
            lv.ents.push((koff, klen, voff, lv.vals.len() - voff));
            self.inp.ws()?;
            if self.inp.offset() > limit {
                return Err(GiveUp);
            }
            if self.inp.sep(b'}')? {
                return Ok(());
            }
        }
    }

    fn fast_array(&mut self, out: &mut Vec<u8>, depth: usize, limit: u64) -> Result<(), GiveUp> {
        check_depth(&self.inp, depth)?;
        self.inp.expect(b'[')?;
        out.push(b'[');
        self.inp.ws()?;
        if self.inp.peek()? == Some(b']') {
            self.inp.advance(1);
            out.push(b']');
            return Ok(());
        }
        let mut first = true;
        loop {
            if !first {
                out.push(b',');
            }
            first = false;
            self.inp.ws()?;
            self.fast_value(out, depth, limit)?;
            self.inp.ws()?;
            if self.inp.offset() > limit {
                return Err(GiveUp);
            }
            if self.inp.sep(b']')? {
                break;
            }
        }
        out.push(b']');
        Ok(())
    }

    /// [`Canon::value`] for a one-pass attempt (no fields: below them).
    fn fast_value(&mut self, out: &mut Vec<u8>, depth: usize, limit: u64) -> Result<(), GiveUp> {
        match self.inp.peek()? {
            Some(b'{') => self.fast_object(out, depth + 1, limit),
            Some(b'[') => self.fast_array(out, depth + 1, limit),
            Some(b'"') => {
                out.push(b'"');
                parse_string(&mut self.inp, &mut VecStr { out: &mut *out }, false)?;
                out.push(b'"');
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let mut sink = VecStr { out };
                parse_number(&mut self.inp, &mut |b| sink.plain(b), false)?;
                Ok(())
            }
            Some(b't' | b'f' | b'n') => {
                out.extend_from_slice(parse_literal(&mut self.inp)?);
                Ok(())
            }
            _ => Err(GiveUp),
        }
    }

    fn emit_members(&mut self, lv: &mut Level, ctx: Ctx, depth: usize) -> Result<()> {
        self.out.push(b'{')?;
        if lv.runs.is_empty() {
            Self::sort(lv);
            for i in 0..lv.ents.len() {
                let e = lv.ents[i];
                let key = &lv.keys[e.koff..e.koff + e.klen];
                let prev = (i > 0).then(|| {
                    let p = lv.ents[i - 1];
                    &lv.keys[p.koff..p.koff + p.klen]
                });
                self.member(key, prev, e.vstart, e.vend, ctx, depth)?;
            }
        } else {
            if !lv.ents.is_empty() {
                self.spill(lv)?;
            }
            let loc = format!("{} (merging a wide object's key index)", self.inp.loc);
            let mut readers: Vec<BufReader<File>> = lv
                .runs
                .drain(..)
                .map(|f| BufReader::with_capacity(1 << 16, f))
                .collect();
            let mut heap = BinaryHeap::new();
            for (i, r) in readers.iter_mut().enumerate() {
                if let Some(h) = read_run(r, i, &loc)? {
                    heap.push(h);
                }
            }
            let mut prev: Option<Vec<u8>> = None;
            while let Some(Head(k, s, e, run)) = heap.pop() {
                self.member(&k, prev.as_deref(), s, e, ctx, depth)?;
                prev = Some(k);
                if let Some(h) = read_run(&mut readers[run], run, &loc)? {
                    heap.push(h);
                }
            }
        }
        self.out.push(b'}')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// The output and the captured chain_id, or the error's text.
    type Outcome = std::result::Result<(Vec<u8>, Option<Vec<u8>>), String>;

    fn both_ways(doc: &[u8]) -> [Outcome; 2] {
        [true, false].map(|one_pass| {
            let mut w = Vec::new();
            run(
                Cursor::new(doc),
                "t",
                Out::new(&mut w, "t"),
                one_pass,
                &mut Stats::default(),
            )
            .map(|(f, _, _)| (w, f.get(Slot::ChainId).map(|c| c.text.clone())))
            .map_err(|e| e.to_string())
        })
    }

    /// A small deterministic generator of JSON text, valid or nearly so: objects with
    /// keys out of order (sometimes repeated), strings with every escape spelling,
    /// non-ASCII, raw 0x7f, numbers in every form, whitespace anywhere.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
        fn ws(&mut self, o: &mut String) {
            if self.next(4) == 0 {
                o.push_str([" ", "\n", "\t ", "\r\n  "][self.next(4) as usize]);
            }
        }
        fn string(&mut self, o: &mut String) {
            const PIECES: [&str; 24] = [
                "a",
                "b",
                "c",
                "e",
                "\\\"",
                "\\\\",
                "\\/",
                "\\n",
                "\\t",
                "\\r",
                "\\b",
                "\\f",
                "\\u0001",
                "\\u001F",
                "\\u00e9",
                "\\u0041",
                "\\ud83d\\ude00",
                "\u{7f}",
                "é",
                "😀",
                "\u{2028}",
                "<&>",
                "\\u007f",
                "zz",
            ];
            o.push('"');
            for _ in 0..self.next(6) {
                o.push_str(PIECES[self.next(24) as usize]);
            }
            o.push('"');
        }
        fn value(&mut self, o: &mut String, depth: u32) {
            self.ws(o);
            match self.next(if depth > 4 { 4 } else { 7 }) {
                0 => self.string(o),
                1 => o.push_str(
                    [
                        "0", "-0", "12", "1.50", "1e5", "1E+5", "-2.5e-3", "01", "1.",
                    ][self.next(9) as usize],
                ),
                2 => o.push_str(["true", "false", "null"][self.next(3) as usize]),
                3 => o.push_str(["[]", "{}", "\"\""][self.next(3) as usize]),
                4 | 5 => {
                    o.push('{');
                    let n = self.next(6);
                    for i in 0..n {
                        if i > 0 {
                            o.push(',');
                        }
                        self.ws(o);
                        self.string(o);
                        self.ws(o);
                        o.push(':');
                        self.value(o, depth + 1);
                        self.ws(o);
                    }
                    o.push('}');
                }
                _ => {
                    o.push('[');
                    for i in 0..self.next(5) {
                        if i > 0 {
                            o.push(',');
                        }
                        self.value(o, depth + 1);
                    }
                    self.ws(o);
                    o.push(']');
                }
            }
            self.ws(o);
        }
    }

    #[test]
    fn one_pass_and_two_pass_objects_agree_on_output_fields_and_errors() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let mut seen_ok = 0;
        let mut seen_err = 0;
        for i in 0..4000 {
            let mut doc = String::from("{\"chain_id\":\"c\\\"1\",\"x\":");
            g.value(&mut doc, 0);
            doc.push('}');
            let mut bytes = doc.into_bytes();
            match i % 4 {
                // damaged: cut short, or one byte changed
                1 => bytes.truncate(g.next(bytes.len() as u64) as usize),
                2 => {
                    let at = g.next(bytes.len() as u64) as usize;
                    bytes[at] = b"{}[],:\"\\ 0a\x7f\xff"[g.next(13) as usize];
                }
                _ => {}
            }
            let [one, two] = both_ways(&bytes);
            assert_eq!(one, two, "on {:?}", String::from_utf8_lossy(&bytes));
            if one.is_ok() {
                seen_ok += 1;
            } else {
                seen_err += 1;
            }
        }
        // the generator makes both kinds in numbers
        assert!(
            seen_ok > 800 && seen_err > 800,
            "{seen_ok} ok, {seen_err} refused"
        );
    }

    #[test]
    fn objects_past_the_one_pass_limits_are_read_the_two_pass_way() {
        let long = |c: &str, n: usize| c.repeat(n);
        for doc in [
            // input just under and over FAST_MAX in one object
            format!(
                "{{\"x\":{{\"b\":\"{}\",\"a\":1}}}}",
                long("s", FAST_MAX as usize - 20)
            ),
            format!(
                "{{\"x\":{{\"b\":\"{}\",\"a\":1}}}}",
                long("s", FAST_MAX as usize + 20)
            ),
            // output over FAST_OUT_MAX from fewer input bytes (0x7f is written in six)
            format!(
                "{{\"x\":{{\"b\":\"{}\",\"a\":1}}}}",
                long("\u{7f}", FAST_MAX as usize - 100)
            ),
            // a duplicate key in an object, found by the sort
            "{\"x\":{\"b\":1,\"a\":2,\"b\":3}}".to_string(),
            format!(
                "{{\"x\":[{{\"b\":\"{}\",\"a\":1,\"a\":2}}]}}",
                long("s", 100)
            ),
        ] {
            let [one, two] = both_ways(doc.as_bytes());
            assert_eq!(one, two);
        }
        // nesting deeper than MAX_DEPTH inside a small object, by objects or arrays: the
        // depth counts inside an attempt as it does outside
        for (open, close) in [("{\"a\":", "}"), ("[", "]")] {
            for extra in [0, 1] {
                // the root and x's object are levels 1 and 2
                let n = MAX_DEPTH - 2 + extra;
                let doc = format!("{{\"x\":{{\"y\":{}1{}}}}}", open.repeat(n), close.repeat(n));
                let [one, two] = both_ways(doc.as_bytes());
                assert_eq!(one, two);
                assert_eq!(one.is_err(), extra == 1, "{one:?}");
            }
        }
        let [one, _] = both_ways(b"{\"x\":{\"b\":1,\"a\":2,\"b\":3}}");
        assert!(one.unwrap_err().contains("duplicate object key \"b\""));
        let [one, _] = both_ways(b"{\"x\":{\"b\":[1,{\"d\":1,\"c\":\"\\u00e9\\n\"}],\"a\":2}}");
        assert_eq!(
            one.unwrap().0,
            "{\"x\":{\"a\":2,\"b\":[1,{\"c\":\"\u{e9}\\n\",\"d\":1}]}}\n".as_bytes()
        );
    }

    fn stats(doc: &[u8]) -> Stats {
        let mut st = Stats::default();
        let _ = run(
            Cursor::new(doc),
            "t",
            Out::new(&mut Vec::new(), "t"),
            true,
            &mut st,
        );
        st
    }

    #[test]
    fn small_objects_go_one_pass_and_large_ones_two_within_their_bounds() {
        let st = |one_pass, given_up| Stats {
            one_pass,
            given_up,
            held: 0,
        };
        let held0 = |mut s: Stats| {
            s.held = 0;
            s
        };
        // the root and app_state-like members at the top are read two ways (fields);
        // below them every small object goes one pass, nested ones inside the attempt
        let doc = b"{\"chain_id\":\"c\",\"x\":[{\"b\":1,\"a\":2},{\"d\":{\"c\":1}}],\"y\":{}}";
        assert_eq!(held0(stats(doc)), st(3, 0));
        // every kind of value inside a small object
        let doc = b"{\"x\":{\"e\":[1,\"s\",true,{\"f\":null},[]],\"d\":false,\"c\":-1.5e+3}}";
        assert_eq!(held0(stats(doc)), st(1, 0));
        // many members, or many elements, past the input limit: given up near the limit,
        // not read whole
        let many = |open: &str, item: &dyn Fn(usize) -> String, close: &str| {
            let items: Vec<String> = (0..100_000).map(item).collect();
            format!("{{\"x\":{open}{}{close}}}", items.join(","))
        };
        for doc in [
            many("{", &|i| format!("\"k{i}\":{i}"), "}"),
            many("{\"a\":[", &|i| format!("{i}"), "]}"),
        ] {
            let s = stats(doc.as_bytes());
            assert!(s.given_up == 1 && s.held < FAST_MAX as usize, "{s:?}");
        }
        // input just under the limit: one pass; just over: given up, then two passes
        let obj = |n: usize| format!("{{\"x\":{{\"b\":\"{}\",\"a\":1}}}}", "s".repeat(n));
        let under = FAST_MAX as usize - 20;
        assert_eq!(held0(stats(obj(under).as_bytes())), st(1, 0));
        assert_eq!(
            held0(stats(obj(FAST_MAX as usize + 20).as_bytes())),
            st(0, 1)
        );
        // to the byte: the object starts at 5 and its last member ends 13 bytes after the
        // long string, so 13 fewer than the limit ends it exactly at the limit (allowed)
        let exact = FAST_MAX as usize - 13;
        assert_eq!(held0(stats(obj(exact).as_bytes())), st(1, 0));
        assert_eq!(held0(stats(obj(exact + 1).as_bytes())), st(0, 1));
        // one long value is cut off at the output bound, not read whole into memory
        // (plain text is handed over a buffer's run at a time, so it stops at the last
        // run that fits); 0x7f (six output bytes each) fills it to the last six, an escaped é (two bytes, with
        // room kept for six per byte) stops short of it
        let s = stats(obj(4 * FAST_OUT_MAX).as_bytes());
        assert!(s.given_up == 1 && s.held <= FAST_OUT_MAX, "{s:?}");
        // the opening quote and five plain bytes, then six-byte escapes up to the bound
        // exactly (a write that ends at the bound is allowed)
        let del = format!(
            "{{\"x\":{{\"b\":\"sssss{}\"}}}}",
            "\u{7f}".repeat(FAST_OUT_MAX)
        );
        assert_eq!((FAST_OUT_MAX - 6) % 6, 0);
        let s = stats(del.as_bytes());
        assert_eq!((s.given_up, s.held), (1, FAST_OUT_MAX));
        let e = format!("{{\"x\":{{\"b\":\"{}\"}}}}", "\\u00e9".repeat(FAST_OUT_MAX));
        let s = stats(e.as_bytes());
        assert_eq!(s.given_up, 1);
        assert!(
            s.held <= FAST_OUT_MAX - 10 && s.held > FAST_OUT_MAX - 14,
            "{s:?}"
        );
        // an object whose end a lax skip recorded (a large member of an object indexed
        // the two-pass way) is not tried in one pass
        let big = format!(
            "{{\"x\":{{\"m\":{{\"k\":[\"{}\"],\"a\":1}},\"z\":0}}}}",
            "s".repeat(FAST_MAX as usize)
        );
        let s = stats(big.as_bytes());
        assert_eq!((s.one_pass, s.given_up), (0, 1), "{s:?}");
    }
}
