//! `genesis_time`: the one rule every operation that sets it follows.
//!
//! agd reads `genesis_time` with Go's `time.Time.UnmarshalJSON` (RFC 3339), so a value
//! that is RFC 3339 in shape but not a real instant (`2026-13-45T99:99:99Z`) gives an
//! archive that verifies but a chain that refuses to start. The layout is checked here
//! (what Go's `RFC3339Nano` layout accepts: upper-case `T`, `Z` or `±hh:mm`, optional
//! fraction) and the calendar by the `time` crate (month, day of month, hours, minutes,
//! seconds and offset in range, leap years).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `Ok` if `t` is a genesis time agd accepts, else why not.
pub fn check(t: &str) -> Result<(), String> {
    let why = || {
        format!("{t:?} is not an RFC 3339 time like 2026-01-02T03:04:05.678901234Z (UTC `Z` or an offset like +02:00)")
    };
    if !layout_ok(t) {
        return Err(why());
    }
    // a leap second (":60") is never valid for Go's parser
    if &t[17..19] == "60" {
        return Err(format!("{}: second 60 is out of range", why()));
    }
    OffsetDateTime::parse(t, &Rfc3339)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", why()))
}

/// The shape of Go's `2006-01-02T15:04:05.999999999Z07:00`.
fn layout_ok(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &f[n..];
    }
    let r = rest.as_bytes();
    rest == "Z"
        || (r.len() == 6
            && matches!(r[0], b'+' | b'-')
            && r[3] == b':'
            && [r[1], r[2], r[4], r[5]].iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::{check, layout_ok};

    #[test]
    fn accepts_what_go_marshals() {
        for t in [
            "2026-01-02T03:04:05.678901234Z",
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05+02:00",
            "2026-01-02T03:04:05.5-07:30",
            "2024-02-29T23:59:59Z",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(check(t), Ok(()), "{t}");
        }
    }

    #[test]
    fn refuses_impossible_instants_and_other_layouts() {
        for t in [
            "2026-13-45T99:99:99Z",
            "2026-00-10T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-01-02T24:00:00Z",
            "2026-01-02T23:60:00Z",
            "2026-12-31T23:59:60Z",
            "2026-01-02T03:04:05+24:00",
            "2026-01-02T03:04:05+02:60",
            "2026-01-02 03:04:05Z",
            "2026-01-02t03:04:05Z",
            "2026-01-02T03:04:05z",
            "2026-01-02T03:04:05.",
            "2026-01-02T03:04:05.1234567890Z",
            "2026-01-02T03:04:05",
            "2026-01-02T03:04:05+0200",
            "yesterday",
            "",
            "2026-01-02",
            "2026-01-02T03:04:0éZ",
            "2026-01-02T03:04:05+02:0",
        ] {
            assert!(check(t).is_err(), "{t} accepted");
        }
        assert!(check("2026-13-45T99:99:99Z")
            .unwrap_err()
            .contains("RFC 3339"));
    }

    /// Go's layout byte by byte: each position of a valid time, spoiled alone, is
    /// refused by the layout check itself (not left to the calendar parser), and so are
    /// offsets of the wrong shape.
    #[test]
    fn the_layout_check_refuses_every_single_spoiled_byte() {
        let good = "2026-01-02T03:04:05Z";
        assert!(layout_ok(good));
        assert!(layout_ok("2026-01-02T03:04:05-07:30"));
        for i in 0..good.len() {
            let mut b = good.as_bytes().to_vec();
            b[i] = if b[i].is_ascii_digit() { b'x' } else { b'0' };
            let t = String::from_utf8(b).unwrap();
            assert!(!layout_ok(&t), "{t} passes the layout check");
        }
        for offset in [
            "+02:00:00",
            " 02:00",
            "+02-00",
            "+0200",
            "+x2:00",
            "+02:0x",
            "+02:0",
        ] {
            let t = format!("2026-01-02T03:04:05{offset}");
            assert!(!layout_ok(&t), "{t} passes the layout check");
        }
    }
}
