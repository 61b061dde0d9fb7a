//! One streaming pass over a canonical document: check, gather, copy, edit.
//!
//! [`walk()`] reads a document that must already be canonical (an archive's genesis
//! member, or the canonicaliser's output) and refuses anything else: whitespace, keys not
//! strictly increasing (bytewise, decoded), escapes or numbers spelled otherwise than the
//! canonicaliser writes them, anything after the final newline. While it reads it gathers
//! the genesis [`Fields`] and, given a writer, writes the document out again with:
//!
//! * [`Edit`]s at JSON-pointer paths: set (replace, add an object member at its sorted
//!   position, replace an array element, append with `-` or the array's length) or delete
//!   (an object member, an array element). Paths of one walk must be distinct and none may
//!   be a prefix of another; apply dependent edits in successive walks. The old value is
//!   reported as its canonical bytes (first [`OLD_BYTES`]) and size.
//! * an array-element [`Hook`] at one path: every element of that array is materialised as
//!   its canonical bytes (at most [`MAX_ELEMENT_BYTES`]), handed to the callback, which may
//!   keep, replace (with canonical bytes) or remove it. One element is held at a time, so
//!   an array of a million accounts costs one account of memory. Edits of validators or
//!   accounts by their content (issue 17) plug in here: parse the element with serde_json,
//!   change it, write it back with [`crate::genesis::canonical_bytes`].
//!
//! The output of a walk over canonical input with canonical replacement values is
//! canonical.

use std::io::{Read, Write};

use super::*;

/// Bytes of an edited value's old canonical form kept for reporting.
pub const OLD_BYTES: usize = 256;
/// Largest array element a [`Hook`] materialises.
pub const MAX_ELEMENT_BYTES: usize = 256 << 20;

#[derive(Debug, Clone)]
pub enum Action {
    /// The new value's canonical bytes (no final newline).
    Set(Vec<u8>),
    Delete,
}

#[derive(Debug, Clone)]
pub struct Edit {
    /// The pointer as the user wrote it (for messages).
    pub pointer: String,
    pub tokens: Vec<String>,
    pub action: Action,
}

/// What a hook does with one array element.
pub enum Element {
    Keep,
    Replace(Vec<u8>),
    Remove,
    /// Write these elements (canonical bytes each) in this one's place, in order: none,
    /// one or several, the original (the bytes the hook was given) among them or not. How
    /// an entry is inserted at its sorted position (issue 17: new balances, accounts,
    /// delegations go where the SDK's export puts them) with one element held at a time.
    Splice(Vec<Vec<u8>>),
}

/// A hook's callback: (element index, canonical bytes) -> what to do with it.
pub type HookFn<'h> = dyn FnMut(u64, &[u8]) -> Result<Element> + 'h;

pub struct Hook<'h> {
    pub tokens: Vec<String>,
    pub f: &'h mut dyn FnMut(u64, &[u8]) -> Result<Element>,
}

/// The old value an edit found: its canonical bytes (the first [`OLD_BYTES`]) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Old {
    pub head: Vec<u8>,
    pub size: u64,
}

impl Old {
    /// At most `max` bytes of the canonical text, with the size when cut.
    pub fn render(&self, max: usize) -> String {
        let s = String::from_utf8_lossy(&self.head);
        if self.size as usize <= max && self.head.len() as u64 == self.size {
            return s.into_owned();
        }
        let mut cut = max.min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… ({} bytes)", &s[..cut], self.size)
    }
}

pub struct Walked {
    pub fields: Fields,
    /// Bytes read.
    pub size: u64,
    /// Bytes written and their SHA-256 (hex), when a writer was given.
    pub out_size: u64,
    pub out_sha256: Option<String>,
    /// Per edit: the value it replaced or deleted.
    pub old: Vec<Option<Old>>,
}

struct Node {
    token: Vec<u8>,
    edit: Option<usize>,
    hook: Option<usize>,
    children: Vec<Node>,
}

impl Node {
    fn new(token: &[u8]) -> Node {
        Node {
            token: token.to_vec(),
            edit: None,
            hook: None,
            children: Vec::new(),
        }
    }
    fn at(&mut self, toks: &[String]) -> &mut Node {
        let mut n = self;
        for t in toks {
            let i = match n.children.iter().position(|c| c.token == t.as_bytes()) {
                Some(i) => i,
                None => {
                    n.children.push(Node::new(t.as_bytes()));
                    n.children.len() - 1
                }
            };
            n = &mut n.children[i];
        }
        n
    }
    fn has_edit(&self) -> bool {
        self.edit.is_some() || self.children.iter().any(Node::has_edit)
    }
    fn sort(&mut self) {
        self.children.sort_by(|a, b| a.token.cmp(&b.token));
        for c in &mut self.children {
            c.sort();
        }
    }
}

struct Cap {
    buf: Vec<u8>,
    size: u64,
    limit: usize,
}

struct Em<'o> {
    out: Option<Out<'o>>,
    mute: u32,
    cap: Option<Cap>,
}

impl Em<'_> {
    #[inline]
    fn put(&mut self, b: &[u8]) -> Result<()> {
        if self.mute == 0 {
            if let Some(o) = &mut self.out {
                o.put(b)?;
            }
        }
        if let Some(c) = &mut self.cap {
            c.size += b.len() as u64;
            let room = c.limit.saturating_sub(c.buf.len());
            c.buf.extend_from_slice(&b[..b.len().min(room)]);
        }
        Ok(())
    }
}

struct StrTo<'a, 'o> {
    em: &'a mut Em<'o>,
    field: Option<&'a mut Captured>,
}

impl StrSink for StrTo<'_, '_> {
    #[inline]
    fn plain(&mut self, b: &[u8]) -> Result<()> {
        if let Some(f) = &mut self.field {
            f.text(b);
        }
        self.em.put(b)
    }
    fn ch(&mut self, c: char) -> Result<()> {
        let mut tmp = [0u8; 4];
        let s = c.encode_utf8(&mut tmp).as_bytes();
        if let Some(f) = &mut self.field {
            f.text(s);
        }
        escape_with(s, |b| self.em.put(b))
    }
    fn escapes(&mut self, raw: &[u8]) -> Result<()> {
        if let Some(f) = &mut self.field {
            unescape_run(raw, f);
        }
        self.em.put(raw)
    }
}

struct Walker<'o, 'h, R> {
    inp: Input<R>,
    em: Em<'o>,
    fields: Fields,
    edits: &'h [Edit],
    old: Vec<Option<Old>>,
    hooks: Vec<&'h mut HookFn<'h>>,
    keys: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Walk canonical JSON from `r` (see the module docs). `w`: where to write the (edited)
/// document; without one, edits and hook results are computed but not written.
pub fn walk<'h, R: Read>(
    r: R,
    loc: &str,
    w: Option<&mut dyn Write>,
    edits: &'h [Edit],
    hook: Option<Hook<'h>>,
) -> Result<Walked> {
    walk_hooks(r, loc, w, edits, hook.into_iter().collect())
}

/// [`walk()`] with several hooks at distinct paths (added for issue 17's state edits, which
/// gather from or rewrite several arrays in one pass). A hook whose path is not an array
/// (an object, a string, null) gets the whole value as one element (index 0; `Remove` is
/// refused there): how small values (gov params, last_total_power) are read and rewritten
/// in passing.
pub fn walk_hooks<'h, R: Read>(
    r: R,
    loc: &str,
    w: Option<&mut dyn Write>,
    edits: &'h [Edit],
    hooks: Vec<Hook<'h>>,
) -> Result<Walked> {
    let mut root = Node::new(b"");
    for (i, e) in edits.iter().enumerate() {
        let n = root.at(&e.tokens);
        if n.edit.is_some() || !n.children.is_empty() || e.tokens.is_empty() {
            return Err(Error::Refused(format!(
                "{}: edits of one pass must have distinct, non-nested, non-empty paths",
                e.pointer
            )));
        }
        n.edit = Some(i);
    }
    let mut hook_fs = Vec::with_capacity(hooks.len());
    for h in hooks {
        let n = root.at(&h.tokens);
        if n.edit.is_some() || n.hook.is_some() {
            return Err(Error::Refused(
                "a hook path is also edited or hooked twice".into(),
            ));
        }
        n.hook = Some(hook_fs.len());
        hook_fs.push(h.f);
    }
    root.sort();
    let mut inp = Input::new(r, loc);
    inp.what = "not canonical JSON";
    let mut wk = Walker {
        inp,
        em: Em {
            out: w.map(|w| Out::new(w, loc).hashing()),
            mute: 0,
            cap: None,
        },
        fields: Fields::default(),
        edits,
        old: vec![None; edits.len()],
        hooks: hook_fs,
        keys: Vec::new(),
    };
    let node = (!root.children.is_empty() || root.hook.is_some()).then_some(&root);
    let kind = wk.value(Ctx::Root, None, node, 0, "")?;
    wk.fields.root = Some(kind);
    wk.inp
        .expect(b'\n')
        .map_err(|_| wk.inp.err("the document must end with one newline"))?;
    wk.em.put(b"\n")?;
    if !wk.inp.at_eof()? {
        return Err(wk.inp.err("bytes after the final newline"));
    }
    let size = wk.inp.offset();
    let (out_size, out_sha256) = match wk.em.out.take() {
        Some(o) => o.finish()?,
        None => (0, None),
    };
    Ok(Walked {
        fields: wk.fields,
        size,
        out_size,
        out_sha256,
        old: wk.old,
    })
}

fn path_loc(loc: &str, ptr: &str) -> String {
    format!("{loc}: {ptr}")
}

impl<R: Read> Walker<'_, '_, R> {
    fn pointer(&self, n: &Node) -> String {
        n.edit
            .map(|i| self.edits[i].pointer.clone())
            .unwrap_or_default()
    }

    /// Walk one value. `node`: the edit-trie node at this value (None: plain copy).
    fn value(
        &mut self,
        ctx: Ctx,
        slot: Option<Slot>,
        node: Option<&Node>,
        depth: usize,
        path: &str,
    ) -> Result<Kind> {
        let b = match self.inp.peek()? {
            Some(b) => b,
            None => return Err(self.inp.err("unexpected end of input")),
        };
        let container = matches!(b, b'{' | b'[');
        if let Some(n) = node {
            if !container && n.children.iter().any(Node::has_edit) {
                let first = n
                    .children
                    .first()
                    .map(|c| String::from_utf8_lossy(&c.token).into_owned());
                return Err(Error::invalid(
                    path_loc(
                        "genesis.json",
                        &format!("{path}/{}", first.unwrap_or_default()),
                    ),
                    "its parent is not an object or array",
                ));
            }
        }
        if let Some(h) = node.and_then(|n| n.hook).filter(|_| b != b'[') {
            return self.hooked_value(node.expect("checked"), h, b, depth, path);
        }
        match b {
            b'{' => {
                if let Some(s) = slot {
                    self.fields.slot_mut(s, Kind::Object);
                }
                self.object(ctx, node, depth + 1, path)?;
                Ok(Kind::Object)
            }
            b'[' => {
                let n = self.array(node, depth + 1, path)?;
                if let Some(s) = slot {
                    self.fields.slot_mut(s, Kind::Array).items = n;
                }
                Ok(Kind::Array)
            }
            b'"' => {
                let field = slot.map(|s| self.fields.slot_mut(s, Kind::String));
                self.em.put(b"\"")?;
                parse_string(
                    &mut self.inp,
                    &mut StrTo {
                        em: &mut self.em,
                        field,
                    },
                    true,
                )?;
                self.em.put(b"\"")?;
                Ok(Kind::String)
            }
            b'-' | b'0'..=b'9' => {
                let mut field = slot.map(|s| self.fields.slot_mut(s, Kind::Number));
                let em = &mut self.em;
                parse_number(
                    &mut self.inp,
                    &mut |b| {
                        if let Some(f) = &mut field {
                            f.text(b);
                        }
                        em.put(b)
                    },
                    true,
                )?;
                Ok(Kind::Number)
            }
            b't' | b'f' | b'n' => {
                let em = &mut self.em;
                literal(&mut self.inp, &mut self.fields, slot, &mut |b| em.put(b))
            }
            c => Err(self
                .inp
                .err(format!("expected a JSON value, found {}", show(c)))),
        }
    }

    /// Walk a value without writing it, returning its canonical bytes (capped) and size.
    fn muted(
        &mut self,
        ctx: Ctx,
        slot: Option<Slot>,
        depth: usize,
        limit: usize,
        path: &str,
    ) -> Result<Old> {
        let saved = self.em.cap.replace(Cap {
            buf: Vec::new(),
            size: 0,
            limit,
        });
        self.em.mute += 1;
        let r = self.value(ctx, slot, None, depth, path);
        self.em.mute -= 1;
        let cap = std::mem::replace(&mut self.em.cap, saved).expect("capture set above");
        r?;
        Ok(Old {
            head: cap.buf,
            size: cap.size,
        })
    }

    /// A hook at a value that is not an array: the whole value is one element (index 0).
    fn hooked_value(
        &mut self,
        n: &Node,
        h: usize,
        first: u8,
        depth: usize,
        path: &str,
    ) -> Result<Kind> {
        if !n.children.is_empty() {
            return Err(Error::Refused(format!(
                "{path}: a hook's path is also edited below it"
            )));
        }
        let el = self.materialise(depth, path)?;
        match (self.hooks[h])(0, &el.head)? {
            Element::Keep => self.em.put(&el.head)?,
            Element::Replace(b) => self.em.put(&b)?,
            Element::Remove | Element::Splice(_) => {
                return Err(Error::Refused(format!(
                    "{path}: a hook can remove or splice array elements only"
                )))
            }
        }
        Ok(match first {
            b'{' => Kind::Object,
            b'"' => Kind::String,
            b't' | b'f' => Kind::Bool,
            b'n' => Kind::Null,
            _ => Kind::Number,
        })
    }

    /// One value's canonical bytes, whole (at most [`MAX_ELEMENT_BYTES`]), for a hook.
    fn materialise(&mut self, depth: usize, here: &str) -> Result<Old> {
        let el = self.muted(Ctx::Other, None, depth, MAX_ELEMENT_BYTES, here)?;
        if el.size > MAX_ELEMENT_BYTES as u64 {
            return Err(Error::invalid(
                path_loc(&self.inp.loc, here),
                format!("is larger than {MAX_ELEMENT_BYTES} bytes, agar's limit for one array element it edits"),
            ));
        }
        Ok(el)
    }

    /// Write an edit's new value; gather the genesis fields from it (or forget the field
    /// it deletes), so the walk's fields describe the output.
    fn set_value(&mut self, n: &Node, ctx: Ctx, slot: Option<Slot>, depth: usize) -> Result<()> {
        let i = n.edit.expect("edit node");
        let edits = self.edits;
        match &edits[i].action {
            Action::Set(v) => {
                self.em.put(v)?;
                if slot.is_some() || ctx != Ctx::Other {
                    let mut inp = Input::new(&v[..], &self.inp.loc);
                    inp.what = "not canonical JSON (an edit's new value)";
                    let mut sub = Walker {
                        inp,
                        em: Em {
                            out: None,
                            mute: 0,
                            cap: None,
                        },
                        fields: std::mem::take(&mut self.fields),
                        edits: &[],
                        old: Vec::new(),
                        hooks: Vec::new(),
                        keys: Vec::new(),
                    };
                    let r = sub.value(ctx, slot, None, depth, "");
                    self.fields = sub.fields;
                    r?;
                }
                Ok(())
            }
            Action::Delete => {
                if let Some(s) = slot {
                    self.fields.clear(s);
                }
                Ok(())
            }
        }
    }

    fn is_set(&self, n: &Node) -> bool {
        matches!(n.edit.map(|i| &self.edits[i].action), Some(Action::Set(_)))
    }

    /// A node whose key or index the input lacks.
    fn absent(
        &mut self,
        n: &Node,
        ctx: Ctx,
        depth: usize,
        path: &str,
        wrote: &mut bool,
    ) -> Result<()> {
        let here = format!("{path}/{}", String::from_utf8_lossy(&n.token));
        if !n.has_edit() {
            // only hooks below: a hook whose path is absent is simply not called
            return Ok(());
        }
        if n.edit.is_none() || !n.children.is_empty() {
            return Err(Error::invalid(
                path_loc("genesis.json", &here),
                "does not exist (a pointer's parent must exist)",
            ));
        }
        if !self.is_set(n) {
            return Err(Error::invalid(
                path_loc("genesis.json", &self.pointer(n)),
                "does not exist, so it cannot be deleted",
            ));
        }
        if *wrote {
            self.em.put(b",")?;
        }
        *wrote = true;
        self.em
            .put(&string_bytes(&String::from_utf8_lossy(&n.token)))?;
        self.em.put(b":")?;
        let (cctx, slot) = ctx.child(&n.token);
        self.set_value(n, cctx, slot, depth)
    }

    fn object(&mut self, ctx: Ctx, node: Option<&Node>, depth: usize, path: &str) -> Result<()> {
        check_depth(&self.inp, depth)?;
        self.inp.expect(b'{')?;
        self.em.put(b"{")?;
        if self.keys.len() <= depth {
            self.keys.resize_with(depth + 1, Default::default);
        }
        let (mut prev, mut key) = std::mem::take(&mut self.keys[depth]);
        prev.clear();
        let children: &[Node] = node.map_or(&[], |n| &n.children);
        let mut ci = 0;
        let mut wrote = false;
        let mut first = true;
        let r = (|| -> Result<()> {
            if self.inp.peek()? == Some(b'}') {
                self.inp.advance(1);
            } else {
                loop {
                    key.clear();
                    if self.inp.peek()? != Some(b'"') {
                        return Err(self.inp.err("expected an object key"));
                    }
                    let mut ks = KeySink {
                        buf: &mut key,
                        max: MAX_KEY_BYTES,
                        too_long: false,
                    };
                    parse_string(&mut self.inp, &mut ks, true)?;
                    if ks.too_long {
                        return Err(self.inp.err(format!(
                            "an object key longer than {MAX_KEY_BYTES} bytes (agar's limit)"
                        )));
                    }
                    if !first && key <= prev {
                        let k = String::from_utf8_lossy(&key).into_owned();
                        return Err(self.inp.err(if key == prev {
                            format!("duplicate object key {k:?}")
                        } else {
                            format!("object key {k:?} is not in sorted order")
                        }));
                    }
                    first = false;
                    self.inp
                        .expect(b':')
                        .map_err(|_| self.inp.err("expected ':' right after a key"))?;
                    while ci < children.len() && children[ci].token < key {
                        let c = &children[ci];
                        self.absent(c, ctx, depth, path, &mut wrote)?;
                        ci += 1;
                    }
                    let hit = (ci < children.len() && children[ci].token == key).then(|| {
                        ci += 1;
                        &children[ci - 1]
                    });
                    let (cctx, slot) = ctx.child(&key);
                    // the path names only what is edited or hooked (below a node); it
                    // is not built for the other members (most of a genesis)
                    let here = match node {
                        Some(_) => format!(
                            "{path}/{}",
                            crate::edit::pointer::escape_token(&String::from_utf8_lossy(&key))
                        ),
                        None => String::new(),
                    };
                    let emit_key = |s: &mut Self, key: &[u8], wrote: &mut bool| -> Result<()> {
                        if *wrote {
                            s.em.put(b",")?;
                        }
                        *wrote = true;
                        s.em.put(b"\"")?;
                        escape_with(key, |b| s.em.put(b))?;
                        s.em.put(b"\":")
                    };
                    match hit {
                        Some(c) if c.edit.is_some() => {
                            let i = c.edit.expect("checked");
                            if self.is_set(c) {
                                emit_key(self, &key, &mut wrote)?;
                            }
                            // read the old value first (its fields are not the output's)
                            let old = self.muted(Ctx::Other, None, depth, OLD_BYTES, &here)?;
                            self.set_value(c, cctx, slot, depth)?;
                            self.old[i] = Some(old);
                        }
                        Some(c) => {
                            emit_key(self, &key, &mut wrote)?;
                            self.value(cctx, slot, Some(c), depth, &here)?;
                        }
                        None => {
                            emit_key(self, &key, &mut wrote)?;
                            self.value(cctx, slot, None, depth, &here)?;
                        }
                    }
                    std::mem::swap(&mut prev, &mut key);
                    if self.inp.sep(b'}')? {
                        break;
                    }
                }
            }
            while ci < children.len() {
                let c = &children[ci];
                self.absent(c, ctx, depth, path, &mut wrote)?;
                ci += 1;
            }
            Ok(())
        })();
        self.keys[depth] = (prev, key);
        r?;
        self.em.put(b"}")
    }

    fn array(&mut self, node: Option<&Node>, depth: usize, path: &str) -> Result<u64> {
        check_depth(&self.inp, depth)?;
        self.inp.expect(b'[')?;
        self.em.put(b"[")?;
        let hook = node.and_then(|n| n.hook);
        let (by_index, mut append) = array_edits(node, path)?;
        let mut bi = 0;
        let mut n = 0u64;
        let mut wrote = false;
        if self.inp.peek()? == Some(b']') {
            self.inp.advance(1);
        } else {
            loop {
                let here = match node {
                    Some(_) => format!("{path}/{n}"),
                    None => String::new(),
                };
                let hit = (bi < by_index.len() && by_index[bi].0 == n).then(|| {
                    bi += 1;
                    by_index[bi - 1].1
                });
                match hit {
                    Some(c) if c.edit.is_some() => {
                        let i = c.edit.expect("checked");
                        if self.is_set(c) {
                            if wrote {
                                self.em.put(b",")?;
                            }
                            wrote = true;
                            self.set_value(c, Ctx::Other, None, depth)?;
                        }
                        let old = self.muted(Ctx::Other, None, depth, OLD_BYTES, &here)?;
                        self.old[i] = Some(old);
                    }
                    Some(c) => {
                        if wrote {
                            self.em.put(b",")?;
                        }
                        wrote = true;
                        self.value(Ctx::Other, None, Some(c), depth, &here)?;
                    }
                    None if hook.is_some() => {
                        let el = self.materialise(depth, &here)?;
                        let f = &mut self.hooks[hook.expect("checked")];
                        let action = f(n, &el.head)?;
                        let bytes: &[Vec<u8>] = match &action {
                            Element::Keep => std::slice::from_ref(&el.head),
                            Element::Replace(b) => std::slice::from_ref(b),
                            Element::Remove => &[],
                            Element::Splice(v) => v,
                        };
                        for b in bytes {
                            if wrote {
                                self.em.put(b",")?;
                            }
                            wrote = true;
                            self.em.put(b)?;
                        }
                    }
                    None => {
                        if wrote {
                            self.em.put(b",")?;
                        }
                        wrote = true;
                        self.value(Ctx::Other, None, None, depth, &here)?;
                    }
                }
                n += 1;
                if self.inp.sep(b']')? {
                    break;
                }
            }
        }
        // past the end: index == length appends (set only); anything else is out of range
        for (i, c) in &by_index[bi..] {
            if *i == n && c.children.is_empty() && self.is_set(c) {
                append.push(c);
            } else {
                return Err(Error::invalid(
                    path_loc("genesis.json", &format!("{path}/{i}")),
                    format!("index {i} is out of range (array length {n})"),
                ));
            }
        }
        if append.len() > 1 {
            return Err(Error::Refused(format!(
                "{path}: more than one append in one pass"
            )));
        }
        for c in append {
            if !c.children.is_empty() || !self.is_set(c) {
                return Err(Error::invalid(
                    path_loc("genesis.json", &format!("{path}/-")),
                    "\"-\" is not an array index",
                ));
            }
            if wrote {
                self.em.put(b",")?;
            }
            wrote = true;
            self.set_value(c, Ctx::Other, None, depth)?;
        }
        self.em.put(b"]")?;
        Ok(n)
    }
}

/// The edits below an array: by index (sorted), and appends (`-`).
type ArrayEdits<'n> = (Vec<(u64, &'n Node)>, Vec<&'n Node>);

/// The edits below an array node, or an error naming a token that is no array index.
fn array_edits<'n>(node: Option<&'n Node>, path: &str) -> Result<ArrayEdits<'n>> {
    let mut by_index: Vec<(u64, &Node)> = Vec::new();
    let mut append: Vec<&Node> = Vec::new();
    for c in node.map_or(&[][..], |n| &n.children[..]) {
        if !c.has_edit() {
            continue; // hooks below an array's elements are not supported: never called
        }
        let t = String::from_utf8_lossy(&c.token);
        if t == "-" {
            append.push(c);
            continue;
        }
        match crate::model::parse_pos(&t) {
            Some(i) => by_index.push((i, c)),
            None => {
                return Err(Error::invalid(
                    path_loc("genesis.json", &format!("{path}/{t}")),
                    format!("{t:?} is not an array index"),
                ))
            }
        }
    }
    by_index.sort_by_key(|x| x.0);
    Ok((by_index, append))
}
