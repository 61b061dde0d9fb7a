//! Cosmos SDK numbers as genesis files spell them: `Int` (decimal integer strings),
//! `Dec` (18 fractional digits, `"0.500000000000000000"`), `Coins` (`1000ubld,5uist`),
//! durations (`"172800s"`). Held as u128 (an `Int` of 3.4e38, a `Dec` of 3.4e20 whole
//! units: far above any real supply or share count); anything larger is refused, never
//! wrapped.

use crate::error::{bail, Result};

/// 10^18: a `Dec`'s scale.
pub const DEC_ONE: u128 = 1_000_000_000_000_000_000;

/// Parse a non-negative `Int` string.
pub fn int(loc: &str, s: &str) -> Result<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return bail(loc, format!("{s:?} is not a non-negative integer"));
    }
    s.parse::<u128>()
        .or_else(|_| bail(loc, format!("{s:?} is larger than agar handles (2^128)")))
}

/// Parse a non-negative decimal (`"8000000000.000000000000000000"`, `"0.5"`, `"3"`) as a
/// `Dec` scaled by 10^18; more than 18 fractional digits are refused.
pub fn dec(loc: &str, s: &str) -> Result<u128> {
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if w.is_empty() || !digits(w) || !digits(f) || (s.contains('.') && f.is_empty()) {
        return bail(loc, format!("{s:?} is not a non-negative decimal"));
    }
    if f.len() > 18 {
        return bail(loc, format!("{s:?} has more than 18 decimal places"));
    }
    let frac = format!("{f:0<18}");
    let whole: u128 = w
        .parse()
        .or_else(|_| bail(loc, format!("{s:?} is too large")))?;
    let frac: u128 = frac.parse().unwrap_or(0);
    whole
        .checked_mul(DEC_ONE)
        .and_then(|x| x.checked_add(frac))
        .map_or_else(|| bail(loc, format!("{s:?} is too large")), Ok)
}

/// A `Dec` in the SDK's JSON form: 18 fractional digits.
pub fn dec_string(v: u128) -> String {
    format!("{}.{:018}", v / DEC_ONE, v % DEC_ONE)
}

/// A coin denomination as the SDK accepts it: `[a-zA-Z][a-zA-Z0-9/:._-]{2,127}`.
pub fn valid_denom(d: &str) -> bool {
    let b = d.as_bytes();
    (3..=128).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"/:._-".contains(c))
}

/// Parse coins `AMOUNTDENOM[,AMOUNTDENOM...]` (e.g. `1000000ubld`) into sorted
/// (denom, amount) pairs, refusing zero amounts and repeated denoms.
pub fn coins(loc: &str, s: &str) -> Result<Vec<(String, u128)>> {
    let mut out: Vec<(String, u128)> = Vec::new();
    for part in s.split(',') {
        let n = part.bytes().take_while(u8::is_ascii_digit).count();
        let (a, d) = part.split_at(n);
        if n == 0 || !valid_denom(d) {
            return bail(
                loc,
                format!("{part:?} is not AMOUNTDENOM (an integer then a denomination, like 1000000ubld)"),
            );
        }
        let a = int(loc, a)?;
        if a == 0 {
            return bail(loc, format!("{part:?}: the amount must be positive"));
        }
        if out.iter().any(|(x, _)| x == d) {
            return bail(loc, format!("{s:?}: denomination {d} given twice"));
        }
        out.push((d.to_string(), a));
    }
    out.sort();
    Ok(out)
}

/// Coins in their compact text form (`1000000ubld,5uist`).
pub fn coins_string(c: &[(String, u128)]) -> String {
    c.iter()
        .map(|(d, a)| format!("{a}{d}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A duration as the SDK's JSON writes it (`"172800s"`), from `N`, `Ns`, `Nm`, `Nh` or `Nd`.
pub fn duration(loc: &str, s: &str) -> Result<String> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(n);
    let mult: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => 0,
    };
    let v: Option<u64> = num.parse().ok().and_then(|x: u64| x.checked_mul(mult));
    match v {
        Some(v) if n > 0 && v > 0 && mult > 0 => Ok(format!("{v}s")),
        _ => bail(
            loc,
            format!("{s:?} is not a positive duration (like 60s, 10m, 2h or 21d)"),
        ),
    }
}

/// `a * b * c / d`, truncated, through a 384-bit intermediate (the SDK's `LegacyDec`
/// arithmetic works on big integers: `Dec * Int / Dec` passes 128 bits on real amounts);
/// None when `d` is 0 or the result does not fit in u128.
pub fn mul_mul_div(a: u128, b: u128, c: u128, d: u128) -> Option<u128> {
    fn mul(x: &mut [u64; 6], m: u128) {
        let mut acc = [0u64; 6];
        for (shift, part) in [(0, m as u64), (1, (m >> 64) as u64)] {
            let mut carry = 0u128;
            for i in 0..6 - shift {
                let t = acc[i + shift] as u128 + x[i] as u128 * part as u128 + carry;
                acc[i + shift] = t as u64;
                carry = t >> 64;
            }
        }
        *x = acc;
    }
    if d == 0 {
        return None;
    }
    let mut x = [a as u64, (a >> 64) as u64, 0, 0, 0, 0];
    mul(&mut x, b);
    mul(&mut x, c);
    let (mut q, mut r) = ([0u64; 6], 0u128);
    for bit in (0..384).rev() {
        let top = r >> 127;
        r = (r << 1) | ((x[bit / 64] >> (bit % 64)) & 1) as u128;
        if top == 1 || r >= d {
            r = r.wrapping_sub(d);
            q[bit / 64] |= 1 << (bit % 64);
        }
    }
    (q[2..].iter().all(|&l| l == 0)).then(|| q[0] as u128 | (q[1] as u128) << 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(int("t", "8000000000").unwrap(), 8_000_000_000);
        assert!(int("t", "-1").is_err() && int("t", "01").is_err() && int("t", "").is_err());
        assert_eq!(
            dec("t", "8000000000.000000000000000000").unwrap(),
            8_000_000_000 * DEC_ONE
        );
        assert_eq!(
            dec_string(dec("t", "0.334").unwrap()),
            "0.334000000000000000"
        );
        assert_eq!(dec_string(1), "0.000000000000000001");
        assert!(dec("t", "1.").is_err() && dec("t", "0.0000000000000000001").is_err());
        assert_eq!(
            coins("t", "5uist,1000000ubld").unwrap(),
            vec![("ubld".into(), 1_000_000), ("uist".into(), 5)]
        );
        assert!(coins("t", "0ubld").is_err() && coins("t", "1u").is_err());
        assert!(coins("t", "1ubld,2ubld").is_err());
        assert_eq!(
            coins_string(&coins("t", "1ubld,9ibc/ABC:1.x-y").unwrap()),
            "9ibc/ABC:1.x-y,1ubld"
        );
        assert_eq!(duration("t", "60s").unwrap(), "60s");
        assert_eq!(duration("t", "2h").unwrap(), "7200s");
        assert!(duration("t", "0s").is_err() && duration("t", "1w").is_err());
    }

    #[test]
    fn wide_mul_div() {
        assert_eq!(mul_mul_div(7, 3, 1, 2), Some(10));
        assert_eq!(mul_mul_div(1, 1, 1, 0), None);
        // a real-sized TokensFromShares: 5e28 raw shares * 1e14 tokens * 1e18 / 1e32
        let s = 50_000_000_000 * DEC_ONE;
        let t = 100_000_000_000_000u128;
        assert_eq!(mul_mul_div(s, t, DEC_ONE, t * DEC_ONE), Some(s));
        // truncation: 1/3
        assert_eq!(mul_mul_div(1, DEC_ONE, 1, 3), Some(333_333_333_333_333_333));
        assert_eq!(mul_mul_div(u128::MAX, u128::MAX, 1, 1), None);
        assert_eq!(
            mul_mul_div(u128::MAX, u128::MAX, 1, u128::MAX),
            Some(u128::MAX)
        );
    }
}
