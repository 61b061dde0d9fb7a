//! The consistency check of a genesis's chain state, in one streaming pass: the checks
//! the Cosmos SDK's InitGenesis makes (or panics on) and the invariants testnet edits must
//! keep, computed from array-element hooks with bounded memory (per-denom sums,
//! per-validator maps: validators are few; accounts, balances and delegations are seen one
//! at a time and never held).
//!
//! * bank: the sum of all balances equals the supply, per denom (when a supply is given;
//!   the SDK recomputes an empty one);
//! * staking: the bonded pool's balance of the bond denom equals the tokens of the bonded
//!   validators; the not-bonded pool's equals the tokens of the others plus the unbonding
//!   delegations' balances (x/staking InitGenesis panics otherwise); each validator's
//!   delegator shares equal the sum of its delegations' shares; every delegation names a
//!   known validator;
//! * powers: each `last_validator_powers` entry is its validator's tokens divided by the
//!   power reduction (10^6) and `last_total_power` is their sum;
//! * addresses: every address of the accounts, balances, staking, slashing and distribution
//!   records is lowercase bech32 with the chain's prefix (that of the first account;
//!   `<prefix>valoper` for validator operators, `<prefix>valcons` for consensus addresses);
//!   module pool addresses are derived (SHA-256 of the module name, first 20 bytes);
//! * order: whether balances, accounts, delegations and starting infos are in the order the
//!   SDK's export writes them ([`super::order`]); InitGenesis re-sorts balances and
//!   accounts and accepts any order, so a different order is reported, not a problem, but
//!   a duplicate entry next to its twin (where a sorted list keeps it) is: `ValidateGenesis`
//!   refuses duplicate balances and accounts, and the stores would silently merge the rest;
//! * distribution: the sum of the historical rewards' reference counts is one per validator
//!   plus one per delegation plus one per slash event (x/distribution's
//!   `ReferenceCountInvariant`, which x/crisis asserts at InitGenesis unless
//!   `--x-crisis-skip-assert-invariants`), and every delegation has exactly one starting
//!   info and every starting info a delegation (compared as a count and an
//!   order-independent sum of per-pair hashes: withdrawing from a delegation without one
//!   fails with `ErrEmptyDelegationDistInfo`).
//!
//! A genesis without these modules (agar's small fixtures) has nothing to check.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::num;
use crate::error::Result;
use crate::json::walk::{Element, Hook};

/// Voting power = tokens / this (sdk.DefaultPowerReduction; Agoric keeps the default).
pub const POWER_REDUCTION: u128 = 1_000_000;
/// Address problems listed (all are counted).
const MAX_LISTED: usize = 20;
/// Distinct validators tracked (real chains have hundreds): a hostile genesis naming a
/// new validator in every delegation cannot make the check's memory grow past this.
const MAX_VALIDATORS: usize = 100_000;

/// What the check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The checks that applied (their subject was present), each with its totals.
    pub checked: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Default)]
struct Val {
    status: String,
    tokens: u128,
    shares: u128,
    delegated: u128,
}

/// One list's order, seen an element at a time: how many elements, the first out of order,
/// the duplicates next to each other.
#[derive(Default)]
struct Seq {
    prev: Option<Vec<u8>>,
    n: u64,
    misordered: u64,
    first_misordered: Option<String>,
}

impl Seq {
    /// Element `at` has export key `k`; true when it repeats the previous one.
    fn see(&mut self, at: &str, k: Vec<u8>) -> bool {
        self.n += 1;
        let dup = self.prev.as_ref() == Some(&k);
        if self.prev.as_ref().is_some_and(|p| *p > k) {
            self.misordered += 1;
            self.first_misordered.get_or_insert_with(|| at.to_string());
        }
        self.prev = Some(k);
        dup
    }
}

/// An order-independent digest of a set of (delegator, validator) pairs: the wrapping sum
/// of a 128-bit hash of each.
fn pair_hash(del: &str, val: &str) -> u128 {
    let h = Sha256::digest(format!("{del}\0{val}").as_bytes());
    u128::from_le_bytes(h[..16].try_into().expect("16 bytes"))
}

#[derive(Default)]
struct State {
    orders: BTreeMap<&'static str, Seq>,
    dist_present: bool,
    reference_counts: u128,
    slash_events: u64,
    starting_infos: u64,
    del_pairs: u128,
    si_pairs: u128,
    prefix: Option<String>,
    bad_addresses: u64,
    addresses: u64,
    listed: Vec<String>,
    balances: BTreeMap<String, u128>,
    n_balances: u64,
    supply: Option<BTreeMap<String, u128>>,
    bonded_pool: Option<BTreeMap<String, u128>>,
    not_bonded_pool: Option<BTreeMap<String, u128>>,
    bond_denom: Option<String>,
    validators: BTreeMap<String, Val>,
    any_validators: bool,
    ubd_balance: u128,
    delegations: u64,
    powers: BTreeMap<String, u128>,
    total_power: Option<u128>,
    problems: Vec<String>,
}

/// A module account's address bytes (x/auth NewModuleAddress).
pub fn module_address(name: &str) -> [u8; 20] {
    let h = Sha256::digest(name.as_bytes());
    let mut a = [0u8; 20];
    a.copy_from_slice(&h[..20]);
    a
}

impl State {
    /// Element `at` of the list `path`: its place in the export order; a duplicate of the
    /// element before is a problem when `dup_is_problem`.
    fn order(&mut self, path: &'static str, at: &str, v: &Value, dup_is_problem: bool) {
        let Some(k) = super::order::key(path, v) else {
            return;
        };
        if self.orders.entry(path).or_default().see(at, k) && dup_is_problem {
            self.problem(format!(
                "{at}: a second entry for the same address as the one before it (ValidateGenesis refuses duplicates)"
            ));
        }
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < 1000 {
            self.problems.push(p);
        }
    }

    /// Check one address of kind `suffix` ("", "valoper", "valcons").
    fn addr(&mut self, at: &str, s: &str, suffix: &str) -> Option<Vec<u8>> {
        self.addresses += 1;
        let ok = super::decode_addr(s).and_then(|(p, bytes)| {
            let base = p.strip_suffix(suffix).filter(|b| !b.is_empty())?;
            let want = self.prefix.get_or_insert_with(|| base.to_string());
            (base == want && matches!(bytes.len(), 20 | 32)).then_some(bytes)
        });
        if ok.is_none() {
            self.bad_addresses += 1;
            if self.listed.len() < MAX_LISTED {
                let want = format!("{}{suffix}", self.prefix.as_deref().unwrap_or("<prefix>"));
                self.listed.push(format!(
                    "{at}: {s:?} is not a well-formed {want} bech32 address"
                ));
            }
        }
        ok
    }

    /// Check every `address`-like field of an element, by its key.
    fn addresses_in(&mut self, at: &str, v: &Value, key: &str) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    self.addresses_in(at, x, k);
                }
            }
            Value::Array(a) => {
                for x in a {
                    self.addresses_in(at, x, key);
                }
            }
            Value::String(s) => {
                let suffix = match key {
                    "operator_address"
                    | "validator_address"
                    | "validator_src_address"
                    | "validator_dst_address" => "valoper",
                    "delegator_address" | "withdraw_address" => "",
                    _ => return,
                };
                self.addr(at, s, suffix);
            }
            _ => {}
        }
    }

    /// The validator entry for `op`, unless that would pass [`MAX_VALIDATORS`].
    fn val(&mut self, op: &str) -> Option<&mut Val> {
        if !self.validators.contains_key(op) && self.validators.len() >= MAX_VALIDATORS {
            self.problem(format!(
                "more than {MAX_VALIDATORS} distinct validators named; the rest are not checked"
            ));
            return None;
        }
        Some(self.validators.entry(op.to_string()).or_default())
    }

    fn coins(&mut self, at: &str, v: &Value) -> BTreeMap<String, u128> {
        let mut m = BTreeMap::new();
        match super::coin_list(at, v) {
            Ok(c) => {
                for (d, a) in c {
                    *m.entry(d).or_default() += a;
                }
            }
            Err(e) => self.problem(e.to_string()),
        }
        m
    }
}

type F<'a> = super::HookBox<'a>;
/// What one gathering hook does with a parsed element.
type Gather = fn(&mut State, &str, Value);

/// The check's hooks, owned here so a walk can borrow them.
pub struct Hooks<'a> {
    fs: Vec<(Vec<String>, F<'a>)>,
}

impl Hooks<'_> {
    /// The hooks to give [`crate::json::walk::walk_hooks`].
    pub fn hooks(&mut self) -> Vec<Hook<'_>> {
        self.fs
            .iter_mut()
            .map(|(t, f)| Hook {
                tokens: t.clone(),
                f: &mut **f,
            })
            .collect()
    }
}

/// What each array element the check reads adds to [`State`], by path (one
/// [`Check::hooks`] hook each).
const GATHERS: &[(&str, Gather)] = &[
    ("app_state/auth/accounts", State::account),
    ("app_state/bank/balances", State::balance),
    ("app_state/bank/supply", State::supply),
    ("app_state/staking/params", State::staking_params),
    ("app_state/staking/validators", State::validator),
    ("app_state/staking/delegations", State::delegation),
    ("app_state/staking/unbonding_delegations", State::unbonding),
    ("app_state/staking/redelegations", State::addresses_only),
    ("app_state/staking/last_validator_powers", State::power),
    ("app_state/staking/last_total_power", State::total_power),
    ("app_state/slashing/signing_infos", State::signing_info),
    ("app_state/slashing/missed_blocks", State::signing_info),
    (
        "app_state/distribution/delegator_starting_infos",
        State::starting_info,
    ),
    (
        "app_state/distribution/validator_historical_rewards",
        State::historical_rewards,
    ),
    (
        "app_state/distribution/validator_slash_events",
        State::slash_event,
    ),
    (
        "app_state/distribution/delegator_withdraw_infos",
        State::addresses_only,
    ),
    (
        "app_state/distribution/outstanding_rewards",
        State::addresses_only,
    ),
    (
        "app_state/distribution/validator_accumulated_commissions",
        State::addresses_only,
    ),
    (
        "app_state/distribution/validator_current_rewards",
        State::addresses_only,
    ),
];

/// The gathering steps of [`GATHERS`].
impl State {
    /// An auth account: its place in the export order, its address.
    fn account(s: &mut State, at: &str, v: Value) {
        s.order("app_state/auth/accounts", at, &v, true);
        if let Some(a) = super::account_address(&v) {
            s.addr(at, a, "");
        } else {
            s.problem(format!("{at}: an account without an address"));
        }
    }

    /// A bank balance: its order and address, its coins added to the denoms' sums; the staking pools' balances kept.
    fn balance(s: &mut State, at: &str, v: Value) {
        s.n_balances += 1;
        s.order("app_state/bank/balances", at, &v, true);
        let a = v.get("address").and_then(Value::as_str).unwrap_or("");
        let bytes = s.addr(at, a, "");
        let c = s.coins(at, v.get("coins").unwrap_or(&Value::Null));
        for (d, x) in &c {
            let e = s.balances.entry(d.clone()).or_default();
            *e = e.saturating_add(*x);
        }
        if let Some(b) = bytes {
            if b == module_address("bonded_tokens_pool") {
                s.bonded_pool = Some(c);
            } else if b == module_address("not_bonded_tokens_pool") {
                s.not_bonded_pool = Some(c);
            }
        }
    }

    /// One coin of the bank supply.
    fn supply(s: &mut State, at: &str, v: Value) {
        let c = s.coins(at, &Value::Array(vec![v]));
        let sup = s.supply.get_or_insert_with(BTreeMap::new);
        for (d, x) in c {
            *sup.entry(d).or_default() += x;
        }
    }

    /// The staking params: the bond denom.
    fn staking_params(s: &mut State, _: &str, v: Value) {
        s.bond_denom = v
            .get("bond_denom")
            .and_then(Value::as_str)
            .map(str::to_string);
    }

    /// A staking validator: its tokens, shares and status (once).
    fn validator(s: &mut State, at: &str, v: Value) {
        s.any_validators = true;
        s.addresses_in(at, &v, "");
        let op = v
            .get("operator_address")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let tokens = v.get("tokens").and_then(Value::as_str).unwrap_or("");
        let shares = v
            .get("delegator_shares")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (tokens, shares) = match (num::int(at, tokens), num::dec(at, shares)) {
            (Ok(t), Ok(sh)) => (t, sh),
            (Err(e), _) | (_, Err(e)) => {
                s.problem(e.to_string());
                return;
            }
        };
        let status = v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(e) = s.val(&op) else { return };
        if !e.status.is_empty() {
            s.problem(format!("{at}: validator {op} listed twice"));
            return;
        }
        *e = Val {
            status,
            tokens,
            shares,
            delegated: e.delegated,
        };
    }

    /// A delegation: its order and addresses, its shares added to its validator's.
    fn delegation(s: &mut State, at: &str, v: Value) {
        s.delegations += 1;
        s.order("app_state/staking/delegations", at, &v, true);
        s.addresses_in(at, &v, "");
        let op = v
            .get("validator_address")
            .and_then(Value::as_str)
            .unwrap_or("");
        let del = v
            .get("delegator_address")
            .and_then(Value::as_str)
            .unwrap_or("");
        s.del_pairs = s.del_pairs.wrapping_add(pair_hash(del, op));
        let sh = v.get("shares").and_then(Value::as_str).unwrap_or("");
        match num::dec(at, sh) {
            Ok(sh) => {
                // validators sort after delegations: gather per validator
                if let Some(e) = s.val(op) {
                    e.delegated = e.delegated.saturating_add(sh);
                }
            }
            Err(e) => s.problem(e.to_string()),
        }
    }

    /// An unbonding delegation: its entries' balances (held by the not-bonded pool).
    fn unbonding(s: &mut State, at: &str, v: Value) {
        s.addresses_in(at, &v, "");
        for e in v
            .get("entries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let b = e.get("balance").and_then(Value::as_str).unwrap_or("");
            match num::int(at, b) {
                Ok(b) => s.ubd_balance = s.ubd_balance.saturating_add(b),
                Err(e) => s.problem(e.to_string()),
            }
        }
    }

    /// An element whose addresses are all the check reads.
    fn addresses_only(s: &mut State, at: &str, v: Value) {
        s.addresses_in(at, &v, "");
    }

    /// A last validator power.
    fn power(s: &mut State, at: &str, v: Value) {
        let a = v.get("address").and_then(Value::as_str).unwrap_or("");
        s.addr(at, a, "valoper");
        let p = v.get("power").and_then(Value::as_str).unwrap_or("");
        match num::int(at, p) {
            Ok(p) if s.powers.len() < MAX_VALIDATORS => {
                s.powers.insert(a.to_string(), p);
            }
            Ok(_) => s.problem("too many last_validator_powers entries".into()),
            Err(e) => s.problem(e.to_string()),
        }
    }

    /// The last total power.
    fn total_power(s: &mut State, at: &str, v: Value) {
        match v.as_str().map(|p| num::int(at, p)) {
            Some(Ok(p)) => s.total_power = Some(p),
            Some(Err(e)) => s.problem(e.to_string()),
            None => s.problem(format!("{at}: not a string")),
        }
    }

    /// A slashing signing info or missed-blocks entry: its consensus addresses.
    fn signing_info(s: &mut State, at: &str, v: Value) {
        if let Some(a) = v.get("address").and_then(Value::as_str) {
            s.addr(at, a, "valcons");
        }
        if let Some(a) = v
            .get("validator_signing_info")
            .and_then(|i| i.get("address"))
            .and_then(Value::as_str)
        {
            s.addr(at, a, "valcons");
        }
    }

    /// A delegator starting info: its order and addresses, paired with the delegations.
    fn starting_info(s: &mut State, at: &str, v: Value) {
        s.addresses_in(at, &v, "");
        s.order(
            "app_state/distribution/delegator_starting_infos",
            at,
            &v,
            true,
        );
        s.dist_present = true;
        s.starting_infos += 1;
        let f = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        s.si_pairs = s
            .si_pairs
            .wrapping_add(pair_hash(f("delegator_address"), f("validator_address")));
    }

    /// A validator historical rewards entry: its reference count.
    fn historical_rewards(s: &mut State, at: &str, v: Value) {
        s.addresses_in(at, &v, "");
        s.dist_present = true;
        match v
            .get("rewards")
            .and_then(|r| r.get("reference_count"))
            .and_then(Value::as_u64)
        {
            Some(n) => s.reference_counts += u128::from(n),
            None => s.problem(format!("{at}: no rewards.reference_count")),
        }
    }

    /// A validator slash event (each holds a reference to historical rewards).
    fn slash_event(s: &mut State, at: &str, v: Value) {
        s.addresses_in(at, &v, "");
        s.slash_events += 1;
    }
}

/// The consistency check of one genesis document.
#[derive(Default)]
pub struct Check {
    st: RefCell<State>,
}

fn parse(b: &[u8]) -> Option<Value> {
    serde_json::from_slice(b).ok()
}

impl Check {
    pub fn new() -> Check {
        Check::default()
    }

    /// The hooks that gather what the check needs during a walk of the document.
    pub fn hooks(&self) -> Hooks<'_> {
        let st = &self.st;
        let fs = GATHERS
            .iter()
            .map(|&(p, g)| -> (Vec<String>, F<'_>) {
                let loc = p.replace('/', ".");
                (
                    p.split('/').map(str::to_string).collect(),
                    Box::new(move |i: u64, b: &[u8]| {
                        let at = format!("{loc}[{i}]");
                        match parse(b) {
                            Some(v) => g(&mut st.borrow_mut(), &at, v),
                            None => st.borrow_mut().problem(format!("{at}: not valid JSON")),
                        }
                        Ok(Element::Keep)
                    }),
                )
            })
            .collect();
        Hooks { fs }
    }

    /// Compare what the walk gathered.
    pub fn finish(self) -> Report {
        let mut s = self.st.into_inner();
        let mut checked = Vec::new();
        let mut problems = std::mem::take(&mut s.problems);
        State::check_bank(&s, &mut checked, &mut problems);
        State::check_staking(&s, &mut checked, &mut problems);
        State::check_powers(&s, &mut checked, &mut problems);
        State::check_distribution(&s, &mut checked, &mut problems);
        State::check_orders(&s, &mut checked);
        State::check_addresses(&mut s, &mut checked, &mut problems);
        Report { checked, problems }
    }
}

/// The comparisons of [`Check::finish`], one per module.
impl State {
    /// Compare the bank: the balances sum to the supply.
    fn check_bank(s: &State, checked: &mut Vec<String>, problems: &mut Vec<String>) {
        if let (Some(sup), 0) = (&s.supply, s.n_balances) {
            // a skeleton genesis (agar's oracle fixtures: a supply, no accounts) is not a
            // chain state; the SDK itself would refuse it at InitGenesis. Say so.
            checked.push(format!(
                "bank: no balances, so the supply of {} denoms is not compared",
                sup.len()
            ));
        } else if let Some(sup) = &s.supply {
            checked.push(format!(
                "bank: {} balances sum to the supply of {} denoms",
                s.n_balances,
                sup.len()
            ));
            let denoms: std::collections::BTreeSet<&String> =
                sup.keys().chain(s.balances.keys()).collect();
            for d in denoms {
                let (a, b) = (
                    s.balances.get(d).copied().unwrap_or(0),
                    sup.get(d).copied().unwrap_or(0),
                );
                if a != b {
                    problems.push(format!(
                        "app_state.bank: the balances of {d} sum to {a}, but the supply says {b}"
                    ));
                }
            }
        }
    }

    /// Compare staking: each validator's delegations sum to its shares, the pools hold the validators' tokens.
    fn check_staking(s: &State, checked: &mut Vec<String>, problems: &mut Vec<String>) {
        if s.any_validators {
            let denom = s.bond_denom.clone().unwrap_or_default();
            let (mut bonded, mut other) = (0u128, 0u128);
            for (op, v) in &s.validators {
                if v.status.is_empty() {
                    problems.push(format!(
                        "app_state.staking.delegations: delegated to {op:?}, which is not a validator"
                    ));
                    continue;
                }
                if v.status == "BOND_STATUS_BONDED" {
                    bonded = bonded.saturating_add(v.tokens);
                } else {
                    other = other.saturating_add(v.tokens);
                }
                if s.delegations > 0 && v.delegated != v.shares {
                    problems.push(format!(
                        "app_state.staking: validator {op} has delegator_shares {}, but its delegations' shares sum to {}",
                        num::dec_string(v.shares),
                        num::dec_string(v.delegated)
                    ));
                }
            }
            let pool = |p: &Option<BTreeMap<String, u128>>| {
                p.as_ref().map(|m| m.get(&denom).copied().unwrap_or(0))
            };
            let nb_want = other.saturating_add(s.ubd_balance);
            for (name, got, want) in [
                ("bonded_tokens_pool", pool(&s.bonded_pool), bonded),
                ("not_bonded_tokens_pool", pool(&s.not_bonded_pool), nb_want),
            ] {
                let got = got.unwrap_or(0);
                if got != want {
                    problems.push(format!(
                        "app_state.staking: the {name} balance is {got}{denom}, but the validators' tokens (and unbonding entries) add up to {want}{denom}"
                    ));
                }
            }
            checked.push(format!(
                "staking: {} validators, {} delegations; bonded pool {bonded}{denom}, not-bonded pool {nb_want}{denom}",
                s.validators.len(),
                s.delegations
            ));
        }
    }

    /// Compare the powers: each is its validator's tokens / the power reduction, and they sum to the total.
    fn check_powers(s: &State, checked: &mut Vec<String>, problems: &mut Vec<String>) {
        if !s.powers.is_empty() || s.total_power.is_some() {
            let mut sum = 0u128;
            for (op, p) in &s.powers {
                sum = sum.saturating_add(*p);
                match s.validators.get(op).filter(|v| !v.status.is_empty()) {
                    None => problems.push(format!(
                        "app_state.staking.last_validator_powers: {op} is not a validator"
                    )),
                    Some(v) if v.tokens / POWER_REDUCTION != *p => problems.push(format!(
                        "app_state.staking.last_validator_powers: {op} has power {p}, but its tokens {} / {POWER_REDUCTION} are {}",
                        v.tokens,
                        v.tokens / POWER_REDUCTION
                    )),
                    _ => {}
                }
            }
            if s.total_power != Some(sum) {
                problems.push(format!(
                    "app_state.staking.last_total_power is {}, but last_validator_powers sum to {sum}",
                    s.total_power.map_or("absent".into(), |p| p.to_string())
                ));
            }
            checked.push(format!(
                "powers: {} validators, last_total_power {sum}",
                s.powers.len()
            ));
        }
    }

    /// Compare distribution: the reference counts, one starting info per delegation.
    fn check_distribution(s: &State, checked: &mut Vec<String>, problems: &mut Vec<String>) {
        if s.dist_present {
            let vals = s
                .validators
                .values()
                .filter(|v| !v.status.is_empty())
                .count() as u128;
            let want = vals + u128::from(s.delegations) + u128::from(s.slash_events);
            if s.reference_counts != want {
                problems.push(format!(
                    "app_state.distribution.validator_historical_rewards: the reference counts sum to {}, but x/distribution's reference-count invariant (asserted at InitGenesis) needs {want} = {vals} validators + {} delegations + {} slash events",
                    s.reference_counts, s.delegations, s.slash_events
                ));
            }
            if s.starting_infos != s.delegations || s.si_pairs != s.del_pairs {
                problems.push(format!(
                    "app_state.distribution.delegator_starting_infos: {} starting infos do not pair up one to one with the {} delegations (each delegation needs exactly one, for the same delegator and validator)",
                    s.starting_infos, s.delegations
                ));
            }
            checked.push(format!(
                "distribution: {} starting infos for {} delegations, reference counts {}",
                s.starting_infos, s.delegations, s.reference_counts
            ));
        }
    }

    /// Compare the export order of the arrays the SDK sorts.
    fn check_orders(s: &State, checked: &mut Vec<String>) {
        if !s.orders.is_empty() {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            for (path, q) in &s.orders {
                let name = path.rsplit('/').next().unwrap_or(path);
                match &q.first_misordered {
                    None => good.push(name),
                    Some(at) => bad.push(format!("{name} from {at}")),
                }
            }
            checked.push(if bad.is_empty() {
                format!("order: {} in the SDK's export order", good.join(", "))
            } else {
                format!(
                    "order: NOT in the SDK's export order (InitGenesis re-sorts balances and accounts and stores the rest as given; an export of the chain would differ): {}",
                    bad.join("; ")
                )
            });
        }
    }

    /// Compare the addresses: the malformed ones listed.
    fn check_addresses(s: &mut State, checked: &mut Vec<String>, problems: &mut Vec<String>) {
        if s.addresses > 0 {
            checked.push(format!(
                "addresses: {} well-formed, prefix {}",
                s.addresses - s.bad_addresses,
                s.prefix.as_deref().unwrap_or("?")
            ));
            problems.append(&mut s.listed);
            if s.bad_addresses > MAX_LISTED as u64 {
                problems.push(format!(
                    "{} malformed addresses in all ({MAX_LISTED} listed)",
                    s.bad_addresses
                ));
            }
        }
    }
}

/// Check a canonical genesis (one pass over it).
pub fn check(g: &crate::genesis::CanonicalGenesis) -> Result<Report> {
    let c = Check::new();
    {
        let mut h = c.hooks();
        g.gather(h.hooks())?;
    }
    Ok(c.finish())
}
