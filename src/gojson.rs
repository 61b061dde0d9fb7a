//! Go-compatible JSON for export data (spec §7.4), and a strict decoder for
//! export-data lines in either dialect (JS `JSON.stringify` or Go `json.Marshal`).
//!
//! The encoder reproduces Go ≥ 1.22 `json.Marshal([2]string{key, value})` byte for byte,
//! including HTML escaping (`<` `>` `&`), `\u2028`/`\u2029`, short `\b`/`\f`, and one
//! `\ufffd` per byte that does not begin a valid UTF-8 sequence.
//!
//! The decoder accepts exactly one JSON array per line, `[key, value]`, `[key]` or
//! `[key, null]`, with JSON whitespace allowed between tokens (as Go's stream decoder
//! does). It is strict where the two implementations would disagree: raw invalid UTF-8
//! and lone surrogate escapes are rejected instead of being silently replaced, because
//! agd (U+FFFD) and the JS importer (raw bytes) would store different state.

use std::fmt;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Length of the valid UTF-8 sequence starting at `s[0]`, or `None` if `s[0]` does not
/// begin one (Go's `utf8.DecodeRune` returns `RuneError, 1` in exactly these cases).
fn utf8_seq_len(s: &[u8]) -> Option<usize> {
    let b0 = s[0];
    let (len, lo, hi) = match b0 {
        0x00..=0x7f => return Some(1),
        0xc2..=0xdf => (2, 0x80, 0xbf),
        0xe0 => (3, 0xa0, 0xbf),
        0xe1..=0xec | 0xee..=0xef => (3, 0x80, 0xbf),
        0xed => (3, 0x80, 0x9f),
        0xf0 => (4, 0x90, 0xbf),
        0xf1..=0xf3 => (4, 0x80, 0xbf),
        0xf4 => (4, 0x80, 0x8f),
        _ => return None,
    };
    if s.len() < len {
        return None;
    }
    if !(lo..=hi).contains(&s[1]) {
        return None;
    }
    if s[2..len].iter().all(|b| (0x80..=0xbf).contains(b)) {
        Some(len)
    } else {
        None
    }
}

/// Byte classes for the encoder's and decoder's fast paths: 0 = an ASCII byte copied as
/// is (both directions), 1 = an ASCII byte the encoder escapes or the decoder treats
/// specially (`"`, `\\`, controls, and for the encoder `<`, `>`, `&`), 2 = a non-ASCII
/// byte (UTF-8 checks).
const ENC_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i >= 0x80 {
            2
        } else if i < 0x20
            || i == b'"' as usize
            || i == b'\\' as usize
            || i == b'<' as usize
            || i == b'>' as usize
            || i == b'&' as usize
        {
            1
        } else {
            0
        };
        i += 1;
    }
    t
};

const DEC_CLASS: [u8; 256] = {
    let mut t = ENC_CLASS;
    t[b'<' as usize] = 0;
    t[b'>' as usize] = 0;
    t[b'&' as usize] = 0;
    t
};

/// Index of the first byte at or after `i` whose class in `table` is not 0.
#[inline]
fn skip_plain(table: &[u8; 256], s: &[u8], mut i: usize) -> usize {
    while i + 4 <= s.len() {
        if table[s[i] as usize] != 0 {
            return i;
        }
        if table[s[i + 1] as usize] != 0 {
            return i + 1;
        }
        if table[s[i + 2] as usize] != 0 {
            return i + 2;
        }
        if table[s[i + 3] as usize] != 0 {
            return i + 3;
        }
        i += 4;
    }
    while i < s.len() && table[s[i] as usize] == 0 {
        i += 1;
    }
    i
}

/// Where the encoder writes: a buffer, or a counter of the bytes it would write.
trait Out {
    fn extend_from_slice(&mut self, b: &[u8]);
    fn push(&mut self, b: u8);
}

impl Out for Vec<u8> {
    fn extend_from_slice(&mut self, b: &[u8]) {
        Vec::extend_from_slice(self, b)
    }
    fn push(&mut self, b: u8) {
        Vec::push(self, b)
    }
}

struct Count(usize);

impl Out for Count {
    fn extend_from_slice(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
    fn push(&mut self, _: u8) {
        self.0 += 1;
    }
}

/// The length of [`encode_str_into`]'s output for `s` (quotes included).
pub fn encoded_str_len(s: &[u8]) -> usize {
    let mut c = Count(0);
    encode_str(&mut c, s);
    c.0
}

/// Append the Go `json.Marshal` encoding of the string `s` (quotes included).
pub fn encode_str_into(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    encode_str(out, s)
}

/// One encoder for both [`Out`]s, so the counted length is the written one.
fn encode_str<O: Out>(out: &mut O, s: &[u8]) {
    out.push(b'"');
    encode_body(out, s);
    out.push(b'"');
}

/// The encoding of `s` without its quotes.
fn encode_body<O: Out>(out: &mut O, s: &[u8]) {
    let mut i = 0;
    let mut start = 0;
    loop {
        i = skip_plain(&ENC_CLASS, s, i);
        if i >= s.len() {
            break;
        }
        let b = s[i];
        if b < 0x80 {
            out.extend_from_slice(&s[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
            }
            i += 1;
            start = i;
            continue;
        }
        match utf8_seq_len(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some(3)
                if s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9) =>
            {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if s[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            }
            Some(n) => i += n,
        }
    }
    out.extend_from_slice(&s[start..]);
}

/// Input bytes encoded at a time by [`encode_entry_pieces`].
const PIECE: usize = 64 << 10;

/// The length of the next piece of `rest` (not empty) to encode on its own: at most
/// [`PIECE`] bytes, cut before a byte that does not continue a UTF-8 sequence, or, with
/// no such byte in reach (invalid bytes), up to the next one. A cut there never splits a
/// sequence, valid or not, so the pieces' encodings join into the whole one.
fn piece_len(rest: &[u8]) -> usize {
    let mut cut = rest.len().min(PIECE);
    while cut > 0 && cut < rest.len() && rest[cut] & 0xc0 == 0x80 {
        cut -= 1;
    }
    if cut == 0 {
        cut = 1 + rest[1..]
            .iter()
            .position(|b| b & 0xc0 != 0x80)
            .unwrap_or(rest.len() - 1);
    }
    cut
}

/// [`encode_entry_into`] handed over in pieces of at most 6 × 64 KiB (the value is
/// encoded 64 KiB of input at a time, cut before a byte that does not continue a UTF-8
/// sequence, so a cut never changes the encoding): the bytes are the same, and a large
/// value's line (up to 6 times its size) is never held whole. `buf` is scratch space.
pub fn encode_entry_pieces<E>(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: Option<&[u8]>,
    out: &mut dyn FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    buf.clear();
    match value {
        Some(v) if v.len() > PIECE => {
            buf.push(b'[');
            encode_str_into(buf, key);
            buf.extend_from_slice(b",\"");
            let mut rest = v;
            while !rest.is_empty() {
                let cut = piece_len(rest);
                encode_body(buf, &rest[..cut]);
                rest = &rest[cut..];
                out(buf)?;
                buf.clear();
            }
            buf.extend_from_slice(b"\"]\n");
        }
        _ => encode_entry_into(buf, key, value),
    }
    out(buf)
}

/// The Go-canonical export-data line for an entry: `["key","value"]\n`, or `["key"]\n`
/// for an entry without a value.
pub fn encode_entry_into(out: &mut Vec<u8>, key: &[u8], value: Option<&[u8]>) {
    // a large value may grow 6-fold (`<` is `\u003c`): size the line exactly rather than
    // let the buffer double past it (a 96 MiB line would reserve 128 MiB, and hold the
    // 64 MiB one too while it moves)
    if let Some(v) = value.filter(|v| v.len() > 1 << 20) {
        out.reserve_exact(encoded_str_len(key) + encoded_str_len(v) + 4);
    }
    out.push(b'[');
    encode_str_into(out, key);
    if let Some(v) = value {
        out.push(b',');
        encode_str_into(out, v);
    }
    out.extend_from_slice(b"]\n");
}

/// Whether `line` (without its newline) is exactly the Go-canonical encoding of the
/// entry, checked piece by piece (the pieces of [`encode_entry_pieces`]) so that the
/// encoding, up to 6 times the value's size, is never held.
pub fn is_canonical_line(
    line: &[u8],
    key: &[u8],
    value: Option<&[u8]>,
    scratch: &mut Vec<u8>,
) -> bool {
    let mut rest = line;
    let mut eat = |want: &[u8]| -> bool {
        match rest.strip_prefix(want) {
            Some(r) => {
                rest = r;
                true
            }
            None => false,
        }
    };
    let mut string = |s: &[u8], eat: &mut dyn FnMut(&[u8]) -> bool| -> bool {
        if !eat(b"\"") {
            return false;
        }
        let mut s = s;
        while !s.is_empty() {
            let cut = piece_len(s);
            scratch.clear();
            encode_str_into(scratch, &s[..cut]);
            if !eat(&scratch[1..scratch.len() - 1]) {
                return false;
            }
            s = &s[cut..];
        }
        eat(b"\"")
    };
    if !eat(b"[") || !string(key, &mut eat) {
        return false;
    }
    if let Some(v) = value {
        if !eat(b",") || !string(v, &mut eat) {
            return false;
        }
    }
    eat(b"]") && rest.is_empty()
}

pub fn encode_entry(key: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + value.map_or(0, |v| v.len()) + 8);
    encode_entry_into(&mut out, key, value);
    out
}

/// Why a line could not be decoded, with the byte offset inside the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub offset: usize,
    pub message: &'static str,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {} of the line)", self.message, self.offset)
    }
}

impl std::error::Error for LineError {}

/// One decoded export-data entry. `value` is `None` for `[key]` and `[key, null]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Option<String>,
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> P<'a> {
    fn err<T>(&self, message: &'static str) -> Result<T, LineError> {
        Err(LineError {
            offset: self.i,
            message,
        })
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn hex4(&mut self) -> Result<u32, LineError> {
        if self.i + 4 > self.s.len() {
            return self.err("truncated \\u escape");
        }
        let mut v = 0u32;
        for k in 0..4 {
            let d = match self.s[self.i + k] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err("bad hex digit in \\u escape"),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<String, LineError> {
        if !self.eat(b'"') {
            return self.err("expected a JSON string");
        }
        let mut out: Vec<u8> = Vec::new();
        let mut start = self.i;
        loop {
            self.i = skip_plain(&DEC_CLASS, self.s, self.i);
            let Some(&b) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            match b {
                b'"' => {
                    out.extend_from_slice(&self.s[start..self.i]);
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    out.extend_from_slice(&self.s[start..self.i]);
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let at = self.i;
                            let u = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&u) {
                                if self.s.get(self.i) == Some(&b'\\')
                                    && self.s.get(self.i + 1) == Some(&b'u')
                                {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xdc00..0xe000).contains(&lo) {
                                        self.i = at;
                                        return self.err("lone UTF-16 surrogate in \\u escape");
                                    }
                                    0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    self.i = at;
                                    return self.err("lone UTF-16 surrogate in \\u escape");
                                }
                            } else if (0xdc00..0xe000).contains(&u) {
                                self.i = at;
                                return self.err("lone UTF-16 surrogate in \\u escape");
                            } else {
                                u
                            };
                            let ch = char::from_u32(c).expect("valid scalar value");
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.i -= 1;
                            return self.err("invalid escape character");
                        }
                    }
                    start = self.i;
                }
                0x00..=0x1f => return self.err("raw control character in string"),
                0x80..=0xff => match utf8_seq_len(&self.s[self.i..]) {
                    Some(n) => self.i += n,
                    None => return self.err("invalid UTF-8 in string"),
                },
                _ => self.i += 1,
            }
        }
        // Every byte pushed was either copied from validated input or encoded from a char.
        String::from_utf8(out).map_err(|_| LineError {
            offset: self.i,
            message: "invalid UTF-8 in string",
        })
    }
}

/// Decode one export-data line (without its terminating `\n`).
pub fn decode_line(line: &[u8]) -> Result<Entry, LineError> {
    let mut p = P { s: line, i: 0 };
    p.ws();
    if !p.eat(b'[') {
        return p.err("expected '[' (an export-data line is a JSON array [key, value])");
    }
    p.ws();
    let key = p.string()?;
    if key.is_empty() {
        return p.err("empty export-data key");
    }
    p.ws();
    let value = if p.eat(b',') {
        p.ws();
        if p.s[p.i..].starts_with(b"null") {
            p.i += 4;
            None
        } else {
            Some(p.string()?)
        }
    } else {
        None
    };
    p.ws();
    if !p.eat(b']') {
        return p.err("expected ']' (an export-data entry has at most two elements)");
    }
    p.ws();
    if p.i != line.len() {
        return p.err("trailing bytes after the JSON array");
    }
    Ok(Entry { key, value })
}

#[cfg(test)]
mod tests {

    fn pieces(key: &[u8], value: Option<&[u8]>) -> (Vec<u8>, usize) {
        let (mut buf, mut all, mut n) = (Vec::new(), Vec::new(), 0);
        // bounded where the value has a character boundary every 64 KiB
        let bounded = value.is_some_and(|v| v.iter().any(|b| b & 0xc0 != 0x80));
        encode_entry_pieces::<()>(&mut buf, key, value, &mut |p| {
            assert!(
                !bounded || p.len() <= 6 * PIECE + 64,
                "a piece of {}",
                p.len()
            );
            all.extend_from_slice(p);
            n += 1;
            Ok(())
        })
        .unwrap();
        (all, n)
    }

    #[test]
    fn entry_pieces_are_the_whole_line_cut_anywhere_in_a_large_value() {
        // multi-byte characters, U+2028, escapes and invalid bytes across every cut
        let unit: Vec<u8> = [
            "a<é\u{2028}\"".as_bytes(),
            &[0xe2, 0x80],
            "x€😀\n".as_bytes(),
            &[0xff, 0x80, 0x80],
        ]
        .concat();
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 7] {
            for shift in 0..unit.len() {
                let v: Vec<u8> = unit.iter().cycle().skip(shift).take(len).copied().collect();
                let (got, n) = pieces(b"kv.k", Some(&v));
                assert_eq!(
                    got,
                    encode_entry(b"kv.k", Some(&v)),
                    "len {len} shift {shift}"
                );
                assert!(len <= PIECE || n > 1, "a large value comes in pieces");
            }
        }
        // a value of continuation bytes only has no boundary within reach
        let v = vec![0x80u8; 2 * PIECE + 3];
        assert_eq!(pieces(b"kv.k", Some(&v)).0, encode_entry(b"kv.k", Some(&v)));
        assert_eq!(pieces(b"kv.k", None).0, encode_entry(b"kv.k", None));
    }

    #[test]
    fn the_counted_length_is_the_encoded_length_and_large_lines_are_sized_exactly() {
        for s in [
            &b""[..],
            b"plain",
            b"<>&\"\\\n\x01\x7f",
            "\u{2028}\u{2029}é".as_bytes(),
            b"\xff\xfe bad utf-8",
        ] {
            let mut v = Vec::new();
            encode_str_into(&mut v, s);
            assert_eq!(encoded_str_len(s), v.len(), "{s:?}");
        }
        // 2 MiB of `<`: a 12 MiB line, allocated once at its exact size
        let value = vec![b'<'; 2 << 20];
        let mut line = Vec::new();
        encode_entry_into(&mut line, b"kv.k", Some(&value));
        assert_eq!(line.len(), 6 * value.len() + b"[\"kv.k\",\"\"]\n".len());
        assert_eq!(line.capacity(), line.len());
    }
    #[test]
    fn canonical_line_check_agrees_with_the_encoder_at_any_size() {
        let mut scratch = Vec::new();
        // values across the 64 KiB piece boundary, with multi-byte characters on it
        for n in [0usize, 1, 65535, 65536, 65537, 200_000] {
            for fill in ["a", "<", "\u{e9}", "\u{2028}", "\u{1f600}"] {
                let v: String = fill.repeat(n / fill.len() + 1);
                let line = encode_entry(b"kv.k", Some(v.as_bytes()));
                let body = &line[..line.len() - 1];
                assert!(is_canonical_line(
                    body,
                    b"kv.k",
                    Some(v.as_bytes()),
                    &mut scratch
                ));
                assert!(!is_canonical_line(
                    &body[1..],
                    b"kv.k",
                    Some(v.as_bytes()),
                    &mut scratch
                ));
                let mut other = body.to_vec();
                other.push(b' ');
                assert!(!is_canonical_line(
                    &other,
                    b"kv.k",
                    Some(v.as_bytes()),
                    &mut scratch
                ));
            }
        }
        let del = encode_entry(b"k", None);
        assert!(is_canonical_line(
            &del[..del.len() - 1],
            b"k",
            None,
            &mut scratch
        ));
        // JSON.stringify's `<` is not Go's
        assert!(!is_canonical_line(
            br#"["k","<"]"#,
            b"k",
            Some(b"<"),
            &mut scratch
        ));
    }

    use super::*;

    fn enc(s: &[u8]) -> String {
        let mut o = Vec::new();
        encode_str_into(&mut o, s);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn spec_7_4_escapes() {
        assert_eq!(enc(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(enc(b"\x08\x0c\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(enc(b"\x00\x01\x1f"), r#""\u0000\u0001\u001f""#);
        assert_eq!(enc(b"<>&"), r#""\u003c\u003e\u0026""#);
        assert_eq!(enc("\u{2028}\u{2029}".as_bytes()), r#""\u2028\u2029""#);
        assert_eq!(enc(b"\x7f/"), "\"\x7f/\"");
        // valid non-ASCII stays raw, including U+FFFD, U+FFFE, U+FFFF, U+10FFFF
        let raw = "é\u{fffd}\u{fffe}\u{ffff}\u{10ffff}😀";
        assert_eq!(enc(raw.as_bytes()), format!("\"{raw}\""));
    }

    #[test]
    fn spec_7_4_invalid_utf8_one_fffd_per_byte() {
        assert_eq!(enc(b"\xff"), r#""\ufffd""#);
        assert_eq!(enc(b"\xe2\x80"), r#""\ufffd\ufffd""#);
        assert_eq!(enc(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        assert_eq!(enc(b"\xc0\xaf"), r#""\ufffd\ufffd""#);
        assert_eq!(enc(b"a\xe2\x80b"), r#""a\ufffd\ufffdb""#);
    }

    #[test]
    fn spec_example_line() {
        let line = encode_entry("kv.b".as_bytes(), Some("B<&>\u{2028}".as_bytes()));
        assert_eq!(line, b"[\"kv.b\",\"B\\u003c\\u0026\\u003e\\u2028\"]\n");
        assert_eq!(encode_entry(b"k", None), b"[\"k\"]\n");
    }

    #[test]
    fn decode_both_dialects() {
        let js = "[\"kv.b\",\"B<&>\u{2028}\"]";
        let go = r#"["kv.b","B\u003c\u0026\u003e\u2028"]"#;
        let a = decode_line(js.as_bytes()).unwrap();
        let b = decode_line(go.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.value.as_deref(), Some("B<&>\u{2028}"));
        assert_eq!(decode_line(br#"[ "k" , null ]"#).unwrap().value, None);
        assert_eq!(decode_line(br#"["k"]"#).unwrap().value, None);
        assert_eq!(
            decode_line(br#"["k","\ud83d\ude00"]"#)
                .unwrap()
                .value
                .as_deref(),
            Some("😀")
        );
    }

    #[test]
    fn decode_rejects() {
        for bad in [
            &b""[..],
            b"{}",
            b"[]",
            b"[\"\"]",
            b"[\"k\",\"v\",\"w\"]",
            b"[\"k\",1]",
            b"[\"k\",\"v\"] x",
            b"[\"k\",\"\\ud800\"]",
            b"[\"k\",\"\\udc00\"]",
            b"[\"k\",\"\xff\"]",
            b"[\"k\",\"a\x01\"]",
            b"[\"k\",\"\\x\"]",
            b"[\"k\",\"unterminated]",
        ] {
            assert!(
                decode_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The straightforward byte-at-a-time encoder the fast path replaced.
    fn reference_encode_str_into(out: &mut Vec<u8>, s: &[u8]) {
        out.push(b'"');
        let mut i = 0;
        let mut start = 0;
        while i < s.len() {
            let b = s[i];
            if b < 0x80 {
                let esc: Option<&[u8]> = match b {
                    b'"' => Some(b"\\\""),
                    b'\\' => Some(b"\\\\"),
                    0x08 => Some(b"\\b"),
                    0x0c => Some(b"\\f"),
                    b'\n' => Some(b"\\n"),
                    b'\r' => Some(b"\\r"),
                    b'\t' => Some(b"\\t"),
                    b'<' | b'>' | b'&' => Some(b""),
                    0x00..=0x1f => Some(b""),
                    _ => None,
                };
                if let Some(e) = esc {
                    out.extend_from_slice(&s[start..i]);
                    if e.is_empty() {
                        out.extend_from_slice(b"\\u00");
                        out.push(HEX[(b >> 4) as usize]);
                        out.push(HEX[(b & 0xf) as usize]);
                    } else {
                        out.extend_from_slice(e);
                    }
                    start = i + 1;
                }
                i += 1;
                continue;
            }
            match utf8_seq_len(&s[i..]) {
                None => {
                    out.extend_from_slice(&s[start..i]);
                    out.extend_from_slice(b"\\ufffd");
                    i += 1;
                    start = i;
                }
                Some(3)
                    if s[i] == 0xe2
                        && s[i + 1] == 0x80
                        && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9) =>
                {
                    out.extend_from_slice(&s[start..i]);
                    out.extend_from_slice(if s[i + 2] == 0xa8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    start = i;
                }
                Some(n) => i += n,
            }
        }
        out.extend_from_slice(&s[start..]);
        out.push(b'"');
    }

    #[test]
    fn fast_paths_match_the_reference_encoder_and_round_trip() {
        // deterministic pseudo-random strings over an alphabet rich in special bytes
        let alphabet: Vec<&[u8]> = vec![
            b"a",
            b"Z",
            b"0",
            b" ",
            b"\"",
            b"\\",
            b"<",
            b">",
            b"&",
            b"/",
            b"\n",
            b"\x00",
            b"\x1f",
            b"\x7f",
            b"\x08",
            b"\x0c",
            "\u{e9}".as_bytes(),
            "\u{2028}".as_bytes(),
            "\u{2029}".as_bytes(),
            "\u{1f600}".as_bytes(),
            b"\xff",
            b"\xe2\x80",
            b"\xed\xa0\x80",
            b"\xc0",
            b"abcdefgh",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 24) as usize;
            for k in 0..n {
                let r = x.rotate_left(k as u32 * 5) ^ (k as u64).wrapping_mul(0x2545_f491);
                s.extend_from_slice(alphabet[(r % alphabet.len() as u64) as usize]);
            }
            let mut got = Vec::new();
            encode_str_into(&mut got, &s);
            let mut want = Vec::new();
            reference_encode_str_into(&mut want, &s);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&s));
            // the decoder reads the encoding back (exactly, when the input was UTF-8)
            let mut line = b"[\"k\",".to_vec();
            line.extend_from_slice(&got);
            line.push(b']');
            let e = decode_line(&line).unwrap();
            let v = e.value.unwrap();
            if std::str::from_utf8(&s).is_ok() {
                assert_eq!(v.as_bytes(), &s[..]);
            }
        }
    }

    /// Go's `utf8.DecodeRune` length from an independent reference: the shortest prefix
    /// std accepts as UTF-8 (a valid sequence is exactly one character).
    fn reference_seq_len(s: &[u8]) -> Option<usize> {
        (1..=s.len().min(4)).find(|&k| std::str::from_utf8(&s[..k]).is_ok())
    }

    #[test]
    fn utf8_sequence_lengths_agree_with_std_for_every_lead_and_second_byte() {
        // every first and second byte, third and fourth bytes on each range's edges, and
        // every truncation
        let edges = [0x00u8, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for &b2 in &edges {
                    for &b3 in &edges {
                        let s = [b0, b1, b2, b3];
                        for len in 1..=4 {
                            assert_eq!(
                                utf8_seq_len(&s[..len]),
                                reference_seq_len(&s[..len]),
                                "{:02x?}",
                                &s[..len]
                            );
                        }
                    }
                }
            }
        }
    }

    /// Go's `json.Marshal` of a string, written from its documentation over std's UTF-8
    /// decoding (one U+FFFD per byte that does not begin a valid sequence: std's invalid
    /// chunks are the bytes of a truncated or broken sequence, none of which begins one)
    /// and `JSON.stringify`'s escapes (hashes' reference, tested against serde_json),
    /// which Go's are plus `<`, `>`, `&`, U+2028 and U+2029.
    fn reference_go_string(s: &[u8]) -> Vec<u8> {
        let mut out = String::from("\"");
        for chunk in s.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    c => {
                        let mut js = String::new();
                        crate::hashes::js_stringify_str(&mut js, c.encode_utf8(&mut [0; 4]));
                        out.push_str(&js[1..js.len() - 1]);
                    }
                }
            }
            for _ in chunk.invalid() {
                out.push_str("\\ufffd");
            }
        }
        out.push('"');
        out.into_bytes()
    }

    #[test]
    fn the_encoder_agrees_with_a_char_level_reference_on_every_scalar_value() {
        // every Unicode scalar value, in strings of 4096 characters
        let all: Vec<char> = (0..=0x10ffffu32).filter_map(char::from_u32).collect();
        for chars in all.chunks(4096) {
            let s: String = chars.iter().collect();
            assert_eq!(
                enc(s.as_bytes()).into_bytes(),
                reference_go_string(s.as_bytes()),
                "U+{:04X}..",
                chars[0] as u32
            );
        }
        // invalid sequences on each range's edges, between valid characters
        let bad: [&[u8]; 14] = [
            b"\x80",
            b"\xbf",
            b"\xc0\x80",
            b"\xc1\xbf",
            b"\xe0\x9f\xbf",
            b"\xed\xa0\x80",
            b"\xed\xbf\xbf",
            b"\xf0\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xf5\x80\x80\x80",
            b"\xe1\x80",
            b"\xf1\x80\x80",
            b"\xf0\x9f\x98\x80\x80",
            b"\xff",
        ];
        for b in bad {
            for around in ["", "a", "\u{e9}", "\u{2028}", "\u{1f600}", "<"] {
                let s = [around.as_bytes(), b, around.as_bytes(), b].concat();
                assert_eq!(enc(&s).into_bytes(), reference_go_string(&s), "{s:02x?}");
            }
        }
    }

    #[test]
    fn a_piece_is_cut_at_a_character_boundary_or_runs_to_the_next_lead_byte() {
        let pieces_of = |v: &[u8]| {
            let mut lens = Vec::new();
            encode_entry_pieces::<()>(&mut Vec::new(), b"k", Some(v), &mut |p| {
                lens.push(p.len());
                Ok(())
            })
            .unwrap();
            lens
        };
        // a value of at most 64 KiB is one line
        assert_eq!(pieces_of(&vec![b'a'; PIECE]), [PIECE + 9]);
        // 64 KiB of input at a time, then the tail
        let head = "[\"k\",\"".len();
        assert_eq!(
            pieces_of(&vec![b'a'; 2 * PIECE + 1]),
            [head + PIECE, PIECE, 1, 3]
        );
        // a cut backs off to the start of the character it would split
        let v = ["a".repeat(PIECE - 2), "\u{1f600}".repeat(2)].concat();
        assert_eq!(pieces_of(v.as_bytes()), [head + PIECE - 2, 8, 3]);
        // continuation bytes without a boundary in reach: up to the next lead byte
        let v = [vec![0x80u8; PIECE + 5], vec![b'a'; PIECE]].concat();
        assert_eq!(
            pieces_of(&v),
            [head + 6 * (PIECE + 5), PIECE, 3],
            "one \\ufffd per byte"
        );
    }

    #[test]
    fn canonical_line_check_accepts_the_encoding_of_any_bytes() {
        // invalid UTF-8 across the 64 KiB piece boundary: a valid 4-byte character and a
        // stray continuation byte on the cut, runs of continuation bytes, truncated leads
        let mut scratch = Vec::new();
        for tail in [
            &b"\xf0\x9f\x98\x80\x80"[..],
            b"\xf0\x9f\x98\x80\x80\x80\x80",
            b"\xe2\x80\x80\x80",
            b"\xc3\x80\x80",
            b"\x80\x80\x80\x80\x80\x80",
            b"\xe2\x80",
        ] {
            for shift in 0..tail.len() + 2 {
                let v = [vec![b'a'; PIECE - shift], tail.to_vec(), b"<z".to_vec()].concat();
                let line = encode_entry(b"kv.k", Some(&v));
                let body = &line[..line.len() - 1];
                assert!(
                    is_canonical_line(body, b"kv.k", Some(&v), &mut scratch),
                    "{tail:02x?} shifted {shift}"
                );
                let mut longer = v.clone();
                longer.push(b'a');
                assert!(!is_canonical_line(
                    body,
                    b"kv.k",
                    Some(&longer),
                    &mut scratch
                ));
            }
        }
    }

    #[test]
    fn decode_errors_say_what_and_where() {
        for (line, offset, message) in [
            (
                &b" x"[..],
                1,
                "expected '[' (an export-data line is a JSON array [key, value])",
            ),
            (b"[1]", 1, "expected a JSON string"),
            (b"[\"\"]", 3, "empty export-data key"),
            (b"[\"k\",1]", 5, "expected a JSON string"),
            (
                b"[\"k\" \"v\"]",
                5,
                "expected ']' (an export-data entry has at most two elements)",
            ),
            (b"[\"k\"] ]", 6, "trailing bytes after the JSON array"),
            (b"[\"k", 3, "unterminated string"),
            (b"[\"k\\", 4, "unterminated escape"),
            (b"[\"k\\q\"]", 4, "invalid escape character"),
            (b"[\"k\\u00", 5, "truncated \\u escape"),
            (b"[\"k\\u0041", 9, "unterminated string"),
            (b"[\"k\\u00g1\"]", 5, "bad hex digit in \\u escape"),
            (
                b"[\"k\\ud800\\u0041\"]",
                5,
                "lone UTF-16 surrogate in \\u escape",
            ),
            (b"[\"k\\ud800x\"]", 5, "lone UTF-16 surrogate in \\u escape"),
            (
                b"[\"k\\ud800xudc00\"]",
                5,
                "lone UTF-16 surrogate in \\u escape",
            ),
            (
                b"[\"k\\ud800\\n\"]",
                5,
                "lone UTF-16 surrogate in \\u escape",
            ),
            (b"[\"k\\udfff\"]", 5, "lone UTF-16 surrogate in \\u escape"),
            (b"[\"k\\ud800\\u00", 11, "truncated \\u escape"),
            (b"[\"k\x1f\"]", 3, "raw control character in string"),
            (b"[\"k\xc3\"]", 3, "invalid UTF-8 in string"),
        ] {
            let e = decode_line(line).unwrap_err();
            assert_eq!(
                (e.offset, e.message),
                (offset, message),
                "{:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(
                e.to_string(),
                format!("{message} (at byte {offset} of the line)")
            );
        }
    }

    #[test]
    fn decode_reads_every_escape_and_json_whitespace() {
        let line = b" \t[\r\n\"k\" ,\n\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u00C9\\uABcd\\u0041\\uD83D\\uDE00\\ud83d\\ude00\" ] \r\n";
        let e = decode_line(line).unwrap();
        assert_eq!(e.key, "k");
        assert_eq!(
            e.value.as_deref(),
            Some("\"\\/\u{8}\u{c}\n\r\téÉ\u{abcd}A😀😀")
        );
        // every hex digit in each position
        for (esc, want) in [
            ("\\u0123", '\u{0123}'),
            ("\\u4567", '\u{4567}'),
            ("\\u89aB", '\u{89ab}'),
            ("\\ucDeF", '\u{cdef}'),
            ("\\uFfFf", '\u{ffff}'),
        ] {
            let line = format!("[\"k\",\"{esc}\"]");
            let got = decode_line(line.as_bytes()).unwrap().value.unwrap();
            assert_eq!(got.chars().collect::<Vec<_>>(), [want], "{esc}");
        }
        // "null" is the absent value only as the whole literal
        assert!(decode_line(br#"["k",nul]"#).is_err());
        assert!(decode_line(br#"["k",nullx]"#).is_err());
        assert_eq!(decode_line(br#"["k",null]"#).unwrap().value, None);
    }
}
