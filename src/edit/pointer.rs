//! JSON Pointer (RFC 6901) reference tokens for genesis edits, and the fields agar owns.
//! Setting and deleting happen in the streaming walker (`json::walk`), on the document as
//! it is rewritten.

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

/// Escape one reference token for display.
pub fn escape_token(t: &str) -> String {
    t.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_unescape_and_owned_fields_are_refused() {
        assert_eq!(tokens("").unwrap(), Vec::<String>::new());
        assert_eq!(tokens("/a/c~1d/~0x~01/").unwrap(), ["a", "c/d", "~x~1", ""]);
        for bad in ["a", "/a~2", "/a~"] {
            assert!(tokens(bad).is_err(), "{bad}");
        }
        assert_eq!(escape_token("~x/y"), "~0x~1y");
        for p in [
            "",
            "/app_state",
            "/app_state/swingset",
            "/app_state/swingset/swing_store_export_data_hash",
            "/app_state/swingset/swing_store_export_data/0",
            "/app_state/swingset/swingStoreExportDataHash",
        ] {
            let t = tokens(p).unwrap();
            assert!(
                matches!(check_not_owned(p, &t), Err(Error::Refused(_))),
                "{p}"
            );
        }
        for p in ["/a", "/app_state/bank", "/app_state/swingset/params/x"] {
            check_not_owned(p, &tokens(p).unwrap()).unwrap();
        }
    }
}
