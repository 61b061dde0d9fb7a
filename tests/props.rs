//! Property tests (issue 7): the Go JSON line codec, the canonical tar header and the
//! parallel gzip writer, on arbitrary inputs.

use std::io::{self, Read, Write};

use agar::archive::gz::{ParGzWriter, StrictGzReader, CHUNK};
use agar::archive::tar::{member_header, padding, USTAR_SIZE_MAX};
use agar::gojson::{decode_line, encode_entry, encode_str_into};
use proptest::prelude::*;

/// Bytes Go's encoder always escapes (besides `"` and `\`, which appear escaped).
fn raw_forbidden(encoded: &[u8]) -> Option<String> {
    if let Some(b) = encoded
        .iter()
        .find(|&&b| b < 0x20 || matches!(b, b'<' | b'>' | b'&'))
    {
        return Some(format!("raw byte {b:#04x}"));
    }
    let s = std::str::from_utf8(encoded).ok()?;
    s.chars()
        .find(|c| matches!(c, '\u{2028}' | '\u{2029}'))
        .map(|c| format!("raw {c:?}"))
}

fn any_unicode() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // dense in the characters the encoder treats specially
        proptest::collection::vec(
            prop_oneof![
                Just('<'),
                Just('>'),
                Just('&'),
                Just('"'),
                Just('\\'),
                Just('/'),
                Just('\u{2028}'),
                Just('\u{2029}'),
                Just('\u{7f}'),
                Just('\u{fffd}'),
                Just('\u{feff}'),
                Just('\u{10ffff}'),
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
                any::<char>(),
            ],
            0..64
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn gojson_round_trips_any_unicode(k in any_unicode(), v in any_unicode(), null in any::<bool>()) {
        let key = format!("kv.{k}");
        let value = (!null).then_some(v.as_str());
        let line = encode_entry(key.as_bytes(), value.map(str::as_bytes));
        prop_assert_eq!(line.last(), Some(&b'\n'));
        let body = &line[..line.len() - 1];
        prop_assert!(std::str::from_utf8(body).is_ok());
        prop_assert_eq!(raw_forbidden(body), None);
        let e = decode_line(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&e.key, &key);
        prop_assert_eq!(e.value.as_deref(), value);
        // canonical: encoding the decoded entry gives the same bytes
        prop_assert_eq!(encode_entry(e.key.as_bytes(), e.value.as_deref().map(str::as_bytes)), line);
    }

    #[test]
    fn gojson_encoder_output_is_safe_for_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut out = Vec::new();
        encode_str_into(&mut out, &b);
        prop_assert!(std::str::from_utf8(&out).is_ok(), "not UTF-8");
        prop_assert_eq!(raw_forbidden(&out), None);
        // valid UTF-8 input decodes back exactly; invalid bytes became U+FFFD
        let line = [&b"[\"k\","[..], &out, b"]"].concat();
        let e = decode_line(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let v = e.value.unwrap();
        match std::str::from_utf8(&b) {
            Ok(s) => prop_assert_eq!(v, s),
            Err(_) => prop_assert!(v.contains(char::REPLACEMENT_CHARACTER)),
        }
    }

    #[test]
    fn decode_line_never_panics(b in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = decode_line(&b);
    }
}

/// A reader that yields `header`, then `size` zero bytes (never materialised).
fn header_then_zeros(header: Vec<u8>, size: u64) -> impl Read {
    io::Cursor::new(header)
        .chain(io::repeat(0).take(size + padding(size) as u64))
        .chain(io::Cursor::new(vec![0u8; 1024]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn tar_header_round_trips_through_the_tar_crate(
        name in "[a-zA-Z0-9._-]{1,60}(/[a-zA-Z0-9._-]{1,60}){0,4}",
        size in prop_oneof![0u64..5000, (USTAR_SIZE_MAX - 3)..(USTAR_SIZE_MAX + 3), 0u64..(1u64 << 40)],
    ) {
        let h = member_header(&name, size);
        prop_assert_eq!(h.len() % 512, 0);
        prop_assert_eq!(h.len() > 512, name.len() > 100 || size > USTAR_SIZE_MAX);
        let mut a = tar::Archive::new(header_then_zeros(h.clone(), size));
        let mut entries = a.entries().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let e = entries.next().ok_or_else(|| TestCaseError::fail("no entry"))?
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(e.path().unwrap().to_string_lossy().into_owned(), name.clone());
        prop_assert_eq!(e.size(), size);
        prop_assert_eq!(e.header().entry_type(), tar::EntryType::Regular);
        prop_assert_eq!(e.header().mode().unwrap(), 0o644);
        // the ustar block's own checksum is valid
        let last = &h[h.len() - 512..];
        prop_assert_eq!(
            tar::Header::from_byte_slice(last).cksum().unwrap(),
            {
                let mut b = last.to_vec();
                b[148..156].fill(b' ');
                b.iter().map(|&x| x as u32).sum::<u32>()
            }
        );
    }
}

/// Deterministic test data from a seed: runs (compressible) and noise.
fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let run = (x % 300) as usize;
        if x.is_multiple_of(3) {
            v.extend_from_slice(&vec![(x >> 8) as u8; run]);
        } else {
            v.extend((0..run).map(|i| (x >> (i % 56)) as u8));
        }
    }
    v.truncate(len);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn par_gzip_decodes_to_its_input_for_any_thread_count(
        seed in any::<u64>(),
        len in prop_oneof![0usize..5000, (CHUNK - 2)..(CHUNK + 2), 0usize..(3 * CHUNK + 100)],
        threads in 1usize..6,
        level in 1u32..10,
        piece in 1usize..200_000,
    ) {
        let input = data(seed, len);
        let gz = |t: usize| {
            let mut w = ParGzWriter::new(Vec::new(), level, t).unwrap();
            for p in input.chunks(piece) {
                w.write_all(p).unwrap();
            }
            w.finish().unwrap()
        };
        let out = gz(threads);
        prop_assert_eq!(&out, &gz(1), "output depends on the thread count");
        let mut a = Vec::new();
        flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut a).unwrap();
        prop_assert!(a == input, "flate2 decodes something else");
        let mut b = Vec::new();
        StrictGzReader::new(io::BufReader::new(&out[..])).unwrap().read_to_end(&mut b).unwrap();
        prop_assert!(b == input, "the strict reader decodes something else");
    }
}
