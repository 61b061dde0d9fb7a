//! The tree-based canonical form agar used before the streaming layer (src/json), kept
//! as the reference the streaming canonicaliser must equal byte for byte: serde_json
//! (arbitrary_precision, duplicate keys refused by `genesis::parse_strict`) into a
//! `Value`, then sorted keys, compact, jq's escaping, a final newline.

use serde_json::Value;

fn write_jq_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f | 0x7f => Some(b""),
            _ => None,
        };
        if let Some(e) = esc {
            out.extend_from_slice(&b[start..i]);
            if e.is_empty() {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            } else {
                out.extend_from_slice(e);
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn write_canonical(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_jq_string(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            // serde_json's Map is a BTreeMap<String, _>: iteration is bytewise key order.
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_jq_string(out, k);
                out.push(b':');
                write_canonical(out, x);
            }
            out.push(b'}');
        }
    }
}

/// The reference canonical bytes of a JSON text, or the reason serde_json refuses it.
pub fn canonical(text: &[u8]) -> Result<Vec<u8>, String> {
    let v = agar::genesis::parse_strict("reference", text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    write_canonical(&mut out, &v);
    out.push(b'\n');
    Ok(out)
}
