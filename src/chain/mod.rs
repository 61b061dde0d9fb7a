//! Cosmos chain state inside genesis.json, for testnet rehearsals from mainnet state
//! (issue 17): typed edits of balances, governance and staking parameters, applied as
//! streaming rewrites of the canonical genesis member, and the consistency check
//! ([`check`]).
//!
//! Every edit reads the member in at most two passes through the array-element hooks of
//! [`crate::json::walk`]: one to gather (an index, a total, the small supply array), one to
//! write. One array element (one balance, one account) is held at a time, so bank balances
//! of hundreds of thousands of entries cost one entry of memory. Both export shapes work:
//! the edits touch only `app_state`, which SDK ≤ 0.47 and 0.50+ exports lay out alike.

pub mod check;
pub mod num;
pub mod order;

use std::cell::RefCell;

use serde_json::{json, Value};

use crate::error::{bail, Error, Result};
use crate::genesis::CanonicalGenesis;
use crate::json::walk::{Action, Edit, Element, Hook};

/// An owned hook callback (see [`crate::json::walk::HookFn`]).
pub type HookBox<'a> = Box<crate::json::walk::HookFn<'a>>;

/// The canonical bytes of a small value, without the final newline.
pub fn canon(v: &Value) -> Vec<u8> {
    let mut b = crate::genesis::canonical_bytes(v);
    b.pop();
    b
}

/// Parse one materialised element.
pub fn parse(loc: &str, i: u64, b: &[u8]) -> Result<Value> {
    serde_json::from_slice(b).map_err(|e| Error::invalid(format!("{loc}[{i}]"), e.to_string()))
}

/// A hook at a slash-separated path (`app_state/bank/balances`).
fn at<'h>(path: &str, f: &'h mut crate::json::walk::HookFn<'h>) -> Hook<'h> {
    Hook {
        tokens: path.split('/').map(str::to_string).collect(),
        f,
    }
}

fn toks(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

fn edit(p: &[&str], v: Vec<u8>) -> Edit {
    Edit {
        pointer: format!("/{}", p.join("/")),
        tokens: toks(p),
        action: Action::Set(v),
    }
}

/// Decode a bech32 address: (prefix, bytes). Only the form the SDK writes, the one
/// re-encoding the bytes gives back: lowercase, a bech32 (not bech32m) checksum, as many
/// data characters as the bytes need and zero padding bits. (Checked directly rather than
/// by re-encoding: verify decodes every address of a genesis, and encoding was a third of
/// that cost.)
pub fn decode_addr(s: &str) -> Option<(String, Vec<u8>)> {
    use bech32::primitives::decode::CheckedHrpstring;
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let c = CheckedHrpstring::new::<bech32::Bech32>(s).ok()?;
    let data: Vec<u8> = c.byte_iter().collect();
    let chars = c.data_part_ascii_no_checksum();
    if chars.len() != (data.len() * 8).div_ceil(5) {
        return None;
    }
    let pad = chars.len() * 5 - data.len() * 8;
    if let Some(&last) = chars.last() {
        let fe = bech32::Fe32::from_char(last as char).ok()?;
        if fe.to_u8() & ((1 << pad) - 1) != 0 {
            return None;
        }
    }
    Some((c.hrp().to_string(), data))
}

/// Encode bytes as a bech32 address with `prefix`.
pub fn encode_addr(prefix: &str, data: &[u8]) -> Result<String> {
    let hrp = bech32::Hrp::parse(prefix)
        .map_err(|e| Error::invalid("address prefix", format!("{prefix:?}: {e}")))?;
    bech32::encode::<bech32::Bech32>(hrp, data)
        .map_err(|e| Error::invalid("address", format!("cannot encode: {e}")))
}

/// The object holding an account's address and number, whatever its type (base,
/// module: `base_account`, vesting: `base_vesting_account.base_account`).
fn base_account(v: &Value) -> &Value {
    if v.get("address").is_some() {
        v
    } else if let Some(b) = v.get("base_account") {
        b
    } else {
        &v["base_vesting_account"]["base_account"]
    }
}

/// An account's address, whatever its type.
pub fn account_address(v: &Value) -> Option<&str> {
    base_account(v)["address"].as_str()
}

fn account_number(v: &Value) -> Option<u64> {
    base_account(v)["account_number"]
        .as_str()
        .and_then(|s| s.parse().ok())
}

/// Coins of a JSON coin list as (denom, amount) in their order.
pub fn coin_list(loc: &str, v: &Value) -> Result<Vec<(String, u128)>> {
    let Some(a) = v.as_array() else {
        return bail(loc, "coins are not an array");
    };
    a.iter()
        .map(|c| {
            let d = c.get("denom").and_then(Value::as_str);
            let amt = c.get("amount").and_then(Value::as_str);
            match (d, amt) {
                (Some(d), Some(amt)) => Ok((d.to_string(), num::int(loc, amt)?)),
                _ => bail(loc, "a coin is not {\"amount\": string, \"denom\": string}"),
            }
        })
        .collect()
}

fn coins_json(c: &[(String, u128)]) -> Value {
    Value::Array(
        c.iter()
            .map(|(d, a)| json!({"amount": a.to_string(), "denom": d}))
            .collect(),
    )
}

/// Add `add` to sorted coins `c`, keeping them sorted by denom.
fn add_coins(loc: &str, c: &mut Vec<(String, u128)>, add: &[(String, u128)]) -> Result<()> {
    for (d, a) in add {
        match c.iter_mut().find(|(x, _)| x == d) {
            Some((_, x)) => {
                *x = x
                    .checked_add(*a)
                    .ok_or_else(|| Error::invalid(loc, format!("{d} amount overflows")))?
            }
            None => c.push((d.clone(), *a)),
        }
    }
    c.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(())
}

/// The account prefix of a genesis: that of its first auth account (every address is
/// checked against it by [`check`]).
fn acc_prefix(g: &CanonicalGenesis) -> Result<Option<String>> {
    let mut prefix: Option<String> = None;
    let mut hook = |_: u64, b: &[u8]| -> Result<Element> {
        if prefix.is_none() {
            let v = parse("app_state.auth.accounts", 0, b)?;
            prefix = account_address(&v).and_then(decode_addr).map(|(p, _)| p);
        }
        Ok(Element::Keep)
    };
    g.gather(vec![at("app_state/auth/accounts", &mut hook)])?;
    Ok(prefix)
}

/// Check an account address given on the command line against the chain's prefix.
fn check_acc(loc: &str, g: &CanonicalGenesis, addr: &str) -> Result<Vec<u8>> {
    let Some((p, bytes)) = decode_addr(addr) else {
        return bail(loc, format!("{addr:?} is not a bech32 address"));
    };
    if let Some(want) = acc_prefix(g)? {
        if p != want {
            return bail(
                loc,
                format!("{addr:?} has prefix {p:?}, but this chain's accounts use {want:?}"),
            );
        }
    }
    if bytes.len() != 20 && bytes.len() != 32 {
        return bail(
            loc,
            format!("{addr:?} holds {} bytes (20 or 32 expected)", bytes.len()),
        );
    }
    Ok(bytes)
}

/// What `fund-account`'s pass 1 found.
struct FundTarget {
    /// the index of the address's balance
    found: Option<u64>,
    supply: Vec<Value>,
    has_account: bool,
    /// the highest account number in auth
    max_number: Option<u64>,
    balances_seen: u64,
    bal_at: order::Insert,
    acc_at: order::Insert,
}

/// `fund-account`'s pass 1: where the balance is, the supply, whether the account exists
/// (and where a new balance or account goes).
fn fund_target(g: &CanonicalGenesis, address: &str) -> Result<FundTarget> {
    let found: RefCell<Option<u64>> = RefCell::new(None);
    let supply: RefCell<Vec<Value>> = RefCell::new(Vec::new());
    let mut has_account = false;
    let mut max_number: Option<u64> = None;
    let mut balances_seen = 0u64;
    let mut bal_at = order::Insert::new("app_state/bank/balances", &json!({"address": address}));
    let mut acc_at = order::Insert::new("app_state/auth/accounts", &json!({"address": address}));
    {
        let mut bal = |i: u64, b: &[u8]| -> Result<Element> {
            balances_seen += 1;
            let v = parse("app_state.bank.balances", i, b)?;
            if v.get("address").and_then(Value::as_str) == Some(address) {
                *found.borrow_mut() = Some(i);
            }
            bal_at.see(i, &v);
            Ok(Element::Keep)
        };
        let mut sup = |i: u64, b: &[u8]| -> Result<Element> {
            supply
                .borrow_mut()
                .push(parse("app_state.bank.supply", i, b)?);
            Ok(Element::Keep)
        };
        let mut acc = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.auth.accounts", i, b)?;
            if account_address(&v) == Some(address) {
                has_account = true;
            }
            acc_at.see(i, &v);
            if let Some(n) = account_number(&v) {
                max_number = Some(max_number.map_or(n, |m| m.max(n)));
            }
            Ok(Element::Keep)
        };
        g.gather(vec![
            at("app_state/bank/balances", &mut bal),
            at("app_state/bank/supply", &mut sup),
            at("app_state/auth/accounts", &mut acc),
        ])?;
    }
    Ok(FundTarget {
        found: found.into_inner(),
        supply: supply.into_inner(),
        has_account,
        max_number,
        balances_seen,
        bal_at,
        acc_at,
    })
}

/// `fund-account`: add `coins` to `address`'s bank balance (a new balance entry if it has
/// none; a new BaseAccount with the next account number if auth has no account for it, so
/// it can sign: both where the SDK's export puts them, see [`order`]), and the same to the
/// supply.
pub fn fund_account(
    g: &CanonicalGenesis,
    loc: &str,
    address: &str,
    coins: &[(String, u128)],
) -> Result<(CanonicalGenesis, Vec<String>)> {
    check_acc(loc, g, address)?;
    // pass 1: where the balance is, the supply, whether the account exists
    let FundTarget {
        found,
        supply,
        has_account,
        max_number,
        balances_seen,
        bal_at,
        acc_at,
    } = fund_target(g, address)?;
    if balances_seen == 0 && supply.is_empty() {
        return bail(
            loc,
            "this genesis has no bank balances or supply (app_state.bank); nothing to fund",
        );
    }
    let mut changes = Vec::new();
    let shown = num::coins_string(coins);
    // the new supply (the SDK recomputes an empty supply from the balances: keep it empty)
    let mut edits = Vec::new();
    if !supply.is_empty() {
        let mut s = coin_list(
            &format!("{loc}: app_state.bank.supply"),
            &Value::Array(supply),
        )?;
        let before = num::coins_string(&s);
        add_coins(loc, &mut s, coins)?;
        changes.push(format!(
            "fund-account {address}: supply {before} -> {}",
            num::coins_string(&s)
        ));
        edits.push(edit(
            &["app_state", "bank", "supply"],
            canon(&coins_json(&s)),
        ));
    }
    let mut new_bal = None;
    if found.is_none() {
        let v = canon(&json!({"address": address, "coins": coins_json(coins)}));
        edits.extend(bal_at.append(v.clone()));
        new_bal = Some(v);
        changes.push(format!("fund-account {address}: new balance {shown}"));
    }
    let mut new_acc = None;
    if !has_account {
        let n = max_number.map_or(0, |m| m + 1);
        let v = canon(&json!({
            "@type": "/cosmos.auth.v1beta1.BaseAccount",
            "account_number": n.to_string(),
            "address": address,
            "pub_key": null,
            "sequence": "0",
        }));
        edits.extend(acc_at.append(v.clone()));
        new_acc = Some(v);
        changes.push(format!(
            "fund-account {address}: new auth account (BaseAccount, account_number {n})"
        ));
    }
    let mut change = None;
    let mut acc = |i: u64, b: &[u8]| -> Result<Element> {
        let new = new_acc.as_deref().unwrap_or_default();
        Ok(acc_at.splice(i, b, new).unwrap_or(Element::Keep))
    };
    let mut bal = |i: u64, b: &[u8]| -> Result<Element> {
        if let Some(new) = &new_bal {
            return Ok(bal_at.splice(i, b, new).unwrap_or(Element::Keep));
        }
        if Some(i) != found {
            return Ok(Element::Keep);
        }
        let mut v = parse("app_state.bank.balances", i, b)?;
        let eloc = format!("{loc}: app_state.bank.balances[{i}]");
        let mut c = coin_list(&eloc, v.get("coins").unwrap_or(&Value::Null))?;
        let before = num::coins_string(&c);
        add_coins(&eloc, &mut c, coins)?;
        change = Some(format!(
            "fund-account {address}: balance {before} -> {}",
            num::coins_string(&c)
        ));
        v["coins"] = coins_json(&c);
        Ok(Element::Replace(canon(&v)))
    };
    let mut hooks = vec![at("app_state/bank/balances", &mut bal)];
    if !has_account {
        hooks.push(at("app_state/auth/accounts", &mut acc));
    }
    let (out, _) = g.rewrite_hooks(&edits, hooks)?;
    if let Some(c) = change {
        changes.insert(0, c);
    }
    Ok((out, changes))
}

/// The governance parameters `set-gov` knows, and where each lives: in `gov.params`
/// (gov v1, SDK 0.46+) and in the older `deposit_params` / `voting_params` /
/// `tally_params` objects (null in 0.47 exports, the only shape before 0.46).
pub const GOV_PARAMS: &[(&str, GovKind, Option<&str>)] = &[
    ("voting_period", GovKind::Duration, Some("voting_params")),
    (
        "max_deposit_period",
        GovKind::Duration,
        Some("deposit_params"),
    ),
    ("min_deposit", GovKind::Coins, Some("deposit_params")),
    ("quorum", GovKind::Dec, Some("tally_params")),
    ("threshold", GovKind::Dec, Some("tally_params")),
    ("veto_threshold", GovKind::Dec, Some("tally_params")),
    ("expedited_voting_period", GovKind::Duration, None),
    ("expedited_min_deposit", GovKind::Coins, None),
    ("expedited_threshold", GovKind::Dec, None),
    ("min_initial_deposit_ratio", GovKind::Dec, None),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GovKind {
    Duration,
    Coins,
    Dec,
}

/// Check a `set-gov NAME=VALUE` and return the JSON value it writes.
pub fn gov_value(loc: &str, name: &str, value: &str) -> Result<Value> {
    let Some((_, kind, _)) = GOV_PARAMS.iter().find(|(n, _, _)| *n == name) else {
        let names: Vec<&str> = GOV_PARAMS.iter().map(|p| p.0).collect();
        return bail(
            loc,
            format!(
                "unknown governance parameter {name:?} (one of {})",
                names.join(", ")
            ),
        );
    };
    Ok(match kind {
        GovKind::Duration => Value::String(num::duration(loc, value)?),
        GovKind::Coins => coins_json(&num::coins(loc, value)?),
        GovKind::Dec => {
            let d = num::dec(loc, value)?;
            if d > num::DEC_ONE {
                return bail(loc, format!("{name} {value:?} is above 1"));
            }
            Value::String(num::dec_string(d))
        }
    })
}

/// `set-gov`: set one governance parameter wherever the genesis has it (gov v1 `params`
/// and the legacy object); refused when it has it nowhere.
pub fn set_gov(
    g: &CanonicalGenesis,
    loc: &str,
    name: &str,
    value: &Value,
) -> Result<(CanonicalGenesis, Vec<String>)> {
    let legacy = GOV_PARAMS
        .iter()
        .find(|(n, _, _)| *n == name)
        .and_then(|p| p.2);
    let changes: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let set = |obj: &str, b: &[u8]| -> Result<Element> {
        let mut v = parse(&format!("app_state.gov.{obj}"), 0, b)?;
        let Some(m) = v.as_object_mut() else {
            return Ok(Element::Keep);
        };
        let Some(old) = m.get(name) else {
            return Ok(Element::Keep);
        };
        changes.borrow_mut().push(format!(
            "set-gov {name}: app_state.gov.{obj}.{name} {} -> {}",
            String::from_utf8_lossy(&canon(old)),
            String::from_utf8_lossy(&canon(value))
        ));
        m.insert(name.to_string(), value.clone());
        Ok(Element::Replace(canon(&v)))
    };
    let mut v1 = |_: u64, b: &[u8]| set("params", b);
    let mut old = |_: u64, b: &[u8]| set(legacy.unwrap_or("params"), b);
    let mut hooks = vec![at("app_state/gov/params", &mut v1)];
    if let Some(l) = legacy {
        hooks.push(at(&format!("app_state/gov/{l}"), &mut old));
    }
    let (out, _) = g.rewrite_hooks(&[], hooks)?;
    let changes = changes.into_inner();
    if changes.is_empty() {
        return bail(
            loc,
            format!("this genesis has no governance parameter {name} (app_state.gov.params or its legacy object)"),
        );
    }
    Ok((out, changes))
}

/// `set-unbonding-time`: `app_state.staking.params.unbonding_time`.
pub fn set_unbonding_time(
    g: &CanonicalGenesis,
    loc: &str,
    value: &str,
) -> Result<(CanonicalGenesis, Vec<String>)> {
    let d = num::duration(loc, value)?;
    let e = edit(
        &["app_state", "staking", "params", "unbonding_time"],
        crate::json::string_bytes(&d),
    );
    let (out, w) = g.rewrite(std::slice::from_ref(&e), None)?;
    match w.old.into_iter().next().flatten() {
        Some(o) => Ok((
            out,
            vec![format!(
                "set-unbonding-time: app_state.staking.params.unbonding_time {} -> \"{d}\"",
                o.render(60)
            )],
        )),
        None => bail(
            loc,
            "this genesis has no app_state.staking.params.unbonding_time",
        ),
    }
}

/// Field names whose string values are addresses (in the modules [`ADDRESS_ARRAYS`] hold).
pub const ADDRESS_KEYS: &[&str] = &[
    "address",
    "operator_address",
    "validator_address",
    "delegator_address",
    "validator_src_address",
    "validator_dst_address",
    "withdraw_address",
    "previous_proposer",
    "depositor",
    "voter",
    "proposer",
    "granter",
    "grantee",
];

/// The places addresses live: every array of these paths, element by element, and the
/// scalar `previous_proposer`. The CometBFT validator list is added by shape.
pub const ADDRESS_ARRAYS: &[&str] = &[
    "app_state/auth/accounts",
    "app_state/authz/authorization",
    "app_state/bank/balances",
    "app_state/distribution/delegator_starting_infos",
    "app_state/distribution/delegator_withdraw_infos",
    "app_state/distribution/outstanding_rewards",
    "app_state/distribution/previous_proposer",
    "app_state/distribution/validator_accumulated_commissions",
    "app_state/distribution/validator_current_rewards",
    "app_state/distribution/validator_historical_rewards",
    "app_state/distribution/validator_slash_events",
    "app_state/feegrant/allowances",
    "app_state/gov/deposits",
    "app_state/gov/votes",
    "app_state/slashing/missed_blocks",
    "app_state/slashing/signing_infos",
    "app_state/staking/delegations",
    "app_state/staking/last_validator_powers",
    "app_state/staking/redelegations",
    "app_state/staking/unbonding_delegations",
    "app_state/staking/validators",
    "consensus/validators",
    "validators",
];

/// A structural rename: address strings under [`ADDRESS_KEYS`], a consensus public key
/// (base64) under `key`/`value`, a CometBFT hex address under `address`; and, for the
/// auth account of a renamed address, its public key.
#[derive(Debug, Default)]
pub struct Renames {
    pub addresses: Vec<(String, String)>,
    pub pubkey: Option<(String, String)>,
    pub hex: Option<(String, String)>,
    /// The auth account whose address becomes this one gets this `pub_key`.
    pub account_pubkey: Option<(String, Value)>,
}

impl Renames {
    fn apply(&self, v: &mut Value, key: &str, n: &mut u64) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    self.apply(x, k, n);
                }
                if let Some((addr, pk)) = &self.account_pubkey {
                    let is_it = m.get("address").and_then(Value::as_str) == Some(addr);
                    if is_it && m.contains_key("pub_key") && m.contains_key("account_number") {
                        m.insert("pub_key".into(), pk.clone());
                    }
                }
            }
            Value::Array(a) => {
                for x in a {
                    self.apply(x, key, n);
                }
            }
            Value::String(s) => {
                let hit = if ADDRESS_KEYS.contains(&key) {
                    self.addresses
                        .iter()
                        .chain(self.hex.iter().filter(|_| key == "address"))
                        .find(|(o, _)| o == s)
                } else if key == "key" || key == "value" {
                    self.pubkey.as_ref().filter(|(o, _)| o == s)
                } else {
                    None
                };
                if let Some((_, new)) = hit {
                    *s = new.clone();
                    *n += 1;
                }
            }
            _ => {}
        }
    }

    /// Rewrite every address place of the document; returns the number of fields changed.
    /// An element whose export key changes (a balance whose address is renamed, every
    /// delegation to a validator whose operator is) is moved to its place in the export
    /// order ([`order`]): a first pass finds the moved elements (held in memory, at most
    /// [`MAX_MOVED_BYTES`]; they name the renamed accounts only), the second writes each
    /// before the first unmoved element whose key is greater, or after the last.
    pub fn rewrite(&self, g: &CanonicalGenesis) -> Result<(CanonicalGenesis, u64)> {
        let moves: Vec<RefCell<Moves>> = ADDRESS_ARRAYS
            .iter()
            .map(|_| RefCell::new(Moves::default()))
            .collect();
        let bytes = RefCell::new(0usize);
        {
            let mut fs: Vec<HookBox<'_>> = ADDRESS_ARRAYS
                .iter()
                .zip(&moves)
                .map(|(p, m)| {
                    let loc = p.replace('/', ".");
                    let bytes = &bytes;
                    Box::new(move |i: u64, b: &[u8]| {
                        let v = parse(&loc, i, b)?;
                        let Some(k0) = order::key(p, &v) else {
                            return Ok(Element::Keep);
                        };
                        let mut w = v;
                        self.apply(&mut w, "", &mut 0);
                        let k1 = order::key(p, &w).unwrap_or_default();
                        let mut m = m.borrow_mut();
                        if k1 == k0 {
                            m.last_kept = Some(i);
                            return Ok(Element::Keep);
                        }
                        let c = canon(&w);
                        *bytes.borrow_mut() += c.len() + k1.len();
                        if *bytes.borrow() > MAX_MOVED_BYTES {
                            return bail(
                                format!("{loc}[{i}]"),
                                format!("the renamed entries that move to a new place in the export order exceed {MAX_MOVED_BYTES} bytes, agar's limit for one rename"),
                            );
                        }
                        m.moved.insert(i);
                        m.pending.insert((k1, i), c);
                        Ok(Element::Keep)
                    }) as HookBox<'_>
                })
                .collect();
            g.gather(hooks_at(&mut fs))?;
        }
        let n = RefCell::new(0u64);
        let mut fs: Vec<HookBox<'_>> = ADDRESS_ARRAYS
            .iter()
            .zip(&moves)
            .map(|(p, m)| {
                let n = &n;
                let loc = p.replace('/', ".");
                Box::new(move |i: u64, b: &[u8]| {
                    let mut m = m.borrow_mut();
                    if m.moved.contains(&i) {
                        *n.borrow_mut() += 1;
                        // no unmoved element at all: the moved ones fill the list
                        return Ok(if i == 0 && m.last_kept.is_none() {
                            Element::Splice(std::mem::take(&mut m.pending).into_values().collect())
                        } else {
                            Element::Remove
                        });
                    }
                    let mut v = parse(&loc, i, b)?;
                    let before = *n.borrow();
                    self.apply(&mut v, "", &mut n.borrow_mut());
                    // a scalar hook (previous_proposer) has no key of its own
                    if let Value::String(s) = &mut v {
                        if let Some((_, new)) = self.addresses.iter().find(|(o, _)| o == s) {
                            *s = new.clone();
                            *n.borrow_mut() += 1;
                        }
                    }
                    let this = if *n.borrow() == before {
                        b.to_vec()
                    } else {
                        canon(&v)
                    };
                    if m.pending.is_empty() {
                        return Ok(if *n.borrow() == before {
                            Element::Keep
                        } else {
                            Element::Replace(this)
                        });
                    }
                    let mut out = Vec::new();
                    if let Some(k) = order::key(p, &v) {
                        let rest = m.pending.split_off(&(k, 0));
                        out.extend(std::mem::replace(&mut m.pending, rest).into_values());
                    }
                    out.push(this);
                    if m.last_kept == Some(i) {
                        out.extend(std::mem::take(&mut m.pending).into_values());
                    }
                    Ok(Element::Splice(out))
                }) as HookBox<'_>
            })
            .collect();
        let (out, _) = g.rewrite_hooks(&[], hooks_at(&mut fs))?;
        drop(fs);
        Ok((out, n.into_inner()))
    }
}

/// Bytes of renamed entries one rename may move (a validator's delegations when its
/// operator is renamed: about 250 bytes each, so some 250,000 delegations).
pub const MAX_MOVED_BYTES: usize = 64 << 20;

/// One list's entries that a rename moves: their indexes, and their new bytes by new key.
#[derive(Default)]
struct Moves {
    moved: std::collections::BTreeSet<u64>,
    pending: std::collections::BTreeMap<(Vec<u8>, u64), Vec<u8>>,
    last_kept: Option<u64>,
}

/// Hooks at [`ADDRESS_ARRAYS`] from their callbacks.
fn hooks_at<'a>(fs: &'a mut [HookBox<'_>]) -> Vec<Hook<'a>> {
    fs.iter_mut()
        .zip(ADDRESS_ARRAYS)
        .map(|(f, p)| Hook {
            tokens: p.split('/').map(str::to_string).collect(),
            f: &mut **f,
        })
        .collect()
}

/// An ed25519 consensus public key (base64 of 32 bytes) from a `priv_validator_key.json`
/// (only `pub_key` is read) or given as is.
pub fn consensus_pubkey(loc: &str, text: &str) -> Result<String> {
    use base64::Engine;
    let t = text.trim();
    let b64 = if t.starts_with('{') {
        let v: Value = serde_json::from_str(t)
            .map_err(|e| Error::invalid(loc, format!("not a priv_validator_key.json: {e}")))?;
        let pk = &v["pub_key"];
        if pk["type"] != "tendermint/PubKeyEd25519" {
            return bail(loc, "pub_key.type is not tendermint/PubKeyEd25519");
        }
        pk["value"]
            .as_str()
            .ok_or_else(|| Error::invalid(loc, "no pub_key.value"))?
            .to_string()
    } else {
        t.to_string()
    };
    match base64::engine::general_purpose::STANDARD.decode(&b64) {
        Ok(b) if b.len() == 32 => Ok(b64),
        _ => bail(
            loc,
            format!("{b64:?} is not the base64 of a 32-byte ed25519 public key"),
        ),
    }
}

/// The consensus address bytes of an ed25519 key: SHA-256, first 20 bytes.
pub fn cons_bytes(pubkey_b64: &str) -> Vec<u8> {
    use base64::Engine;
    use sha2::Digest;
    let b = base64::engine::general_purpose::STANDARD
        .decode(pubkey_b64)
        .unwrap_or_default();
    sha2::Sha256::digest(&b)[..20].to_vec()
}

struct Found {
    operator: String,
    pubkey: String,
}

/// `replace-validator`: the validator `old` (operator address or moniker) gets consensus
/// key `pubkey` and, optionally, operator account `operator`; every place it appears is
/// rewritten structurally (see [`Renames`]).
pub fn replace_validator(
    g: &CanonicalGenesis,
    loc: &str,
    old: &str,
    pubkey: &str,
    operator: Option<&str>,
) -> Result<(CanonicalGenesis, Vec<String>)> {
    let found: RefCell<Vec<Found>> = RefCell::new(Vec::new());
    let taken = RefCell::new(false);
    let new_acc = operator.map(str::to_string);
    {
        let mut vals = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.staking.validators", i, b)?;
            let op = v["operator_address"].as_str().unwrap_or("").to_string();
            let pk = v["consensus_pubkey"]["key"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if pk == pubkey {
                *taken.borrow_mut() = true;
            }
            if op == old || v["description"]["moniker"].as_str() == Some(old) {
                found.borrow_mut().push(Found {
                    operator: op,
                    pubkey: pk,
                });
            }
            Ok(Element::Keep)
        };
        let mut accs = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.auth.accounts", i, b)?;
            if new_acc.is_some() && account_address(&v) == new_acc.as_deref() {
                *taken.borrow_mut() = true;
            }
            Ok(Element::Keep)
        };
        g.gather(vec![
            at("app_state/staking/validators", &mut vals),
            at("app_state/auth/accounts", &mut accs),
        ])?;
    }
    let found = found.into_inner();
    let f = match found.len() {
        1 => &found[0],
        0 => {
            return bail(
                loc,
                format!("no validator has operator address or moniker {old:?}"),
            )
        }
        n => {
            return bail(
                loc,
                format!("{n} validators match {old:?}; name it by operator address"),
            )
        }
    };
    if taken.into_inner() {
        return bail(
            loc,
            "the new consensus key or operator account is already in use in this genesis",
        );
    }
    let Some((vhrp, op_bytes)) = decode_addr(&f.operator) else {
        return bail(
            loc,
            format!("{:?} is not a bech32 operator address", f.operator),
        );
    };
    let Some(prefix) = vhrp.strip_suffix("valoper") else {
        return bail(loc, format!("{:?} is not a valoper address", f.operator));
    };
    let (old_cons, new_cons) = (cons_bytes(&f.pubkey), cons_bytes(pubkey));
    let mut r = Renames {
        pubkey: Some((f.pubkey.clone(), pubkey.to_string())),
        hex: Some((hex::encode_upper(&old_cons), hex::encode_upper(&new_cons))),
        ..Default::default()
    };
    let vc = format!("{prefix}valcons");
    r.addresses
        .push((encode_addr(&vc, &old_cons)?, encode_addr(&vc, &new_cons)?));
    let mut what = format!(
        "consensus key {} -> {pubkey} ({} -> {})",
        f.pubkey, r.addresses[0].0, r.addresses[0].1
    );
    if let Some(acc) = operator {
        let Some((ahrp, acc_bytes)) = decode_addr(acc).filter(|(p, _)| p == prefix) else {
            return bail(loc, format!("{acc:?} is not a {prefix} account address"));
        };
        let _ = ahrp;
        let old_acc = encode_addr(prefix, &op_bytes)?;
        let new_op = encode_addr(&vhrp, &acc_bytes)?;
        what.push_str(&format!(
            "; operator {} -> {new_op}, account {old_acc} -> {acc}",
            f.operator
        ));
        r.addresses.push((f.operator.clone(), new_op));
        r.addresses.push((old_acc, acc.to_string()));
        r.account_pubkey = Some((acc.to_string(), Value::Null));
    }
    let (out, n) = r.rewrite(g)?;
    Ok((
        out,
        vec![format!(
            "replace-validator {old}: {what}; {n} fields rewritten"
        )],
    ))
}

/// `replace-account`: the account `old` becomes `new` wherever it is an address; its
/// auth account's public key becomes `pubkey` (a JSON `pub_key` value, null if none).
pub fn replace_account(
    g: &CanonicalGenesis,
    loc: &str,
    old: &str,
    new: &str,
    pubkey: Option<&Value>,
) -> Result<(CanonicalGenesis, Vec<String>)> {
    let op = decode_addr(old);
    let np = decode_addr(new);
    match (&op, &np) {
        (Some((a, _)), Some((b, _))) if a == b => {}
        _ => {
            return bail(
                loc,
                format!(
                    "{old:?} and {new:?} must be bech32 account addresses with the same prefix"
                ),
            )
        }
    }
    let mut taken = false;
    let mut accs = |i: u64, b: &[u8]| -> Result<Element> {
        let v = parse("app_state.auth.accounts", i, b)?;
        taken |= account_address(&v) == Some(new);
        Ok(Element::Keep)
    };
    g.gather(vec![at("app_state/auth/accounts", &mut accs)])?;
    if taken {
        return bail(loc, format!("{new} already has an account in this genesis"));
    }
    let r = Renames {
        addresses: vec![(old.to_string(), new.to_string())],
        account_pubkey: Some((new.to_string(), pubkey.cloned().unwrap_or(Value::Null))),
        ..Default::default()
    };
    let (out, n) = r.rewrite(g)?;
    if n == 0 {
        return bail(loc, format!("{old} appears nowhere in this genesis"));
    }
    Ok((
        out,
        vec![format!(
            "replace-account {old} -> {new}: {n} fields rewritten"
        )],
    ))
}

/// `add-stake`: `amount` of the bond denom newly bonded from `address` to `validator`
/// (operator address or moniker). The tokens are minted (supply and the pool grow; the
/// account's liquid balance is unchanged). Kept consistent: the delegation (new or
/// grown; shares at the validator's exchange rate, truncated as the SDK does), the
/// validator's tokens and shares, the pool balance, and for a bonded validator its power
/// in `last_validator_powers` and the CometBFT list and `last_total_power`. A new
/// delegation gets its distribution starting info as x/distribution's
/// `initializeDelegation` writes it (previous period = the validator's current period - 1,
/// whose historical rewards gain a reference; the stake; the height of the exported
/// block); new entries go where the SDK's export puts them ([`order`]). A grown
/// delegation keeps its starting info: rewards accrued so far belong to the old stake
/// (raising the starting stake would pay the new tokens rewards for periods they were
/// not bonded in, out of the other delegators' outstanding rewards), and the SDK resets
/// it to the whole stake at the delegator's next withdrawal or delegation change.
pub fn add_stake(
    g: &CanonicalGenesis,
    loc: &str,
    address: &str,
    validator: &str,
    amount: u128,
) -> Result<(CanonicalGenesis, Vec<String>)> {
    check_acc(loc, g, address)?;
    // pass 1: the bond denom, the validator, the supply
    let (denom, v, supply) = stake_target(g, loc, validator)?;
    let st = Stake::new(g, loc, address, &v, denom, amount)?;
    let mut changes = vec![format!(
        "add-stake {address} -> {}: +{amount}{} bonded (tokens {} -> {}, +{} shares)",
        st.op,
        st.denom,
        st.tokens,
        st.new_tokens,
        num::dec_string(st.new_shares)
    )];
    let mut edits = Vec::new();
    if !supply.is_empty() {
        let mut c = coin_list(loc, &Value::Array(supply))?;
        add_coins(loc, &mut c, &st.add())?;
        edits.push(edit(
            &["app_state", "bank", "supply"],
            canon(&coins_json(&c)),
        ));
    }
    // pass 2a: everything keyed by what pass 1 found
    let (mid, found) = st.grow(g, loc, &edits)?;
    // pass 2b: what did not exist (a new delegation, its starting info, a pool balance),
    // each at its place in the export order found by pass 2a
    let new = st.new_entries(g, loc, &found, &mut changes)?;
    let out = st.insert(mid, loc, &found, new)?;
    Ok((out, changes))
}

/// `add-stake`'s pass 1: the bond denom, the one validator whose operator address or
/// moniker is `validator`, and the supply.
fn stake_target(
    g: &CanonicalGenesis,
    loc: &str,
    validator: &str,
) -> Result<(String, Value, Vec<Value>)> {
    #[derive(Default)]
    struct Seen {
        denom: Option<String>,
        val: Option<Value>,
        matches: u32,
        supply: Vec<Value>,
    }
    let seen = RefCell::new(Seen::default());
    {
        let mut params = |_: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.staking.params", 0, b)?;
            seen.borrow_mut().denom = v["bond_denom"].as_str().map(str::to_string);
            Ok(Element::Keep)
        };
        let mut vals = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.staking.validators", i, b)?;
            if v["operator_address"].as_str() == Some(validator)
                || v["description"]["moniker"].as_str() == Some(validator)
            {
                let mut s = seen.borrow_mut();
                s.matches += 1;
                s.val = Some(v);
            }
            Ok(Element::Keep)
        };
        let mut sup = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.bank.supply", i, b)?;
            seen.borrow_mut().supply.push(v);
            Ok(Element::Keep)
        };
        g.gather(vec![
            at("app_state/staking/params", &mut params),
            at("app_state/staking/validators", &mut vals),
            at("app_state/bank/supply", &mut sup),
        ])?;
    }
    let s = seen.into_inner();
    let Some(denom) = s.denom else {
        return bail(
            loc,
            "this genesis has no app_state.staking.params.bond_denom",
        );
    };
    match (s.matches, s.val) {
        (1, Some(v)) => Ok((denom, v, s.supply)),
        (0, _) => bail(
            loc,
            format!("no validator has operator address or moniker {validator:?}"),
        ),
        (n, _) => bail(
            loc,
            format!("{n} validators match {validator:?}; name it by operator address"),
        ),
    }
}

/// What `add-stake` changes, computed from the validator before any write.
struct Stake<'a> {
    address: &'a str,
    op: String,
    denom: String,
    amount: u128,
    tokens: u128,
    shares: u128,
    new_shares: u128,
    new_tokens: u128,
    bonded: bool,
    /// the consensus public key, which names the validator in the CometBFT list
    pk: String,
    old_power: u128,
    new_power: u128,
    /// the bonded (or not bonded) tokens pool's account address
    pool: String,
}

/// What `add-stake`'s pass 2a found: which entries exist, where new ones go.
struct StakeFound {
    del: bool,
    pool: bool,
    si: bool,
    /// the validator's current rewards period
    period: Option<u64>,
    /// whether the genesis has any distribution current rewards
    any_current: bool,
    pool_at: order::Insert,
    del_at: order::Insert,
    si_at: order::Insert,
}

impl StakeFound {
    /// Nothing found yet.
    fn new(address: &str, op: &str, pool: &str) -> StakeFound {
        let pair = json!({"delegator_address": address, "validator_address": op});
        StakeFound {
            del: false,
            pool: false,
            si: false,
            period: None,
            any_current: false,
            pool_at: order::Insert::new("app_state/bank/balances", &json!({"address": pool})),
            del_at: order::Insert::new("app_state/staking/delegations", &pair),
            si_at: order::Insert::new("app_state/distribution/delegator_starting_infos", &pair),
        }
    }
}

/// The entries `add-stake`'s pass 2b writes: appended `edits` (for empty arrays) or
/// spliced elements, and the historical rewards period gaining a reference.
struct StakeNew {
    edits: Vec<Edit>,
    pool: Option<Vec<u8>>,
    del: Option<Vec<u8>>,
    si: Option<Vec<u8>>,
    hist: Option<u64>,
}

impl<'a> Stake<'a> {
    fn new(
        g: &CanonicalGenesis,
        loc: &str,
        address: &'a str,
        v: &Value,
        denom: String,
        amount: u128,
    ) -> Result<Stake<'a>> {
        let op = v["operator_address"].as_str().unwrap_or("").to_string();
        let tokens = num::int(loc, v["tokens"].as_str().unwrap_or(""))?;
        let shares = num::dec(loc, v["delegator_shares"].as_str().unwrap_or(""))?;
        let bonded = v["status"] == "BOND_STATUS_BONDED";
        let pk = v["consensus_pubkey"]["key"]
            .as_str()
            .unwrap_or("")
            .to_string();
        // shares = amount * S / T, truncated (LegacyDec MulInt then QuoInt), without overflow
        let new_shares = match (shares.checked_div(tokens), shares.checked_rem(tokens)) {
            (Some(q), Some(r)) => amount
                .checked_mul(q)
                .and_then(|a| amount.checked_mul(r).map(|b| (a, b / tokens)))
                .and_then(|(a, b)| a.checked_add(b)),
            _ => amount.checked_mul(num::DEC_ONE),
        }
        .ok_or_else(|| Error::invalid(loc, "the amount is too large"))?;
        let new_tokens = tokens
            .checked_add(amount)
            .ok_or_else(|| Error::invalid(loc, "the amount is too large"))?;
        let (old_power, new_power) = (
            tokens / check::POWER_REDUCTION,
            new_tokens / check::POWER_REDUCTION,
        );
        let pool = encode_addr(
            &acc_prefix(g)?.unwrap_or_default(),
            &check::module_address(if bonded {
                "bonded_tokens_pool"
            } else {
                "not_bonded_tokens_pool"
            }),
        )?;
        Ok(Stake {
            address,
            op,
            denom,
            amount,
            tokens,
            shares,
            new_shares,
            new_tokens,
            bonded,
            pk,
            old_power,
            new_power,
            pool,
        })
    }

    /// The coins added to the supply and the pool.
    fn add(&self) -> [(String, u128); 1] {
        [(self.denom.clone(), self.amount)]
    }

    /// Pass 2a: grow the pool balance, the validator, an existing delegation and (bonded)
    /// the powers; note where new entries would go and the distribution state.
    fn grow(
        &self,
        g: &CanonicalGenesis,
        loc: &str,
        edits: &[Edit],
    ) -> Result<(CanonicalGenesis, StakeFound)> {
        let (address, op, pool, pk) = (self.address, self.op.as_str(), &self.pool, &self.pk);
        let (bonded, new_power) = (self.bonded, self.new_power);
        let add = self.add();
        let total_delta = self.new_power - self.old_power;
        let found = RefCell::new(StakeFound::new(address, op, pool));
        let mut pool_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let mut v = parse("app_state.bank.balances", i, b)?;
            found.borrow_mut().pool_at.see(i, &v);
            if v["address"].as_str() != Some(pool.as_str()) {
                return Ok(Element::Keep);
            }
            found.borrow_mut().pool = true;
            let mut c = coin_list(loc, &v["coins"])?;
            add_coins(loc, &mut c, &add)?;
            v["coins"] = coins_json(&c);
            Ok(Element::Replace(canon(&v)))
        };
        let mut val_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let mut v = parse("app_state.staking.validators", i, b)?;
            if v["operator_address"].as_str() != Some(op) {
                return Ok(Element::Keep);
            }
            v["tokens"] = json!(self.new_tokens.to_string());
            v["delegator_shares"] = json!(num::dec_string(self.shares + self.new_shares));
            Ok(Element::Replace(canon(&v)))
        };
        let mut del_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let mut v = parse("app_state.staking.delegations", i, b)?;
            found.borrow_mut().del_at.see(i, &v);
            if v["delegator_address"].as_str() != Some(address)
                || v["validator_address"].as_str() != Some(op)
            {
                return Ok(Element::Keep);
            }
            found.borrow_mut().del = true;
            let sh = num::dec(loc, v["shares"].as_str().unwrap_or(""))?;
            v["shares"] = json!(num::dec_string(sh + self.new_shares));
            Ok(Element::Replace(canon(&v)))
        };
        let mut power_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let mut v = parse("app_state.staking.last_validator_powers", i, b)?;
            if !bonded || v["address"].as_str() != Some(op) {
                return Ok(Element::Keep);
            }
            v["power"] = json!(new_power.to_string());
            Ok(Element::Replace(canon(&v)))
        };
        let mut total_hook = |_: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.staking.last_total_power", 0, b)?;
            let t = num::int(loc, v.as_str().unwrap_or(""))?;
            Ok(Element::Replace(canon(&json!(
                (t + total_delta).to_string()
            ))))
        };
        let cmt = |i: u64, b: &[u8]| -> Result<Element> {
            let mut v = parse("validators", i, b)?;
            if !bonded || v["pub_key"]["value"].as_str() != Some(pk.as_str()) {
                return Ok(Element::Keep);
            }
            v["power"] = json!(new_power.to_string());
            Ok(Element::Replace(canon(&v)))
        };
        let mut cmt1 = |i: u64, b: &[u8]| cmt(i, b);
        let mut cmt2 = |i: u64, b: &[u8]| cmt(i, b);
        let mut si_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.distribution.delegator_starting_infos", i, b)?;
            found.borrow_mut().si_at.see(i, &v);
            if v["delegator_address"].as_str() == Some(address)
                && v["validator_address"].as_str() == Some(op)
            {
                found.borrow_mut().si = true;
            }
            Ok(Element::Keep)
        };
        let mut cur_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let v = parse("app_state.distribution.validator_current_rewards", i, b)?;
            found.borrow_mut().any_current = true;
            if v["validator_address"].as_str() == Some(op) {
                found.borrow_mut().period =
                    v["rewards"]["period"].as_str().and_then(|p| p.parse().ok());
            }
            Ok(Element::Keep)
        };
        let mut hooks: Vec<Hook> = Vec::new();
        hooks.push(at("app_state/bank/balances", &mut pool_hook));
        hooks.push(at("app_state/staking/validators", &mut val_hook));
        hooks.push(at("app_state/staking/delegations", &mut del_hook));
        if bonded {
            hooks.push(at(
                "app_state/staking/last_validator_powers",
                &mut power_hook,
            ));
            hooks.push(at("app_state/staking/last_total_power", &mut total_hook));
            hooks.push(at("validators", &mut cmt1));
            hooks.push(at("consensus/validators", &mut cmt2));
        }
        hooks.push(at(
            "app_state/distribution/delegator_starting_infos",
            &mut si_hook,
        ));
        hooks.push(at(
            "app_state/distribution/validator_current_rewards",
            &mut cur_hook,
        ));
        let (mid, _) = g.rewrite_hooks(edits, hooks)?;
        Ok((mid, found.into_inner()))
    }

    /// The entries pass 2a did not find: a pool balance, and for a new delegation its
    /// starting info (if the genesis has distribution state).
    fn new_entries(
        &self,
        g: &CanonicalGenesis,
        loc: &str,
        found: &StakeFound,
        changes: &mut Vec<String>,
    ) -> Result<StakeNew> {
        let (address, op) = (self.address, self.op.as_str());
        let mut new = StakeNew {
            edits: Vec::new(),
            pool: None,
            del: None,
            si: None,
            hist: None,
        };
        if !found.pool {
            let v = canon(&json!({"address": self.pool, "coins": coins_json(&self.add())}));
            new.edits.extend(found.pool_at.append(v.clone()));
            new.pool = Some(v);
        }
        if found.del != found.si && found.any_current {
            return bail(
                loc,
                format!(
                    "the delegation of {address} to {op} {} a distribution starting info; this genesis's distribution state is inconsistent",
                    if found.del { "has no" } else { "does not exist but has" }
                ),
            );
        }
        if found.del {
            return Ok(new);
        }
        let v = canon(&json!({
            "delegator_address": address, "shares": num::dec_string(self.new_shares), "validator_address": op}));
        new.edits.extend(found.del_at.append(v.clone()));
        new.del = Some(v);
        changes.push(format!("add-stake {address} -> {op}: new delegation"));
        match found.period {
            Some(p) if p > 0 => {
                // x/distribution initializeDelegation: the period just ended, the stake in
                // tokens (the new delegation's shares at the new exchange rate, truncated),
                // the block height (the export's: initial_height - 1)
                let prev = p - 1;
                let stake = tokens_from_shares(
                    loc,
                    self.new_shares,
                    self.new_tokens,
                    self.shares + self.new_shares,
                )?;
                let height = g.genesis.initial_height.saturating_sub(1);
                let v = canon(&json!({
                    "delegator_address": address, "validator_address": op,
                    "starting_info": {"height": height.to_string(), "previous_period": prev.to_string(),
                        "stake": num::dec_string(stake)}}));
                new.edits.extend(found.si_at.append(v.clone()));
                new.si = Some(v);
                new.hist = Some(prev);
                changes.push(format!(
                    "add-stake {address} -> {op}: new starting info (previous period {prev}, whose historical rewards gain a reference)"
                ));
            }
            _ if found.any_current => {
                return bail(
                    loc,
                    format!("validator {op} has no distribution current rewards (or period 0) in this genesis, so a new delegation's starting info cannot be written"),
                )
            }
            // no distribution state at all: nothing to keep consistent
            _ => {}
        }
        Ok(new)
    }

    /// Pass 2b: write the new entries, and add the new starting info's reference to its
    /// historical rewards.
    fn insert(
        &self,
        mid: CanonicalGenesis,
        loc: &str,
        found: &StakeFound,
        new: StakeNew,
    ) -> Result<CanonicalGenesis> {
        let op = self.op.as_str();
        let hist = new.hist;
        let found_hist = RefCell::new(false);
        let mut hist_hook = |i: u64, b: &[u8]| -> Result<Element> {
            let mut v = parse("app_state.distribution.validator_historical_rewards", i, b)?;
            if v["validator_address"].as_str() != Some(op)
                || v["period"].as_str().and_then(|p| p.parse::<u64>().ok()) != hist
            {
                return Ok(Element::Keep);
            }
            *found_hist.borrow_mut() = true;
            let n = v["rewards"]["reference_count"].as_u64().unwrap_or(0);
            v["rewards"]["reference_count"] = json!(n + 1);
            Ok(Element::Replace(canon(&v)))
        };
        let ins = |at: &order::Insert, new: &Option<Vec<u8>>, i: u64, b: &[u8]| -> Element {
            new.as_deref()
                .and_then(|n| at.splice(i, b, n))
                .unwrap_or(Element::Keep)
        };
        let mut pool_ins = |i: u64, b: &[u8]| Ok(ins(&found.pool_at, &new.pool, i, b));
        let mut del_ins = |i: u64, b: &[u8]| Ok(ins(&found.del_at, &new.del, i, b));
        let mut si_ins = |i: u64, b: &[u8]| Ok(ins(&found.si_at, &new.si, i, b));
        let mut hooks = Vec::new();
        if new.pool.is_some() {
            hooks.push(at("app_state/bank/balances", &mut pool_ins));
        }
        if new.del.is_some() {
            hooks.push(at("app_state/staking/delegations", &mut del_ins));
        }
        if new.si.is_some() {
            hooks.push(at(
                "app_state/distribution/delegator_starting_infos",
                &mut si_ins,
            ));
        }
        if hist.is_some() {
            hooks.push(at(
                "app_state/distribution/validator_historical_rewards",
                &mut hist_hook,
            ));
        }
        if new.edits.is_empty() && hooks.is_empty() {
            return Ok(mid);
        }
        let (out, _) = mid.rewrite_hooks(&new.edits, hooks)?;
        if hist.is_some() && !found_hist.into_inner() {
            return bail(
                loc,
                format!("validator {op} has no historical rewards for the period a new delegation starts at; this genesis's distribution state is inconsistent"),
            );
        }
        Ok(out)
    }
}

/// x/staking `TokensFromSharesTruncated` (`shares.MulInt(tokens).QuoTruncate(total)`: raw
/// `shares * tokens * 10^18 / total`, truncated) as a `Dec`: the stake x/distribution
/// records for a delegation.
fn tokens_from_shares(loc: &str, shares: u128, tokens: u128, total: u128) -> Result<u128> {
    num::mul_mul_div(shares, tokens, num::DEC_ONE, total)
        .ok_or_else(|| Error::invalid(loc, "the delegation's stake is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition decode_addr implements: decode, re-encode as bech32, compare.
    fn by_reencoding(s: &str) -> Option<(String, Vec<u8>)> {
        let (hrp, data) = bech32::decode(s).ok()?;
        let back = bech32::encode::<bech32::Bech32>(hrp, &data).ok()?;
        (back == s).then(|| (hrp.to_string(), data))
    }

    #[test]
    fn decode_addr_accepts_exactly_what_re_encodes_to_itself() {
        let mut x: u64 = 1;
        let mut rnd = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let (mut ok, mut bad, mut padded) = (0, 0, 0);
        for round in 0..4000 {
            let len = rnd(41) as usize;
            let data: Vec<u8> = (0..len).map(|_| rnd(256) as u8).collect();
            let hrp = ["agoric", "agoricvaloper", "cosmos", "a", "Ab"][round % 5];
            let Ok(h) = bech32::Hrp::parse(hrp) else {
                continue;
            };
            let good = bech32::encode::<bech32::Bech32>(h, &data).expect("encodes");
            let m = bech32::encode::<bech32::Bech32m>(h, &data).expect("encodes");
            let mut cands = vec![good.clone(), m, good.to_uppercase()];
            let b = good.as_bytes();
            for _ in 0..6 {
                let mut v = b.to_vec();
                let at = rnd(v.len() as u64) as usize;
                match rnd(4) {
                    0 => v[at] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7lQ1bio"[rnd(37) as usize],
                    1 => v[at] = v[at].to_ascii_uppercase(),
                    2 => {
                        v.remove(at);
                    }
                    _ => v.insert(at, b"qpzry9x8gf2tvdw0s3jn54khce6mua7l"[rnd(32) as usize]),
                }
                cands.push(String::from_utf8(v).expect("ASCII"));
            }
            // a data part whose padding bits are not zero, with a valid checksum
            let fes: Vec<bech32::Fe32> = good[hrp.len() + 1..good.len() - 6]
                .chars()
                .map(|c| bech32::Fe32::from_char(c).expect("bech32 char"))
                .collect();
            if let Some(last) = fes.last() {
                let mut f = fes.clone();
                *f.last_mut().expect("nonempty") =
                    bech32::Fe32::try_from(last.to_u8() ^ 1).expect("5 bits");
                let s = bech32::primitives::iter::Fe32IterExt::with_checksum::<bech32::Bech32>(
                    f.into_iter(),
                    &h,
                )
                .chars()
                .collect::<String>();
                // decodes (bech32::decode drops the extra bits), yet is not the SDK's form
                if bech32::decode(&s).is_ok() && !(fes.len() * 5).is_multiple_of(8) {
                    padded += 1;
                }
                cands.push(s);
            }
            for c in cands {
                let want = by_reencoding(&c);
                assert_eq!(decode_addr(&c), want, "{c:?}");
                if want.is_some() {
                    ok += 1;
                } else {
                    bad += 1;
                }
            }
        }
        assert!(
            ok > 3000 && bad > 20000 && padded > 2000,
            "{ok} accepted, {bad} refused, {padded} with padding bits"
        );
    }
}
