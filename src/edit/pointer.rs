//! JSON Pointer (RFC 6901) set and delete on genesis documents.

use serde_json::Value;

use crate::error::{bail, Error, Result};

/// The swingset fields agar owns (recomputed on every edit), in both spellings.
const OWNED: [&str; 4] = [
    "swing_store_export_data_hash",
    "swing_store_export_data",
    "swingStoreExportDataHash",
    "swingStoreExportData",
];

pub fn tokens(pointer: &str) -> Result<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return bail(
            format!("JSON Pointer {pointer:?}"),
            "must be empty or start with '/' (e.g. /app_state/bank/params)",
        );
    };
    rest.split('/')
        .map(|t| {
            if t.contains('~') {
                let mut out = String::new();
                let mut it = t.chars();
                while let Some(c) = it.next() {
                    if c == '~' {
                        match it.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => {
                                return bail(
                                    format!("JSON Pointer {pointer:?}"),
                                    "'~' must be followed by 0 or 1",
                                )
                            }
                        }
                    } else {
                        out.push(c);
                    }
                }
                Ok(out)
            } else {
                Ok(t.to_string())
            }
        })
        .collect()
}

/// Refuse pointers at, inside or above the export-data fields agar recomputes.
pub fn check_not_owned(pointer: &str, toks: &[String]) -> Result<()> {
    for f in OWNED {
        let owned = ["app_state", "swingset", f];
        let n = toks.len().min(3);
        if toks[..n] == owned[..n] {
            return Err(Error::Refused(format!(
                "JSON Pointer {pointer:?} {} app_state.swingset.{f}, which agar owns: it recomputes the export-data hash from export-data.jsonl on every edit. Edit kvStore or artifacts instead, or point deeper than /app_state/swingset/<field>",
                if toks.len() >= 3 { "points into" } else { "would replace" }
            )));
        }
    }
    Ok(())
}

fn index(loc: &str, tok: &str, len: usize, allow_end: bool) -> Result<usize> {
    if allow_end && tok == "-" {
        return Ok(len);
    }
    let i = crate::model::parse_pos(tok)
        .ok_or_else(|| Error::invalid(loc, format!("{tok:?} is not an array index")))?
        as usize;
    if i > len || (i == len && !allow_end) {
        return bail(
            loc,
            format!("index {i} is out of range (array length {len})"),
        );
    }
    Ok(i)
}

fn parent<'a>(doc: &'a mut Value, pointer: &str, toks: &[String]) -> Result<&'a mut Value> {
    let mut cur = doc;
    for (depth, t) in toks.iter().enumerate() {
        let loc = format!("genesis.json: {pointer}: /{}", toks[..=depth].join("/"));
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| {
                Error::invalid(&loc, "does not exist (a pointer's parent must exist)")
            })?,
            Value::Array(a) => {
                let len = a.len();
                let i = index(&loc, t, len, false)?;
                &mut a[i]
            }
            _ => return bail(loc, "is not an object or array"),
        };
    }
    Ok(cur)
}

/// Set the value at `pointer` (replacing it, adding an object member, or appending to an
/// array with `-` or index = length). Returns the old value, if any.
pub fn set(doc: &mut Value, pointer: &str, value: Value) -> Result<Option<Value>> {
    let toks = tokens(pointer)?;
    check_not_owned(pointer, &toks)?;
    let Some((last, up)) = toks.split_last() else {
        return Err(Error::Refused(
            "genesis-set with the empty pointer would replace the whole genesis; set its fields one by one".into(),
        ));
    };
    let loc = format!("genesis.json: {pointer}");
    match parent(doc, pointer, up)? {
        Value::Object(m) => Ok(m.insert(last.clone(), value)),
        Value::Array(a) => {
            let i = index(&loc, last, a.len(), true)?;
            if i == a.len() {
                a.push(value);
                Ok(None)
            } else {
                Ok(Some(std::mem::replace(&mut a[i], value)))
            }
        }
        _ => bail(loc, "its parent is not an object or array"),
    }
}

/// Delete the value at `pointer` (it must exist). Returns it.
pub fn delete(doc: &mut Value, pointer: &str) -> Result<Value> {
    let toks = tokens(pointer)?;
    check_not_owned(pointer, &toks)?;
    let Some((last, up)) = toks.split_last() else {
        return Err(Error::Refused(
            "genesis-delete with the empty pointer would delete the whole genesis".into(),
        ));
    };
    let loc = format!("genesis.json: {pointer}");
    match parent(doc, pointer, up)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| Error::invalid(&loc, "does not exist, so it cannot be deleted")),
        Value::Array(a) => {
            let i = index(&loc, last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => bail(loc, "its parent is not an object or array"),
    }
}

/// Escape one reference token for display.
pub fn escape_token(t: &str) -> String {
    t.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_delete_and_refusals() {
        let mut v: Value = serde_json::from_str(
            r#"{"a":{"b":[1,2]},"app_state":{"swingset":{"swing_store_export_data_hash":"x","params":{}}}}"#,
        )
        .unwrap();
        assert_eq!(
            set(&mut v, "/a/b/0", Value::from(5)).unwrap(),
            Some(Value::from(1))
        );
        set(&mut v, "/a/b/-", Value::from(7)).unwrap();
        set(&mut v, "/a/c~1d", Value::from(true)).unwrap();
        assert_eq!(v["a"]["b"], serde_json::json!([5, 2, 7]));
        assert_eq!(v["a"]["c/d"], Value::Bool(true));
        assert_eq!(delete(&mut v, "/a/b/1").unwrap(), Value::from(2));
        assert!(delete(&mut v, "/a/zz").is_err());
        assert!(set(&mut v, "/nope/x", Value::Null).is_err());
        assert!(set(&mut v, "/a/b/9", Value::Null).is_err());
        assert!(set(&mut v, "/app_state/swingset/params/x", Value::Null).is_ok());
        for p in [
            "",
            "/app_state",
            "/app_state/swingset",
            "/app_state/swingset/swing_store_export_data_hash",
            "/app_state/swingset/swing_store_export_data/0",
        ] {
            assert!(
                matches!(set(&mut v, p, Value::Null), Err(Error::Refused(_))),
                "{p}"
            );
        }
        assert!(tokens("a").is_err());
        assert!(tokens("/a~2").is_err());
    }
}
