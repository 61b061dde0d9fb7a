//! Terminal safety: strings that come from an archive, an export or an edit script
//! (kv keys and values, genesis paths, chain_id, member names…) are escaped before they
//! are printed for a person, so that none can move the cursor, erase or recolour lines,
//! or reorder text. One function, used by every human-readable output of the CLI.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal raw: C0 controls (newline and tab included: a
/// value must not start a fake line), DEL, C1 controls (U+0080–U+009F, e.g. the 8-bit
/// CSI), and the bidirectional formatting characters (U+061C, U+200E/F, U+202A–U+202E,
/// U+2066–U+2069) that can make displayed text differ from its logical order.
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every character of [`needs_escape`] written as `\u{XXXX}` (and backslash
/// as `\\` when anything is escaped, so the escaped form is unambiguous). Borrowed, not
/// copied, when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_escape_sequences_and_bidi() {
        assert!(matches!(escape("gcActions ok/ü ✓"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2K\rb"), "a\\u{001b}[2K\\u{000d}b");
        assert_eq!(escape("x\ny\tz"), "x\\u{000a}y\\u{0009}z");
        assert_eq!(escape("\u{9b}31m"), "\\u{009b}31m");
        assert_eq!(escape("\u{7f}"), "\\u{007f}");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in [
            '\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{61c}',
        ] {
            assert!(!escape(&format!("a{c}b")).contains(c), "{:x}", c as u32);
        }
        // backslashes are doubled once anything is escaped: no forged escape text
        assert_eq!(escape("\\u{001b}\x07"), "\\\\u{001b}\\u{0007}");
        // everything escaped is printable ASCII
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(needs_escape));
    }
}
