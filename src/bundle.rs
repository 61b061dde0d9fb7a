//! Bundle files in the forms people hold them (spec §4.3), turned into the bytes of a
//! swing-store `bundle.<id>` artifact:
//!
//! * a b1 zip (starts with `PK\x03\x04`): the artifact bytes as they are;
//! * the `{"moduleFormat":"endoZipBase64","endoZipBase64":"…","endoZipBase64Sha512":"…"}`
//!   JSON that `bundle-source` and governance proposals produce: the artifact is the zip,
//!   base64-decoded while reading ([`EndoZipReader`]); the declared
//!   `endoZipBase64Sha512` must be the bundle ID's hash (the SHA-512 of the zip's
//!   `compartment-map.json`, [`crate::hashes::B1Checker`]);
//! * anything else: a b0 JSON text, the artifact bytes as they are.
//!
//! Memory is bounded whatever the file holds: the base64 text streams through a 64 KiB
//! window, the short fields are capped at [`MAX_FIELD_BYTES`].

use std::io::{self, BufRead, BufReader, Read};

use base64::Engine;

/// Longest `moduleFormat` / `endoZipBase64Sha512` value or key held (a SHA-512 is 128 hex).
pub const MAX_FIELD_BYTES: usize = 256;
/// Base64 text decoded at a time.
const WINDOW: usize = 64 * 1024;

/// How a bundle file holds its artifact bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The file's bytes are the artifact (a b0 JSON text, a b1 zip, any other artifact).
    Raw,
    /// An endoZipBase64 JSON bundle: the artifact is its base64-decoded `endoZipBase64`.
    EndoZipBase64,
}

impl Encoding {
    /// The artifact bytes of a file in this encoding, as a stream.
    pub fn reader<R: Read + 'static>(self, r: R) -> Box<dyn Read> {
        match self {
            Encoding::Raw => Box::new(r),
            Encoding::EndoZipBase64 => Box::new(EndoZipReader::new(r)),
        }
    }
}

/// A problem with the bundle's content (not an I/O failure), carried inside the
/// `io::Error` that [`Read::read`] returns; see [`data_error`].
#[derive(Debug)]
struct BundleDataError(String);

impl std::fmt::Display for BundleDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BundleDataError {}

/// The content problem an [`EndoZipReader`] read failed with, or None for a real I/O error.
pub fn data_error(e: &io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|x| x.downcast_ref::<BundleDataError>())
        .map(|b| b.0.clone())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ModuleFormat,
    Zip,
    Sha512,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `{`.
    Start,
    /// After `{` (`first`: a `}` may close it) or `,`: a key's opening quote next.
    Key {
        first: bool,
    },
    /// Inside a key.
    InKey,
    /// After a key: `:` next.
    Colon,
    /// After `:`: a string value's opening quote next.
    Value,
    /// Inside a string value; `escape`: the previous byte was a backslash.
    InValue {
        escape: bool,
    },
    /// After a value: `,` or `}`.
    After,
    /// After the closing `}`: whitespace only.
    Trailing,
    Eof,
}

/// Reads an endoZipBase64 JSON bundle and yields the decoded zip bytes. The top level
/// must be one object of string values, each key once; `endoZipBase64` is decoded as it
/// streams (standard alphabet, padding optional, `\/` allowed as JSON permits); the other
/// fields are kept for [`EndoZipReader::module_format`], [`EndoZipReader::declared_sha512`]
/// and [`EndoZipReader::check_fields`]. A syntax error ends the read at once; a base64
/// error stops the output but the scan goes on to the end, so the fields are known, and
/// the error is returned at the end of the stream.
pub struct EndoZipReader<R> {
    r: BufReader<R>,
    state: State,
    /// Bytes consumed (for error offsets).
    off: u64,
    key: Vec<u8>,
    field: Field,
    value: Vec<u8>,
    seen: Vec<Vec<u8>>,
    module_format: Option<String>,
    sha512: Option<String>,
    has_zip: bool,
    other: Option<String>,
    /// Base64 text not decoded yet.
    pending: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// The first base64 problem; output stops there.
    bad: Option<String>,
    scratch: Vec<u8>,
}

fn engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

impl<R: Read> EndoZipReader<R> {
    pub fn new(r: R) -> Self {
        EndoZipReader {
            r: BufReader::with_capacity(WINDOW, r),
            state: State::Start,
            off: 0,
            key: Vec::new(),
            field: Field::Other,
            value: Vec::new(),
            seen: Vec::new(),
            module_format: None,
            sha512: None,
            has_zip: false,
            other: None,
            pending: Vec::with_capacity(WINDOW + 4),
            out: Vec::with_capacity(WINDOW),
            out_pos: 0,
            bad: None,
            scratch: Vec::with_capacity(WINDOW),
        }
    }

    /// The `moduleFormat` value, once read.
    pub fn module_format(&self) -> Option<&str> {
        self.module_format.as_deref()
    }

    /// The `endoZipBase64Sha512` value, once read.
    pub fn declared_sha512(&self) -> Option<&str> {
        self.sha512.as_deref()
    }

    /// After the whole file was read: every field of an endoZipBase64 bundle there, and
    /// no other.
    pub fn check_fields(&self) -> Result<(), String> {
        if self.module_format() != Some("endoZipBase64") {
            return Err(format!(
                "moduleFormat is {:?}, not \"endoZipBase64\"",
                self.module_format().unwrap_or("(missing)")
            ));
        }
        if !self.has_zip {
            return Err("the bundle has no endoZipBase64 field (the zip)".into());
        }
        if self.sha512.is_none() {
            return Err("the bundle has no endoZipBase64Sha512 field (its ID's hash)".into());
        }
        if let Some(k) = &self.other {
            return Err(format!(
                "unexpected field {k:?}: an endoZipBase64 bundle has only moduleFormat, endoZipBase64 and endoZipBase64Sha512"
            ));
        }
        Ok(())
    }

    fn syntax(&self, msg: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            BundleDataError(format!(
                "not an endoZipBase64 JSON bundle: {msg} at byte {}",
                self.off
            )),
        )
    }

    fn fail_b64(&mut self, at: u64, msg: String) {
        if self.bad.is_none() {
            self.bad = Some(format!(
                "endoZipBase64 is not valid base64: {msg} (near byte {at} of the file)"
            ));
            self.pending.clear();
        }
    }

    /// Decode the pending base64 text: all of it at the end of the string, otherwise
    /// whole groups, keeping the last one (only it may hold padding).
    fn decode(&mut self, last: bool) {
        if self.bad.is_some() {
            return;
        }
        let n = if last {
            self.pending.len()
        } else {
            self.pending.len().saturating_sub(4) / 4 * 4
        };
        if n == 0 {
            return;
        }
        if let Some(i) = memchr::memchr(b'=', &self.pending[..n]) {
            if !last || self.pending[i..n].iter().any(|&b| b != b'=') {
                return self.fail_b64(self.off, "'=' padding before the end".into());
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if let Err(e) = engine().decode_vec(&self.pending[..n], &mut self.out) {
            self.out.clear();
            return self.fail_b64(self.off, e.to_string());
        }
        self.pending.drain(..n);
    }

    fn end_key(&mut self) -> io::Result<()> {
        if self.seen.contains(&self.key) {
            return Err(self.syntax(format!(
                "key {:?} appears twice",
                String::from_utf8_lossy(&self.key)
            )));
        }
        self.seen.push(self.key.clone());
        self.field = match self.key.as_slice() {
            b"moduleFormat" => Field::ModuleFormat,
            b"endoZipBase64" => {
                self.has_zip = true;
                Field::Zip
            }
            b"endoZipBase64Sha512" => Field::Sha512,
            other => {
                if self.other.is_none() {
                    self.other = Some(String::from_utf8_lossy(other).into_owned());
                }
                Field::Other
            }
        };
        Ok(())
    }

    fn end_value(&mut self) {
        let v = String::from_utf8_lossy(&self.value).into_owned();
        match self.field {
            Field::ModuleFormat => self.module_format = Some(v),
            Field::Sha512 => self.sha512 = Some(v),
            Field::Zip => self.decode(true),
            Field::Other => {}
        }
        self.value.clear();
    }

    /// The end of the input: fine only after the closing brace.
    fn at_eof(&mut self) -> io::Result<()> {
        match self.state {
            State::Trailing => {
                self.state = State::Eof;
                Ok(())
            }
            _ => Err(self.syntax("the file ends early")),
        }
    }

    /// One byte of a key (not its closing quote).
    fn key_byte(&mut self, b: u8) -> io::Result<()> {
        match b {
            b'\\' | 0..=0x1f => Err(self
                .syntax("an escape or control character in a key (bundle keys are plain names)")),
            _ if self.key.len() >= MAX_FIELD_BYTES => {
                Err(self.syntax(format!("a key longer than {MAX_FIELD_BYTES} bytes")))
            }
            _ => {
                self.key.push(b);
                Ok(())
            }
        }
    }

    /// The byte after a backslash in a value, `used` bytes into this step's chunk: only
    /// `\/` is base64 (the JSON encoder's escaped slash).
    fn escaped(&mut self, b: u8, used: usize) -> io::Result<()> {
        match self.field {
            Field::Zip if b == b'/' => {
                self.pending.push(b'/');
            }
            Field::Zip => {
                let at = self.off + used as u64 - 2;
                self.fail_b64(at, format!("the escape \\{}", b as char));
            }
            Field::Other => {}
            _ => {
                return Err(self.syntax(
                    "an escape in moduleFormat or endoZipBase64Sha512 (plain text expected)",
                ))
            }
        }
        Ok(())
    }

    /// A run of a value's bytes without quote or backslash, at `from` in this step's chunk:
    /// base64 to decode, a short plain string to keep, or skipped.
    fn value_run(&mut self, bytes: &[u8], from: usize) -> io::Result<()> {
        match self.field {
            Field::Zip => {
                if self.bad.is_none() {
                    if let Some(i) = bytes.iter().position(|&c| !is_b64(c)) {
                        let at = self.off + (from + i) as u64;
                        self.fail_b64(
                            at,
                            format!("{} is not a base64 character", crate::json::show(bytes[i])),
                        );
                    } else {
                        self.pending.extend_from_slice(bytes);
                    }
                }
            }
            Field::Other => {}
            _ => {
                if self.value.len() + bytes.len() > MAX_FIELD_BYTES
                    || bytes.iter().any(|&c| c < 0x20)
                {
                    self.off += from as u64;
                    return Err(self.syntax(format!(
                        "the value of {:?} is not a short plain string (at most {MAX_FIELD_BYTES} bytes)",
                        String::from_utf8_lossy(&self.key)
                    )));
                }
                self.value.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Consume some input; may leave decoded bytes in `out`.
    fn step(&mut self) -> io::Result<()> {
        // a copy of the buffered input, so the scan can call `&mut self` helpers
        let mut chunk = std::mem::take(&mut self.scratch);
        chunk.clear();
        chunk.extend_from_slice(self.r.fill_buf()?);
        if chunk.is_empty() {
            return self.at_eof();
        }
        let len = chunk.len();
        let mut used = 0;
        let mut run: Option<(usize, usize)> = None;
        let (mut key_done, mut value_done) = (false, false);
        while used < len {
            let b = chunk[used];
            match self.state {
                State::Start
                | State::Key { .. }
                | State::Colon
                | State::Value
                | State::After
                | State::Trailing
                    if matches!(b, b' ' | b'\n' | b'\r' | b'\t') =>
                {
                    used += 1;
                }
                State::Start if b == b'{' => {
                    used += 1;
                    self.state = State::Key { first: true };
                }
                State::Key { .. } if b == b'"' => {
                    used += 1;
                    self.key.clear();
                    self.state = State::InKey;
                }
                State::Key { first: true } if b == b'}' => {
                    used += 1;
                    self.state = State::Trailing;
                }
                State::InKey => {
                    used += 1;
                    if b == b'"' {
                        self.state = State::Colon;
                        key_done = true; // checked below, outside the borrow
                        break;
                    }
                    self.key_byte(b)?;
                }
                State::Colon if b == b':' => {
                    used += 1;
                    self.state = State::Value;
                }
                State::Value if b == b'"' => {
                    used += 1;
                    self.state = State::InValue { escape: false };
                }
                State::Value => {
                    let k = String::from_utf8_lossy(&self.key).into_owned();
                    self.off += used as u64;
                    return Err(self.syntax(format!("the value of {k:?} is not a string")));
                }
                State::InValue { escape: true } => {
                    used += 1;
                    self.state = State::InValue { escape: false };
                    self.escaped(b, used)?;
                }
                State::InValue { escape: false } => {
                    // a run up to the next quote or backslash
                    let rest = &chunk[used..];
                    let stop = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    if stop > 0 {
                        run = Some((used, used + stop));
                        used += stop;
                        break;
                    }
                    used += 1;
                    if b == b'\\' {
                        self.state = State::InValue { escape: true };
                    } else {
                        self.state = State::After;
                        value_done = true; // stored below, outside the borrow
                        break;
                    }
                }
                State::After if b == b',' => {
                    used += 1;
                    self.state = State::Key { first: false };
                }
                State::After if b == b'}' => {
                    used += 1;
                    self.state = State::Trailing;
                }
                State::Eof => break,
                _ => {
                    self.off += used as u64;
                    return Err(self.syntax(format!("unexpected {}", crate::json::show(b))));
                }
            }
        }
        if let Some((from, to)) = run {
            self.value_run(&chunk[from..to], from)?;
        }
        self.r.consume(used);
        self.off += used as u64;
        self.scratch = chunk;
        if key_done {
            self.end_key()?;
        }
        if value_done {
            self.end_value();
        }
        if self.pending.len() >= WINDOW {
            self.decode(false);
        }
        Ok(())
    }
}

impl<R: Read> Read for EndoZipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.state == State::Eof {
                return match &self.bad {
                    Some(m) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        BundleDataError(m.clone()),
                    )),
                    None => Ok(0),
                };
            }
            self.step()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "81c0224cb5466dfa9b5d14bc94d19ed1b0ca7aa47d22dadd0f538f14a59d70a596aa37850ec89aba796873f912708bd6144a91693e643af7a98602c70fbe052f";

    /// The larger real bundle: its base64 text spans several decoding windows.
    const BIG: &str = "4c70b44626c0756a1a8587b250509d7743edb97ba680c6784ec0ce4aa469a71829afef0d0abc7ab91544aad3be3d07ecc54b3a7f01a1957ae1aa4532bcb775e1";

    fn fixture(ext: &str) -> Vec<u8> {
        real(ID, ext)
    }

    fn real(id: &str, ext: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/real/bundles/b1-{id}.{ext}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// Hands out at most `n` bytes per read: every state boundary falls inside a read.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn decode(json: &[u8], step: usize) -> (io::Result<Vec<u8>>, EndoZipReader<Trickle<'_>>) {
        let mut r = EndoZipReader::new(Trickle(json, step));
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out).map(|_| out);
        (res, r)
    }

    #[test]
    fn real_bundle_decodes_to_the_zip_in_any_read_sizes() {
        for id in [ID, BIG] {
            let (json, zip) = (real(id, "json"), real(id, "zip"));
            assert!(json.len() > 2 * WINDOW || id == ID);
            for step in [1, 3, 4, 7, 4096, 1 << 20] {
                let (out, r) = decode(&json, step);
                assert!(out.unwrap() == zip, "{id}: read size {step}");
                assert_eq!(r.module_format(), Some("endoZipBase64"));
                assert_eq!(r.declared_sha512(), Some(id));
                r.check_fields().unwrap();
            }
            // and the decoded zip is the bundle its ID names (spec §4.3)
            crate::hashes::check_b1(id, &zip[..]).unwrap();
        }
    }

    #[test]
    fn json_spellings_are_accepted() {
        let zip = fixture("zip");
        let v: serde_json::Value = serde_json::from_slice(&fixture("json")).unwrap();
        let b64 = v["endoZipBase64"].as_str().unwrap();
        for text in [
            // other key order, escaped slashes, no padding, whitespace around tokens
            format!("{{\"endoZipBase64Sha512\":\"{ID}\",\"endoZipBase64\":\"{b64}\",\"moduleFormat\":\"endoZipBase64\"}}"),
            format!("{{\"moduleFormat\":\"endoZipBase64\",\"endoZipBase64\":\"{}\",\"endoZipBase64Sha512\":\"{ID}\"}}", b64.replace('/', "\\/")),
            format!(" \n{{ \"moduleFormat\" : \"endoZipBase64\" ,\n \"endoZipBase64\":\"{}\", \"endoZipBase64Sha512\":\"{ID}\" }}\n", b64.trim_end_matches('=')),
        ] {
            for step in [1, 5, 1 << 16] {
                let (out, r) = decode(text.as_bytes(), step);
                assert!(out.unwrap() == zip, "{}", &text[..60]);
                r.check_fields().unwrap();
            }
        }
    }

    fn err_of(text: &str) -> String {
        let (out, _) = decode(text.as_bytes(), 3);
        let e = out.expect_err(text);
        data_error(&e).unwrap_or_else(|| panic!("not a data error: {e}"))
    }

    #[test]
    fn malformed_input_is_named() {
        let b64 = |s: &str| {
            format!("{{\"moduleFormat\":\"endoZipBase64\",\"endoZipBase64\":\"{s}\",\"endoZipBase64Sha512\":\"{ID}\"}}")
        };
        for (text, want) in [
            (b64("QUJD!EVG"), "'!' is not a base64 character"),
            (b64("QU=DREVG"), "padding"),
            (b64("QUJDREVGR"), "not valid base64"),
            (b64("QUJD\\nREVG"), "the escape \\n"),
            ("{\"moduleFormat\":1}".to_string(), "not a string"),
            ("{\"a\":\"x\",\"a\":\"y\"}".to_string(), "appears twice"),
            ("{\"a\":\"x\"".to_string(), "ends early"),
            ("{\"a\":\"x\"} {}".to_string(), "unexpected '{'"),
            ("[]".to_string(), "unexpected '['"),
            (
                format!("{{\"moduleFormat\":\"{}\"}}", "x".repeat(300)),
                "short plain string",
            ),
            (format!("{{\"{}\":\"x\"}}", "k".repeat(300)), "key longer"),
        ] {
            let e = err_of(&text);
            assert!(e.contains(want), "{text:.80}: {e}");
        }
        // a base64 error still lets the scan reach the fields after it
        let text = b64("QUJD!EVG");
        let (_, r) = decode(text.as_bytes(), 2);
        assert_eq!(r.declared_sha512(), Some(ID));
    }

    #[test]
    fn missing_and_extra_fields_are_refused() {
        for (text, want) in [
            ("{\"moduleFormat\":\"nestedEvaluate\",\"source\":\"x\"}", "not \"endoZipBase64\""),
            ("{\"moduleFormat\":\"endoZipBase64\",\"endoZipBase64Sha512\":\"ab\"}", "no endoZipBase64 field"),
            ("{\"moduleFormat\":\"endoZipBase64\",\"endoZipBase64\":\"\"}", "no endoZipBase64Sha512"),
            ("{\"moduleFormat\":\"endoZipBase64\",\"endoZipBase64\":\"\",\"endoZipBase64Sha512\":\"ab\",\"x\":\"y\"}", "unexpected field \"x\""),
        ] {
            let (out, r) = decode(text.as_bytes(), 4);
            out.unwrap();
            let e = r.check_fields().expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
