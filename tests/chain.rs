//! Testnet state edits (issue 17) and the chain-state consistency check, on the real Gaia
//! export (tests/fixtures/real, provenance in its README) packed with the tiny fixture's
//! swing-store, in both export shapes. No real SDK 0.50 export with chain state is at hand:
//! the 0.50 variant is made here from the Gaia file (validators under
//! `consensus.validators`, `consensus_params` as `consensus.params`, `initial_height` a
//! number), as agd export of 0.50+ lays them out.

use crate::common;

use crate::common::edit::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const GAIA: &str = "real/gaia-local-chain.exported-sorted.genesis.json";
const HOLDER: &str = "cosmos1lj54q70v2mt9e7c5mtp5xgg5n9c0hkas60kec9";
const NEW: &str = "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a";

/// An address whose first 5 bits are 19 (`n`): between `j` (18) and `7` (30) in bech32
/// value order, after both in text order.
fn mid() -> String {
    bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("cosmos").unwrap(), &[0x98; 20]).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    Sdk47,
    Sdk50,
}

fn gaia(shape: Shape) -> Value {
    let mut g: Value = serde_json::from_slice(&std::fs::read(fixture(GAIA)).unwrap()).unwrap();
    if let Shape::Sdk50 = shape {
        let o = g.as_object_mut().unwrap();
        let vals = o.remove("validators").unwrap();
        let params = o.remove("consensus_params").unwrap();
        o.insert(
            "consensus".into(),
            json!({"params": params, "validators": vals}),
        );
        o.insert("initial_height".into(), json!(21));
    }
    g
}

/// Pack `genesis` (given its app_state.swingset from the tiny fixture) with the tiny
/// operational swing-store into `dir/name.tar`.
fn archive(dir: &Path, name: &str, mut genesis: Value) -> (PathBuf, String) {
    let src = fixture("tiny/genesis/operational");
    let tiny: Value =
        serde_json::from_slice(&std::fs::read(src.join("genesis.json")).unwrap()).unwrap();
    genesis["app_state"]["swingset"] = tiny["app_state"]["swingset"].clone();
    let d = dir.join(format!("{name}-export"));
    common::copy_dir(&src, &d);
    std::fs::remove_file(d.join("genesis.camelcase.json")).ok();
    std::fs::write(
        d.join("genesis.json"),
        serde_json::to_vec_pretty(&genesis).unwrap(),
    )
    .unwrap();
    let out = dir.join(format!("{name}.tar"));
    let o = run(&[
        "pack",
        d.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    ok(&o);
    (out, last_line(&o))
}

/// `agar edit INPUT -o bad.tar ARGS` is refused with `msg`, leaving no output.
fn refused(input: &Path, args: &[&str], msg: &str) {
    let bad = input.with_file_name("refused.tar");
    let mut a = vec!["edit", input.to_str().unwrap(), "-o", bad.to_str().unwrap()];
    a.extend_from_slice(args);
    let o = run(&a);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains(msg), "{}", stderr(&o));
    assert!(!bad.exists());
}

fn genesis_of(path: &Path) -> Value {
    let g = json(member(&members(path), "genesis.json"));
    export_order(&g);
    g
}

/// Length-prefixed address bytes, decoded here independently of agar.
fn lp(a: &Value) -> Vec<u8> {
    let (_, b) = bech32::decode(a.as_str().unwrap()).unwrap();
    [vec![b.len() as u8], b].concat()
}

/// The lists agar inserts into are in the order the SDK's export writes them: its store
/// keys, addresses as length-prefixed bytes (x/bank CreateAccountBalancesPrefix, x/staking
/// GetDelegationKey, x/distribution GetDelegatorStartingInfoKey), accounts by raw bytes.
fn export_order(g: &Value) {
    let s = &g["app_state"];
    let sorted = |what: &str, keys: Vec<Vec<u8>>| {
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{what} not in export order"
        );
    };
    let list = |v: &Value| v.as_array().unwrap().clone();
    sorted(
        "balances",
        list(&s["bank"]["balances"])
            .iter()
            .map(|b| lp(&b["address"]))
            .collect(),
    );
    sorted(
        "accounts",
        list(&s["auth"]["accounts"])
            .iter()
            .map(|a| {
                let a = a.get("base_account").unwrap_or(a);
                lp(&a["address"])[1..].to_vec()
            })
            .collect(),
    );
    sorted(
        "delegations",
        list(&s["staking"]["delegations"])
            .iter()
            .map(|d| [lp(&d["delegator_address"]), lp(&d["validator_address"])].concat())
            .collect(),
    );
    sorted(
        "starting infos",
        list(&s["distribution"]["delegator_starting_infos"])
            .iter()
            .map(|d| [lp(&d["validator_address"]), lp(&d["delegator_address"])].concat())
            .collect(),
    );
}

fn edit(input: &Path, out: &Path, args: &[&str]) -> String {
    let mut a = vec![
        "edit",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ];
    a.extend_from_slice(args);
    last_line(ok(&run(&a)))
}

/// The consistency check ran, found the chain state, and passed; the lists agar inserts
/// into or renames in are in the SDK's export order.
fn consistent(path: &Path) {
    check_consistent(path);
    let o = run(&["inspect", path.to_str().unwrap(), "--json", "-q"]);
    let r = json(&ok(&o).stdout);
    let checked = r["consistency"]["checked"].as_array().unwrap();
    assert_eq!(checked.len(), 6, "{checked:?}");
    assert_eq!(
        checked[4],
        "order: accounts, balances, delegator_starting_infos, delegations in the SDK's export order",
        "{checked:?}"
    );
    assert_eq!(r["consistency"]["problems"], json!([]));
}

#[test]
fn real_gaia_export_is_consistent_in_both_shapes() {
    let d = tempfile::tempdir().unwrap();
    for shape in [Shape::Sdk47, Shape::Sdk50] {
        let (a, _) = archive(d.path(), &format!("{shape:?}"), gaia(shape));
        consistent(&a);
        let o = run(&["inspect", a.to_str().unwrap(), "-q"]);
        let out = stdout(ok(&o));
        assert!(
            out.contains("bank: 4 balances sum to the supply of 2 denoms"),
            "{out}"
        );
        assert!(out.contains("bonded pool 8000000000stake"), "{out}");
        assert!(out.contains("last_total_power 8000"), "{out}");
    }
}

#[test]
fn real_agoric3_genesis_is_consistent() {
    // the agoric-3 genesis (2021, SDK ≤ 0.47 shape, prefix agoric) with the tiny
    // swing-store: the check applies in full and passes as-is
    let d = tempfile::tempdir().unwrap();
    let g: Value = serde_json::from_slice(
        &std::fs::read(fixture("real/agoric-3.mainnet.genesis.json")).unwrap(),
    )
    .unwrap();
    let (a, _) = archive(d.path(), "agoric3", g);
    consistent(&a);
    let out = stdout(ok(&run(&["inspect", a.to_str().unwrap(), "-q"]))).to_string();
    assert!(
        out.contains("bank: 14 balances sum to the supply of 1 denoms"),
        "{out}"
    );
    assert!(out.contains("prefix agoric"), "{out}");
}

#[test]
fn fund_account_set_gov_unbonding_change_exactly_that() {
    let d = tempfile::tempdir().unwrap();
    for shape in [Shape::Sdk47, Shape::Sdk50] {
        let g = gaia(shape);
        let (a, _) = archive(d.path(), &format!("{shape:?}"), g.clone());
        let before = genesis_of(&a);
        let out = d.path().join(format!("{shape:?}-edited.tar"));
        edit(
            &a,
            &out,
            &[
                "--fund-account",
                &format!("{HOLDER}=5stake,7ufoo"),
                "--fund-account",
                &format!("{NEW}=9stake"),
                "--fund-account",
                &format!("{}=1stake", mid()),
                "--set-gov",
                "voting_period=60s",
                "--set-gov",
                "min_deposit=1stake",
                "--set-gov",
                "quorum=0.000000000000000001",
                "--set-gov",
                "threshold=0.000000000000000001",
                "--set-gov",
                "veto_threshold=0.5",
                "--set-unbonding-time",
                "2h",
            ],
        );
        let after = genesis_of(&out);
        // the expected document, built independently
        let mut want = before.clone();
        let s = &mut want["app_state"];
        s["bank"]["balances"][3]["coins"] = json!([
            {"amount": "2000000005", "denom": "stake"},
            {"amount": "1000000000000", "denom": "uatom"},
            {"amount": "7", "denom": "ufoo"}]);
        // NEW is 20 zero bytes: first in the export order (a plain append would put it
        // last, and a bech32 text sort after cosmos17…)
        s["bank"]["balances"].as_array_mut().unwrap().insert(
            0,
            json!({"address": NEW, "coins": [{"amount": "9", "denom": "stake"}]}),
        );
        s["bank"]["supply"] = json!([
            {"amount": "10000004115", "denom": "stake"},
            {"amount": "1000000000000", "denom": "uatom"},
            {"amount": "7", "denom": "ufoo"}]);
        s["auth"]["accounts"].as_array_mut().unwrap().insert(
            0,
            json!({
            "@type": "/cosmos.auth.v1beta1.BaseAccount", "account_number": "8",
            "address": NEW, "pub_key": null, "sequence": "0"}),
        );
        // MID sorts between cosmos1jv65… and cosmos17xpf… by bytes (last by text)
        s["bank"]["balances"].as_array_mut().unwrap().insert(
            3,
            json!({"address": mid(), "coins": [{"amount": "1", "denom": "stake"}]}),
        );
        s["auth"]["accounts"].as_array_mut().unwrap().insert(
            6,
            json!({
            "@type": "/cosmos.auth.v1beta1.BaseAccount", "account_number": "9",
            "address": mid(), "pub_key": null, "sequence": "0"}),
        );
        let p = &mut s["gov"]["params"];
        p["voting_period"] = json!("60s");
        p["min_deposit"] = json!([{"amount": "1", "denom": "stake"}]);
        p["quorum"] = json!("0.000000000000000001");
        p["threshold"] = json!("0.000000000000000001");
        p["veto_threshold"] = json!("0.500000000000000000");
        s["staking"]["params"]["unbonding_time"] = json!("7200s");
        assert_eq!(after, want, "{shape:?}");
        // the shape is kept
        match shape {
            Shape::Sdk47 => assert_eq!(after["initial_height"], json!("21")),
            Shape::Sdk50 => {
                assert_eq!(after["initial_height"], json!(21));
                assert!(after.get("validators").is_none());
            }
        }
        consistent(&out);
        // provenance records the typed ops
        let m = json(member(&members(&out), "genesis-archive.json"));
        let ops: Vec<&str> = m["provenance"]["edits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["op"].as_str().unwrap())
            .collect();
        assert_eq!(
            ops[..4],
            ["fund-account", "fund-account", "fund-account", "set-gov"]
        );
        assert_eq!(
            m["provenance"]["edits"][1],
            json!({"op": "fund-account", "address": NEW, "amount": "9stake"})
        );
    }
}

#[test]
fn legacy_gov_params_are_set_too() {
    // SDK ≤ 0.45 (and the agoric-3 genesis) keep gov params in three legacy objects
    let d = tempfile::tempdir().unwrap();
    let mut g = gaia(Shape::Sdk47);
    let gov = &mut g["app_state"]["gov"];
    gov["deposit_params"] = json!({"max_deposit_period": "172800s", "min_deposit": [{"amount": "1", "denom": "stake"}]});
    gov["voting_params"] = json!({"voting_period": "172800s"});
    gov["tally_params"] = json!({"quorum": "0.334000000000000000",
        "threshold": "0.500000000000000000", "veto_threshold": "0.334000000000000000"});
    let (a, _) = archive(d.path(), "legacy", g);
    let out = d.path().join("out.tar");
    edit(
        &a,
        &out,
        &[
            "--set-gov",
            "voting_period=1m",
            "--set-gov",
            "threshold=0.1",
        ],
    );
    let after = genesis_of(&out);
    let gov = &after["app_state"]["gov"];
    assert_eq!(gov["voting_params"]["voting_period"], "60s");
    assert_eq!(gov["params"]["voting_period"], "60s");
    assert_eq!(gov["tally_params"]["threshold"], "0.100000000000000000");
    assert_eq!(gov["params"]["threshold"], "0.100000000000000000");
    // expedited fields exist in neither shape here: refused, nothing written
    refused(
        &a,
        &["--set-gov", "expedited_voting_period=30s"],
        "no governance parameter expedited_voting_period",
    );
}

#[test]
fn script_ops_replay_to_the_same_digest() {
    let d = tempfile::tempdir().unwrap();
    let (a, base) = archive(d.path(), "gaia", gaia(Shape::Sdk47));
    let script = d.path().join("s.json");
    std::fs::write(
        &script,
        serde_json::to_vec(&json!({"base": base, "edits": [
            {"op": "fund-account", "address": HOLDER, "amount": "1000stake"},
            {"op": "set-gov", "name": "voting_period", "value": "60s"},
            {"op": "set-unbonding-time", "value": "60s"}]}))
        .unwrap(),
    )
    .unwrap();
    let x = edit(
        &a,
        &d.path().join("x.tar"),
        &["--script", script.to_str().unwrap()],
    );
    let y = edit(
        &a,
        &d.path().join("y.tar"),
        &["--script", script.to_str().unwrap()],
    );
    assert_eq!(x, y);
    consistent(&d.path().join("x.tar"));
}

#[test]
fn inconsistent_state_is_reported_by_verify_and_refused_by_edit() {
    let d = tempfile::tempdir().unwrap();
    // the bonded pool holds 1 stake too many, and the supply agrees with it: only the
    // staking check fails
    let mut g = gaia(Shape::Sdk47);
    g["app_state"]["bank"]["balances"][0]["coins"][0]["amount"] = json!("8000000001");
    g["app_state"]["bank"]["supply"][0]["amount"] = json!("10000004101");
    let (a, _) = archive(d.path(), "bad", g);
    let o = run(&["verify", a.to_str().unwrap(), "-q"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("bonded_tokens_pool balance is 8000000001stake, but the validators' tokens (and unbonding entries) add up to 8000000000stake"),
        "{all}"
    );
    // an edit of a consistent archive that breaks the supply is refused
    let (good, _) = archive(d.path(), "good", gaia(Shape::Sdk47));
    refused(
        &good,
        &["--genesis-set", "/app_state/bank/supply/0/amount=\"1\""],
        "the balances of stake sum to 10000004100, but the supply says 1",
    );
    // a malformed address is named
    let mut g = gaia(Shape::Sdk47);
    g["app_state"]["staking"]["delegations"][0]["delegator_address"] =
        json!("cosmos1lj54q70v2mt9e7c5mtp5xgg5n9c0hkas60kec8");
    let (a, _) = archive(d.path(), "addr", g);
    let o = run(&["verify", a.to_str().unwrap(), "-q"]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("app_state.staking.delegations[0]: \"cosmos1lj54q70v2mt9e7c5mtp5xgg5n9c0hkas60kec8\" is not a well-formed cosmos bech32 address"),
        "{all}"
    );
}

#[test]
fn distribution_and_duplicate_problems_are_reported() {
    // x/distribution's reference-count invariant (x/crisis asserts it at InitGenesis), a
    // delegation without its starting info, a duplicate balance: each named by verify
    let d = tempfile::tempdir().unwrap();
    type Case = (&'static str, fn(&mut Value));
    let cases: [Case; 3] = [
        (
            "the reference counts sum to 3, but x/distribution's reference-count invariant (asserted at InitGenesis) needs 2 = 1 validators + 1 delegations + 0 slash events",
            |g| g["app_state"]["distribution"]["validator_historical_rewards"][0]["rewards"]["reference_count"] = json!(3),
        ),
        (
            "0 starting infos do not pair up one to one with the 1 delegations",
            |g| {
                g["app_state"]["distribution"]["delegator_starting_infos"] = json!([]);
                g["app_state"]["distribution"]["validator_historical_rewards"][0]["rewards"]["reference_count"] = json!(1);
            },
        ),
        (
            "app_state.bank.balances[4]: a second entry for the same address as the one before it",
            |g| {
                let b = g["app_state"]["bank"]["balances"].as_array_mut().unwrap();
                let mut x = b[3].clone();
                x["coins"] = json!([{"amount": "1", "denom": "uatom"}]);
                b.push(x);
                g["app_state"]["bank"]["supply"][1]["amount"] = json!("1000000000001");
            },
        ),
    ];
    for (i, (msg, f)) in cases.into_iter().enumerate() {
        let mut g = gaia(Shape::Sdk47);
        f(&mut g);
        let (a, _) = archive(d.path(), &format!("c{i}"), g);
        let o = run(&["verify", a.to_str().unwrap(), "-q"]);
        assert_eq!(code(&o), 1, "{}", stdout(&o));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(all.contains(msg), "{all}");
    }
}

/// A new node's priv_validator_key.json (the private half is junk: only the public key
/// is read) and its key.
fn key_file(dir: &Path, seed: u8) -> (PathBuf, String) {
    use base64::Engine;
    let pk = base64::engine::general_purpose::STANDARD.encode([seed; 32]);
    let f = dir.join(format!("pvk{seed}.json"));
    std::fs::write(
        &f,
        serde_json::to_vec(&json!({"address": "00", "pub_key":
            {"type": "tendermint/PubKeyEd25519", "value": pk},
            "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": "not read"}}))
        .unwrap(),
    )
    .unwrap();
    (f, pk)
}

/// Replace every occurrence of string `old` by `new` in a Value, in the fields named.
fn swap(v: &mut Value, key: &str, old: &str, new: &str, keys: &[&str]) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                swap(x, k, old, new, keys);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| swap(x, key, old, new, keys)),
        Value::String(s) if s == old && keys.contains(&key) => *s = new.to_string(),
        _ => {}
    }
}

/// HOLDER renamed to NEW (20 zero bytes): its balance (last) and account (last) move to
/// the front, where the export order puts NEW.
fn to_front(g: &mut Value) {
    for (m, l) in [("bank", "balances"), ("auth", "accounts")] {
        let a = g["app_state"][m][l].as_array_mut().unwrap();
        let x = a.pop().unwrap();
        a.insert(0, x);
    }
}

#[test]
fn replace_validator_rewrites_every_place_in_both_shapes() {
    use sha2::Digest;
    let d = tempfile::tempdir().unwrap();
    let (kf, pk) = key_file(d.path(), 7);
    // the new addresses: SHA-256 of the key, first 20 bytes, as bech32 and as CometBFT hex.
    // The same derivation of the *old* key must give the real file's own valcons and hex
    // addresses, or the rewrite below would miss them (the real data is the check).
    let raw = [7u8; 32];
    let cons = &sha2::Sha256::digest(raw)[..20];
    let hrp = bech32::Hrp::parse("cosmosvalcons").unwrap();
    let new_cons = bech32::encode::<bech32::Bech32>(hrp, cons).unwrap();
    let new_hex = hex::encode_upper(cons);
    let op = "cosmosvaloper1lj54q70v2mt9e7c5mtp5xgg5n9c0hkaslmzv5k";
    let new_op = "cosmosvaloper1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqkh52tw";
    let old_cons = "cosmosvalcons1r880p6rud7776232fpsxnj85m4gm6wvpe2pkp2";
    let old_pk = "T6bqYkfRS1toJAFN8R34MByeuj1siCx0/0GdIgX8SmI=";
    for shape in [Shape::Sdk47, Shape::Sdk50] {
        let (a, _) = archive(d.path(), &format!("{shape:?}"), gaia(shape));
        let before = genesis_of(&a);
        // by moniker, flag form: the consensus key only
        let out = d.path().join(format!("{shape:?}-rv.tar"));
        edit(
            &a,
            &out,
            &[
                "--replace-validator",
                &format!("root@138.197.144.103={}", kf.display()),
            ],
        );
        let mut want = before.clone();
        swap(
            &mut want,
            "",
            old_cons,
            &new_cons,
            &["address", "previous_proposer"],
        );
        swap(&mut want, "", old_pk, &pk, &["key", "value"]);
        swap(
            &mut want,
            "",
            "19CEF0E87C6FBDED2A2A486069C8F4DD51BD3981",
            &new_hex,
            &["address"],
        );
        assert_ne!(want, before);
        assert_eq!(genesis_of(&out), want, "{shape:?}");
        let vals = match shape {
            Shape::Sdk47 => &want["validators"],
            Shape::Sdk50 => &want["consensus"]["validators"],
        };
        assert_eq!(vals[0]["address"], json!(new_hex));
        consistent(&out);
        // by operator address, script form, with a new operator account
        let script = d.path().join("rv.json");
        std::fs::write(
            &script,
            serde_json::to_vec(&json!({"edits": [{"op": "replace-validator",
                "validator": op, "key_file": kf.file_name().unwrap().to_str().unwrap(),
                "operator": NEW}]}))
            .unwrap(),
        )
        .unwrap();
        let out2 = d.path().join(format!("{shape:?}-rv2.tar"));
        edit(&a, &out2, &["--script", script.to_str().unwrap()]);
        let keys = [
            "address",
            "delegator_address",
            "validator_address",
            "operator_address",
        ];
        swap(&mut want, "", op, new_op, &keys);
        swap(&mut want, "", HOLDER, NEW, &keys);
        want["app_state"]["auth"]["accounts"][7]["pub_key"] = Value::Null;
        to_front(&mut want);
        assert_eq!(genesis_of(&out2), want, "{shape:?}");
        consistent(&out2);
        let m = json(member(&members(&out2), "genesis-archive.json"));
        assert_eq!(
            m["provenance"]["edits"][0],
            json!({"op": "replace-validator", "validator": op, "pubkey": pk, "operator": NEW})
        );
    }
}

#[test]
fn replace_account_and_refusals() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = archive(d.path(), "gaia", gaia(Shape::Sdk47));
    let before = genesis_of(&a);
    let out = d.path().join("ra.tar");
    edit(&a, &out, &["--replace-account", &format!("{HOLDER}={NEW}")]);
    let mut want = before.clone();
    swap(
        &mut want,
        "",
        HOLDER,
        NEW,
        &["address", "delegator_address"],
    );
    want["app_state"]["auth"]["accounts"][7]["pub_key"] = Value::Null;
    to_front(&mut want);
    assert_eq!(genesis_of(&out), want);
    consistent(&out);
    // unknown validator, a key already in use, a malformed key: refused, nothing written
    let (kf, _) = key_file(d.path(), 1);
    refused(
        &a,
        &["--replace-validator", &format!("nobody={}", kf.display())],
        "no validator has operator address or moniker",
    );
    let s = d.path().join("s.json");
    for (pubkey, msg) in [
        (
            "T6bqYkfRS1toJAFN8R34MByeuj1siCx0/0GdIgX8SmI=",
            "already in use",
        ),
        ("AAAA", "is not the base64 of a 32-byte ed25519 public key"),
    ] {
        let script = json!({"edits": [{"op": "replace-validator",
            "validator": "root@138.197.144.103", "pubkey": pubkey}]});
        std::fs::write(&s, serde_json::to_vec(&script).unwrap()).unwrap();
        refused(&a, &["--script", s.to_str().unwrap()], msg);
    }
}

#[test]
fn mainfork_recipe_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let script = common::repo("examples/mainfork.json");
    // the recipe is a valid edit script by the published schema
    let schema: Value = serde_json::from_slice(
        &std::fs::read(common::repo("schemas/edit-script.schema.json")).unwrap(),
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&script).unwrap()).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&doc));
    for shape in [Shape::Sdk47, Shape::Sdk50] {
        let (a, base) = archive(d.path(), &format!("{shape:?}"), gaia(shape));
        let x = d.path().join(format!("{shape:?}-x.tar"));
        let y = d.path().join(format!("{shape:?}-y.tar.gz"));
        let s = script.to_str().unwrap();
        let dx = edit(&a, &x, &["--script", s, "--base", &base]);
        let dy = edit(&a, &y, &["--script", s, "--base", &base]);
        assert_eq!(dx, dy, "same script + same archive = same digest");
        consistent(&x);
        // the diff lists exactly the intended genesis fields
        let o = run(&[
            "diff",
            a.to_str().unwrap(),
            x.to_str().unwrap(),
            "--json",
            "-q",
        ]);
        assert_eq!(code(&o), 1);
        let r = json(&o.stdout);
        // balances and accounts: the renamed whale moves to the front (export order), so
        // their by-index diff is a shift; they are compared by address below
        let moved = ["/app_state/auth/accounts/", "/app_state/bank/balances/"];
        let mut paths: Vec<String> = r["genesis"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .filter(|k| !moved.iter().any(|m| k.starts_with(m)))
            .collect();
        paths.sort();
        let vals = match shape {
            Shape::Sdk47 => "/validators/0",
            Shape::Sdk50 => "/consensus/validators/0",
        };
        let mut want: Vec<String> = [
            "/chain_id",
            "/app_state/staking/validators/0/tokens",
            "/app_state/staking/validators/0/delegator_shares",
            "/app_state/staking/delegations/0/shares",
            "/app_state/staking/last_validator_powers/0/power",
            "/app_state/staking/last_total_power",
            "/app_state/bank/supply/0/amount",
            "/app_state/distribution/delegator_starting_infos/0/delegator_address",
            "/app_state/distribution/delegator_starting_infos/0/validator_address",
            "/app_state/distribution/outstanding_rewards/0/validator_address",
            "/app_state/distribution/previous_proposer",
            "/app_state/distribution/validator_accumulated_commissions/0/validator_address",
            "/app_state/distribution/validator_current_rewards/0/validator_address",
            "/app_state/distribution/validator_historical_rewards/0/validator_address",
            "/app_state/gov/params/min_deposit/0/amount",
            "/app_state/gov/params/quorum",
            "/app_state/gov/params/threshold",
            "/app_state/gov/params/voting_period",
            "/app_state/slashing/missed_blocks/0/address",
            "/app_state/slashing/signing_infos/0/address",
            "/app_state/slashing/signing_infos/0/validator_signing_info/address",
            "/app_state/staking/delegations/0/delegator_address",
            "/app_state/staking/delegations/0/validator_address",
            "/app_state/staking/last_validator_powers/0/address",
            "/app_state/staking/params/unbonding_time",
            "/app_state/staking/validators/0/consensus_pubkey/key",
            "/app_state/staking/validators/0/operator_address",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("{vals}/address"),
            format!("{vals}/pub_key/value"),
            format!("{vals}/power"),
        ])
        .collect();
        want.sort();
        assert_eq!(paths, want, "{shape:?}");
        let (before, after) = (genesis_of(&a), genesis_of(&x));
        let by_addr = |g: &Value, m: &str, l: &str| -> std::collections::BTreeMap<String, Value> {
            g["app_state"][m][l]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let b = e.get("base_account").unwrap_or(e);
                    (b["address"].as_str().unwrap().to_string(), e.clone())
                })
                .collect()
        };
        let mut want = by_addr(&before, "bank", "balances");
        let mut w = want.remove(HOLDER).unwrap();
        w["address"] = json!(NEW);
        w["coins"][0]["amount"] = json!("1002000000000"); // + the fund-account
        want.insert(NEW.into(), w);
        // the bonded pool: + the add-stake
        want.get_mut("cosmos1fl48vsnmsdzcv85q5d2q4z5ajdha8yu34mf0eh")
            .unwrap()["coins"][0]["amount"] = json!("58000000000");
        assert_eq!(by_addr(&after, "bank", "balances"), want, "{shape:?}");
        let mut want = by_addr(&before, "auth", "accounts");
        let mut w = want.remove(HOLDER).unwrap();
        w["address"] = json!(NEW);
        w["pub_key"] = Value::Null;
        want.insert(NEW.into(), w);
        assert_eq!(by_addr(&after, "auth", "accounts"), want, "{shape:?}");
        assert_eq!(after["chain_id"], "agoric-mainfork-1");
        // the swing-store is untouched: same export-data hash
        assert_eq!(
            json(member(&members(&x), "genesis-archive.json"))["swing_store_export_data_hash"],
            json(member(&members(&a), "genesis-archive.json"))["swing_store_export_data_hash"]
        );
    }
}

#[test]
fn add_stake_keeps_staking_and_distribution_consistent() {
    let d = tempfile::tempdir().unwrap();
    let op = "cosmosvaloper1lj54q70v2mt9e7c5mtp5xgg5n9c0hkaslmzv5k";
    for shape in [Shape::Sdk47, Shape::Sdk50] {
        let (a, _) = archive(d.path(), &format!("{shape:?}"), gaia(shape));
        let before = genesis_of(&a);
        let script = d.path().join("as.json");
        std::fs::write(
            &script,
            serde_json::to_vec(&json!({"edits": [
                {"op": "add-stake", "address": NEW, "validator": "root@138.197.144.103", "amount": "1000000000"},
                {"op": "add-stake", "address": HOLDER, "validator": op, "amount": "500000"}]}))
            .unwrap(),
        )
        .unwrap();
        let out = d.path().join(format!("{shape:?}-as.tar"));
        edit(&a, &out, &["--script", script.to_str().unwrap()]);
        let mut want = before.clone();
        let s = &mut want["app_state"];
        s["bank"]["supply"][0]["amount"] = json!("11000504100");
        s["bank"]["balances"][0]["coins"][0]["amount"] = json!("9000500000");
        let v = &mut s["staking"]["validators"][0];
        v["tokens"] = json!("9000500000");
        v["delegator_shares"] = json!("9000500000.000000000000000000");
        s["staking"]["delegations"][0]["shares"] = json!("8000500000.000000000000000000");
        // NEW (20 zero bytes) sorts first in both keys: (delegator, validator) and
        // (validator, delegator)
        s["staking"]["delegations"].as_array_mut().unwrap().insert(
            0,
            json!({
            "delegator_address": NEW, "shares": "1000000000.000000000000000000",
            "validator_address": op}),
        );
        s["staking"]["last_validator_powers"][0]["power"] = json!("9000");
        s["staking"]["last_total_power"] = json!("9000");
        // the grown delegation keeps its starting info (rewards so far are the old
        // stake's); the new one starts at the current period - 1 at the export height
        let di = &mut s["distribution"];
        di["delegator_starting_infos"]
            .as_array_mut()
            .unwrap()
            .insert(
                0,
                json!({
            "delegator_address": NEW, "validator_address": op,
            "starting_info": {"height": "20", "previous_period": "1",
                "stake": "1000000000.000000000000000000"}}),
            );
        di["validator_historical_rewards"][0]["rewards"]["reference_count"] = json!(3);
        match shape {
            Shape::Sdk47 => want["validators"][0]["power"] = json!("9000"),
            Shape::Sdk50 => want["consensus"]["validators"][0]["power"] = json!("9000"),
        }
        assert_eq!(genesis_of(&out), want, "{shape:?}");
        consistent(&out);
    }
}
