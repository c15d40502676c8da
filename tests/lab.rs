//! The atomicity lab: the classification the paper argues, measured; every counterexample
//! replays to the same run.

use atomic_commerce::lab::{self, Fault, FaultKind, Trace};

fn verdicts(table: &lab::Table, protocol: &str) -> [&'static str; 3] {
    let row = table.rows.iter().find(|r| r.protocol == protocol).unwrap();
    [row.money.verdict(), row.goods.verdict(), row.certified.verdict()]
}

#[test]
fn the_single_fault_matrix_measures_the_papers_table() {
    let table = lab::explore(&lab::protocols(), 1, 2).unwrap();
    assert_eq!(verdicts(&table, "netbill"), ["holds", "holds", "holds"], "{}", table.to_text());
    assert_eq!(verdicts(&table, "netbill-2"), ["holds", "holds", "holds"], "{}", table.to_text());
    assert_eq!(verdicts(&table, "digicash-return")[0], "fails");
    assert_eq!(verdicts(&table, "digicash-keep")[0], "fails");
    assert_eq!(verdicts(&table, "digicash-recovery")[..2], ["holds", "holds"]);
    assert_eq!(verdicts(&table, "first-virtual")[..2], ["holds", "fails"]);
    assert_eq!(verdicts(&table, "ssl")[..2], ["holds", "fails"]);
    assert_eq!(verdicts(&table, "set")[..2], ["holds", "fails"]);
    assert_eq!(verdicts(&table, "postage")[..2], ["holds", "holds"]);
    for row in &table.rows {
        let steps = lab::protocol(&row.protocol).unwrap().steps().len();
        let misbehaviours = lab::protocol(&row.protocol).unwrap().misbehaviours().len();
        assert_eq!(row.runs, 1 + 5 * steps + misbehaviours, "{}: every single fault once", row.protocol);
    }
    // The paper's own scenario breaks DigiCash: her payment is lost, and the coin she keeps is
    // money she can never safely use.
    let keep = table.rows.iter().find(|r| r.protocol == "digicash-keep").unwrap();
    assert_eq!(keep.money.counterexample.as_deref(), Some("digicash-keep:lose@1"));

    for row in &table.rows {
        for (property, cell) in [("money", &row.money), ("goods", &row.goods), ("certified", &row.certified)] {
            let Some(text) = &cell.counterexample else { continue };
            let trace = Trace::parse(text).unwrap();
            assert_eq!(trace.to_string(), *text);
            let (first, log) = lab::replay(&trace).unwrap();
            let (again, log_again) = lab::replay(&trace).unwrap();
            assert_eq!((&first, &log), (&again, &log_again), "{text} replays to the same run");
            let broken = match property {
                "money" => first.money,
                "goods" => first.goods,
                _ => first.certified,
            };
            assert_eq!(broken, Some(false), "{text} breaks {property}: {log:?}");
        }
    }
}

#[test]
fn pairs_of_faults_include_every_single_fault_and_never_two_at_one_boundary() {
    let netbill = lab::protocol("netbill").unwrap();
    let singles = lab::fault_sets(netbill.as_ref(), 1);
    let pairs = lab::fault_sets(netbill.as_ref(), 2);
    assert!(singles.iter().all(|s| pairs.contains(s)));
    assert!(
        pairs.iter().all(|s| s.len() < 2 || !matches!((&s[0], &s[1]), (Fault::At(_, a), Fault::At(_, b)) if a == b))
    );
    let n = singles.len() - 1;
    let same_step = 7 * 5 * 4 / 2; // pairs of kinds at one of the 7 boundaries
    let two_misbehaviours = 4 * 3 / 2;
    assert_eq!(pairs.len(), 1 + n + n * (n - 1) / 2 - same_step - two_misbehaviours);
}

#[test]
fn a_trace_names_its_protocol_faults_and_misbehaviour() {
    let trace = Trace::parse("netbill:delay@4+merchant-sends-bogus-key").unwrap();
    assert_eq!(trace.faults, [Fault::At(FaultKind::Delay, 4), Fault::Misbehave("merchant-sends-bogus-key")]);
    for bad in ["netbill", "nosuch:lose@1", "netbill:lose@99", "netbill:melt@1", "netbill:bribe"] {
        assert!(Trace::parse(bad).is_err(), "{bad}");
    }
    let out = assert_cmd::Command::cargo_bin("atomicity-lab")
        .unwrap()
        .args(["replay", "netbill:delay@4+merchant-sends-bogus-key"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("4 endorsed-epo: delayed past the time-outs"), "{text}");
    assert!(text.contains("money atomicity: holds"), "{text}");
}
