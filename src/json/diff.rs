//! Lockstep comparison of two canonical documents (archive genesis members, already
//! checked by the reader). Both have their object keys sorted, so objects are compared by
//! a merge walk and arrays element by element; differing or one-sided values are reported
//! by JSON pointer with their canonical text cut to a bounded length (a value is compared
//! by SHA-256 while it streams, never held). Memory: one key per nesting level per side.

use std::io::Read;

use sha2::Digest;

use super::canon::skip_value;
use super::walk::Old;
use super::*;

/// One difference: pointer, old value (None: added), new value (None: removed), each as
/// its canonical text cut to [`super::walk::OLD_BYTES`] with its full size.
pub type Change = (String, Option<Old>, Option<Old>);

/// Compare `a` and `b`; `skip`: pointers not compared (recomputed fields); `f` receives
/// each difference in pointer order.
pub fn diff<A: Read, B: Read>(a: A, b: B, skip: &[&str], f: &mut dyn FnMut(Change)) -> Result<()> {
    let mut ia = Input::new(a, "genesis.json (first)");
    let mut ib = Input::new(b, "genesis.json (second)");
    ia.what = "not canonical JSON";
    ib.what = "not canonical JSON";
    let mut d = Differ { skip, f };
    d.value(&mut ia, &mut ib, &mut String::new(), 0)
}

struct Differ<'a> {
    skip: &'a [&'a str],
    f: &'a mut dyn FnMut(Change),
}

struct Val {
    old: Old,
    sha: [u8; 32],
}

fn capture<R: Read>(inp: &mut Input<R>) -> Result<Val> {
    inp.tap = Some(Tap::new());
    let r = skip_value(inp);
    let t = inp.tap.take().expect("tap set above");
    r?;
    Ok(Val {
        old: Old {
            head: t.head,
            size: t.size,
        },
        sha: t.sha.finalize().into(),
    })
}

/// The next member's key, or None at `}` (consumed).
fn next_key<R: Read>(inp: &mut Input<R>, first: &mut bool) -> Result<Option<String>> {
    if inp.peek()? == Some(b'}') {
        inp.advance(1);
        return Ok(None);
    }
    if !*first {
        inp.expect(b',')?;
    }
    *first = false;
    let mut k = Vec::new();
    let mut ks = KeySink {
        buf: &mut k,
        max: MAX_KEY_BYTES,
        too_long: false,
    };
    parse_string(inp, &mut ks, true)?;
    if ks.too_long {
        return Err(inp.err(format!("an object key longer than {MAX_KEY_BYTES} bytes")));
    }
    inp.expect(b':')?;
    String::from_utf8(k)
        .map(Some)
        .map_err(|_| inp.err("invalid UTF-8 in a key"))
}

/// Whether the array ends here (`]` consumed); consumes the `,` before an element.
fn array_end<R: Read>(inp: &mut Input<R>, first: bool) -> Result<bool> {
    if inp.peek()? == Some(b']') {
        inp.advance(1);
        return Ok(true);
    }
    if !first {
        inp.expect(b',')?;
    }
    Ok(false)
}

impl Differ<'_> {
    fn one_sided<R: Read>(&mut self, inp: &mut Input<R>, path: &str, added: bool) -> Result<()> {
        let v = capture(inp)?;
        if !self.skip.contains(&path) {
            let r = Some(v.old);
            (self.f)(if added {
                (path.to_string(), None, r)
            } else {
                (path.to_string(), r, None)
            });
        }
        Ok(())
    }

    fn value<A: Read, B: Read>(
        &mut self,
        a: &mut Input<A>,
        b: &mut Input<B>,
        path: &mut String,
        depth: usize,
    ) -> Result<()> {
        check_depth(a, depth)?;
        let (pa, pb) = (a.peek()?, b.peek()?);
        if self.skip.contains(&path.as_str()) {
            skip_value(a)?;
            return skip_value(b);
        }
        let len = path.len();
        match (pa, pb) {
            (Some(b'{'), Some(b'{')) => {
                a.advance(1);
                b.advance(1);
                let (mut fa, mut fb) = (true, true);
                let mut ka = next_key(a, &mut fa)?;
                let mut kb = next_key(b, &mut fb)?;
                loop {
                    let ord = match (&ka, &kb) {
                        (None, None) => break,
                        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                    };
                    let k = if ord.is_gt() { &kb } else { &ka };
                    path.push('/');
                    path.push_str(&crate::edit::pointer::escape_token(
                        k.as_deref().expect("a key on this side"),
                    ));
                    match ord {
                        std::cmp::Ordering::Equal => self.value(a, b, path, depth + 1)?,
                        std::cmp::Ordering::Less => self.one_sided(a, path, false)?,
                        std::cmp::Ordering::Greater => self.one_sided(b, path, true)?,
                    }
                    path.truncate(len);
                    if !ord.is_gt() {
                        ka = next_key(a, &mut fa)?;
                    }
                    if !ord.is_lt() {
                        kb = next_key(b, &mut fb)?;
                    }
                }
            }
            (Some(b'['), Some(b'[')) => {
                a.advance(1);
                b.advance(1);
                let (mut ea, mut eb) = (false, false);
                let mut i = 0u64;
                loop {
                    if !ea {
                        ea = array_end(a, i == 0)?;
                    }
                    if !eb {
                        eb = array_end(b, i == 0)?;
                    }
                    if ea && eb {
                        break;
                    }
                    path.push('/');
                    path.push_str(&i.to_string());
                    match (ea, eb) {
                        (false, false) => self.value(a, b, path, depth + 1)?,
                        (false, true) => self.one_sided(a, path, false)?,
                        _ => self.one_sided(b, path, true)?,
                    }
                    path.truncate(len);
                    i += 1;
                }
            }
            _ => {
                let va = capture(a)?;
                let vb = capture(b)?;
                if va.sha != vb.sha {
                    (self.f)((path.clone(), Some(va.old), Some(vb.old)));
                }
            }
        }
        Ok(())
    }
}
