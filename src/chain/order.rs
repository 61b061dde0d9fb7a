//! The order in which the Cosmos SDK's export writes the lists agar inserts into, so that an
//! edited genesis reads as if the chain itself had exported it.
//!
//! An export iterates each module's KV store, so a list comes out in the byte order of its
//! store keys, which hold addresses as *bytes* (not as their bech32 text: the bech32
//! alphabet `qpzry9x8gf2tvdw0s3jn54khce6mua7l` is not in ASCII order, so sorting the
//! strings would be wrong) and, since SDK 0.43, mostly length-prefixed
//! (`address.MustLengthPrefix`: one length byte, then the bytes), so 20-byte addresses
//! come before 32-byte ones:
//!
//! | list | store key (x/…/types/keys.go; SDK 0.50 collections encode the same bytes) |
//! | --- | --- |
//! | `bank.balances` | `BalancesPrefix ∣ lp(address) ∣ denom` (`CreateAccountBalancesPrefix`) |
//! | `auth.accounts` | `AddressStoreKeyPrefix ∣ address` (no length prefix) |
//! | `staking.delegations`, `unbonding_delegations` | `lp(delegator) ∣ lp(validator)` |
//! | `staking.validators`, `last_validator_powers` | `lp(operator)` |
//! | `distribution.delegator_starting_infos` | `lp(validator) ∣ lp(delegator)` |
//! | `distribution.delegator_withdraw_infos` | `lp(delegator)` |
//! | `distribution.outstanding_rewards`, `validator_accumulated_commissions`, `validator_current_rewards` | `lp(validator)` |
//! | `distribution.validator_historical_rewards` | `lp(validator) ∣ period` (8 bytes little-endian) |
//! | `slashing.signing_infos`, `missed_blocks` | `lp(consensus address)` |
//!
//! At InitGenesis the SDK re-sorts balances itself (`SanitizeGenesisBalances`: by address
//! bytes, without the length prefix) and accounts by account number
//! (`SanitizeGenesisAccounts`); the other lists are stored as given. So the order never makes
//! a genesis invalid; it decides whether an edited genesis matches what the chain would have
//! exported, and a sorted list lets the check find duplicate entries (which
//! `ValidateGenesis` refuses) one element at a time.

use serde_json::Value;

/// `address.MustLengthPrefix(bytes)` of a bech32 address; an undecodable string sorts after
/// every address (0xff, then its text), so a malformed entry never hides a real one.
pub fn lp(addr: &str) -> Vec<u8> {
    match super::decode_addr(addr) {
        Some((_, b)) if b.len() < 256 => {
            let mut k = Vec::with_capacity(b.len() + 1);
            k.push(b.len() as u8);
            k.extend_from_slice(&b);
            k
        }
        _ => {
            let mut k = vec![0xff];
            k.extend_from_slice(addr.as_bytes());
            k
        }
    }
}

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The store key an element of the list at `path` (slash-separated, as the walk hooks
/// name it) is exported under; None for lists whose order agar does not model.
pub fn key(path: &str, v: &Value) -> Option<Vec<u8>> {
    let lpf = |k: &str| lp(field(v, k));
    Some(match path {
        "app_state/auth/accounts" => {
            let a = super::account_address(v).unwrap_or("");
            match super::decode_addr(a) {
                Some((_, b)) => b,
                None => lp(a),
            }
        }
        "app_state/bank/balances"
        | "app_state/slashing/signing_infos"
        | "app_state/slashing/missed_blocks"
        | "app_state/staking/last_validator_powers" => lpf("address"),
        "app_state/staking/validators" => lpf("operator_address"),
        "app_state/staking/delegations" | "app_state/staking/unbonding_delegations" => {
            [lpf("delegator_address"), lpf("validator_address")].concat()
        }
        "app_state/distribution/delegator_starting_infos" => {
            [lpf("validator_address"), lpf("delegator_address")].concat()
        }
        "app_state/distribution/delegator_withdraw_infos" => lpf("delegator_address"),
        "app_state/distribution/outstanding_rewards"
        | "app_state/distribution/validator_accumulated_commissions"
        | "app_state/distribution/validator_current_rewards" => lpf("validator_address"),
        "app_state/distribution/validator_historical_rewards" => {
            let p: u64 = field(v, "period").parse().unwrap_or(u64::MAX);
            [lpf("validator_address"), p.to_le_bytes().to_vec()].concat()
        }
        _ => return None,
    })
}

/// Where one new element of a list goes: before the first element whose key is greater
/// (in a list in export order, its sorted place), else at the end. Found while gathering,
/// one element at a time; applied by the writing pass with [`Insert::splice`] or, at the
/// end, [`Insert::append`].
pub struct Insert {
    pub path: &'static str,
    key: Vec<u8>,
    at: Option<u64>,
}

impl Insert {
    /// A new element of `path` whose key is that of `v` (its final bytes may come later).
    pub fn new(path: &'static str, v: &Value) -> Insert {
        Insert {
            path,
            key: key(path, v).unwrap_or_default(),
            at: None,
        }
    }

    /// Gathering: element `i` of the list is `el`.
    pub fn see(&mut self, i: u64, el: &Value) {
        if self.at.is_none() && key(self.path, el).is_some_and(|k| k > self.key) {
            self.at = Some(i);
        }
    }

    /// Writing: what element `i` (bytes `el`) becomes when `new` goes before it.
    pub fn splice(&self, i: u64, el: &[u8], new: &[u8]) -> Option<crate::json::walk::Element> {
        (self.at == Some(i))
            .then(|| crate::json::walk::Element::Splice(vec![new.to_vec(), el.to_vec()]))
    }

    /// Writing: the append edit when `new` goes after every element.
    pub fn append(&self, new: Vec<u8>) -> Option<crate::json::walk::Edit> {
        self.at.is_none().then(|| {
            let mut t: Vec<&str> = self.path.split('/').collect();
            t.push("-");
            super::edit(&t, new)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bytes_not_bech32_text() {
        // real addresses of the Gaia export: in text order 7xpf < fl48 < jv65 < lj54, in
        // bech32 value order (q=0 p=1 … 7=30 l=31) fl48 < jv65 < 7xpf < lj54, which is
        // the order the export has them in
        let a = [
            "cosmos1fl48vsnmsdzcv85q5d2q4z5ajdha8yu34mf0eh",
            "cosmos1jv65s3grqf6v6jl3dp4t6c9t9rk99cd88lyufl",
            "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta",
            "cosmos1lj54q70v2mt9e7c5mtp5xgg5n9c0hkas60kec9",
        ];
        let keys: Vec<Vec<u8>> = a
            .iter()
            .map(|x| key("app_state/bank/balances", &json!({"address": x})).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(a[2] < a[0], "text order differs");
        // length prefix: a 32-byte address sorts after every 20-byte one
        let long = super::super::encode_addr("cosmos", &[0u8; 32]).unwrap();
        assert!(lp(&long) > lp(a[3]));
        // accounts: raw bytes, no prefix (a 32-byte zero address sorts first)
        let k = |x: &str| key("app_state/auth/accounts", &json!({"address": x})).unwrap();
        assert!(k(&long) < k(a[0]));
        // an insertion goes before the first greater element
        let mut ins = Insert::new(
            "app_state/bank/balances",
            &json!({"address": "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a"}),
        );
        for (i, x) in a.iter().enumerate() {
            ins.see(i as u64, &json!({"address": x}));
        }
        assert_eq!(ins.at, Some(0));
    }
}
