//! meter and postal-authority: the same suite against the emulated coprocessor and a real
//! PKCS#11 token (SoftHSM2, a fresh token in a temporary directory for each test).

use std::process::{Command, Stdio};
use std::time::Duration;

use atomic_commerce::doc::Signed;
use atomic_commerce::postage::authority::MeterCertificate;
use atomic_commerce::postage::indicium::Indicium;
use atomic_commerce::postage::meter::LogEntry;

use crate::common::post::{ENVELOPE, Kind, PostWorld};
use serde_json::Value;

fn registers(status: &Value) -> (String, String, String, u64) {
    let s = |k: &str| status[k].as_str().unwrap().to_string();
    (s("descending"), s("ascending"), s("control_total"), status["sequence"].as_u64().unwrap())
}

fn verify(indicium: &Signed<Indicium>, certificate: &MeterCertificate) {
    let key = certificate.verifying_key().unwrap();
    indicium.verify_with(certificate.key_id, &key, "the meter").expect("the indicium verifies with the certified key");
}

fn both(test: impl Fn(Kind)) {
    test(Kind::Emulated);
    test(Kind::Pkcs11);
}

#[test]
fn printing_debits_the_registers_and_signs_with_the_certified_key() {
    both(|kind| {
        let world = PostWorld::new(kind);
        let first = Signed::<Indicium>::parse(&world.meter_ok(&["print", "envelope.json"])).unwrap();
        // The second envelope names its sender: the meter's log keeps it with the piece.
        let mut with_sender: Value = serde_json::from_str(ENVELOPE).unwrap();
        with_sender["sender"] = "Carnegie Mellon University\nPittsburgh PA 15213".into();
        std::fs::write(world.path("with-sender.json"), with_sender.to_string()).unwrap();
        let second = Signed::<Indicium>::parse(&world.meter_ok(&["print", "with-sender.json"])).unwrap();
        let senders: Vec<Option<String>> = world
            .log()
            .into_iter()
            .filter_map(|e| if let LogEntry::Print { sender, .. } = e { Some(sender) } else { None })
            .collect();
        assert_eq!(senders, [None, Some("Carnegie Mellon University\nPittsburgh PA 15213".into())], "{kind:?}");
        verify(&first, &world.certificate());
        verify(&second, &world.certificate());
        let (a, b) = (first.unverified(), second.unverified());
        assert_eq!((a.sequence, b.sequence), (1, 2), "{kind:?}");
        assert_eq!((b.ascending.to_string(), b.descending.to_string()), ("1.46".into(), "8.54".into()));
        assert_eq!(registers(&world.status()), ("8.54".into(), "1.46".into(), "10".into(), 2));
        // The last indicium is re-issued byte for byte.
        assert_eq!(world.meter_ok(&["reprint"]), second.to_json_line().as_bytes());
        assert_eq!(world.meter_ok(&["reprint", "--sequence", "1"]), first.to_json_line().as_bytes());
    });
}

#[test]
fn a_print_beyond_the_descending_register_is_refused_and_changes_nothing() {
    both(|kind| {
        let world = PostWorld::new(kind);
        std::fs::write(world.path("big.json"), ENVELOPE.replace("0.73", "10.01")).unwrap();
        let before = (world.status(), world.log().len());
        let out = world.run("meter", &["print", "big.json"]);
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("insufficient postage: 10 available, 10.01 asked"));
        assert!(out.stdout.is_empty());
        assert_eq!((world.status(), world.log().len()), before);
    });
}

#[test]
fn replayed_and_foreign_vouchers_are_refused_with_registers_unchanged() {
    both(|kind| {
        let world = PostWorld::new(kind);
        let before = world.status();
        let replay = world.run("meter", &["refill", "--voucher", "voucher-1.json"]);
        assert_eq!(replay.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&replay.stderr).contains("used already"), "{kind:?}");
        // A voucher from another authority.
        let other = PostWorld::new(Kind::Emulated);
        let foreign = other.path("voucher-1.json");
        let refused = world.run("meter", &["refill", "--voucher", foreign.to_str().unwrap()]);
        assert_eq!(refused.status.code(), Some(1), "{kind:?}: a voucher from another authority");
        // A voucher of our authority for another meter (an emulated device in this directory).
        let emulated = |args: &[&str]| {
            Command::new(assert_cmd::cargo::cargo_bin("meter"))
                .current_dir(world.dir.path())
                .args(args)
                .output()
                .unwrap()
        };
        let second = emulated(&[
            "--device",
            "meter2",
            "init",
            "--meter-id",
            "M-0002",
            "--origin",
            "15213",
            "--authority",
            "pa.id.json",
        ]);
        std::fs::write(world.path("request-2.json"), second.stdout).unwrap();
        world.ok("postal-authority", &["--db", "pa.db", "--key", "pa.key", "certify", "request-2.json"], "cert-2.json");
        world.voucher("M-0002", "1", "voucher-m2.json");
        let wrong = world.run("meter", &["refill", "--voucher", "voucher-m2.json"]);
        assert_eq!(wrong.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("the voucher is for meter M-0002, not M-0001"));
        // A second device made under this meter's id: the authority will not certify it, and
        // it refuses this meter's next voucher (bound to the first device's key).
        let clone = emulated(&[
            "--device",
            "clone",
            "init",
            "--meter-id",
            "M-0001",
            "--origin",
            "15213",
            "--authority",
            "pa.id.json",
        ]);
        std::fs::write(world.path("request-clone.json"), clone.stdout).unwrap();
        let certify =
            world.run("postal-authority", &["--db", "pa.db", "--key", "pa.key", "certify", "request-clone.json"]);
        assert_eq!(certify.status.code(), Some(1), "{kind:?}: a second key for one meter id");
        assert!(String::from_utf8_lossy(&certify.stderr).contains("certified with another key"));
        world.voucher("M-0001", "1", "voucher-2.json");
        let cloned = emulated(&["--device", "clone", "refill", "--voucher", "voucher-2.json"]);
        assert_eq!(cloned.status.code(), Some(1), "{kind:?}: another device under the same id");
        assert!(String::from_utf8_lossy(&cloned.stderr).contains("not this device's"));
        assert_eq!(world.status(), before, "{kind:?}: registers unchanged");
        world.meter_ok(&["refill", "--voucher", "voucher-2.json"]);
        assert_eq!(registers(&world.status()).0, "11");
    });
}

/// Tamper: the state edited behind the meter's back zeroizes it for good.
#[test]
fn a_flipped_byte_in_the_state_zeroizes_the_meter() {
    both(|kind| {
        let world = PostWorld::new(kind);
        let state = world.path("meter/state.json");
        let mut bytes = std::fs::read(&state).unwrap();
        // The registers are sealed: they are not in the file in clear.
        assert!(!String::from_utf8_lossy(&bytes).contains("descending"), "{kind:?}: encrypted");
        let at = String::from_utf8_lossy(&bytes).find("\"sealed\": \"").unwrap() + 40;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        std::fs::write(&state, bytes).unwrap();
        let out = world.run("meter", &["print", "envelope.json"]);
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("tamper detected") && err.contains("keys are zeroized"), "{err}");
        assert!(out.stdout.is_empty());
        if let Kind::Emulated = kind {
            assert!(!world.path("meter/device.key").exists(), "the key file is gone");
        }
        let again = world.run("meter", &["status"]);
        assert_eq!(again.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&again.stderr).contains("refuses all work"), "sticky");
    });
}

/// A state put back while the meter runs (between two prints of one stream) is caught at the
/// next commit, not overwritten.
#[test]
fn a_state_changed_while_the_meter_runs_zeroizes_it() {
    both(|kind| {
        let world = PostWorld::new(kind);
        let state = world.path("meter/state.json");
        let old = std::fs::read(&state).unwrap();
        let mut child = world
            .command("meter", &["print", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let envelope = serde_json::from_str::<Value>(ENVELOPE).unwrap().to_string() + "\n";
        std::io::Write::write_all(&mut stdin, envelope.as_bytes()).unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        assert!(lines.next().is_some_and(|l| l.is_ok()), "{kind:?}: the first piece is printed");
        std::fs::write(&state, &old).unwrap();
        std::io::Write::write_all(&mut stdin, envelope.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("the state changed behind the meter's back"));
        assert!(lines.next().is_none(), "{kind:?}: no second indicium");
        assert!(world.path("meter/TAMPERED").exists());
    });
}

#[test]
fn opening_the_cover_zeroizes_the_keys() {
    both(|kind| {
        let world = PostWorld::new(kind);
        assert_eq!(world.run("meter", &["open-cover"]).status.code(), Some(1));
        let out = world.run("meter", &["print", "envelope.json"]);
        assert_eq!(out.status.code(), Some(1), "{kind:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("the cover was opened"));
    });
}

/// SIGKILL during many prints: the control total holds, sequence numbers are unique and
/// gap-free in the log, every debit has its indicium, and what was printed is what was logged.
///
/// Each run prints a stream of envelopes and is killed at a random moment after its first
/// indicium: SoftHSM 2.6.1 rewrites its token file in place at every login, and a kill at that
/// moment destroys the token (see docs/ARCHITECTURE.md); the meter's prints are what is tested.
#[test]
fn sigkill_during_prints_loses_no_postage_and_never_reuses_a_sequence() {
    both(|kind| {
        let world = PostWorld::new(kind);
        let envelope: Value = serde_json::from_str(&ENVELOPE.replace("0.73", "0.001")).unwrap();
        let stream: String = (0..400).map(|_| envelope.to_string() + "\n").collect();
        std::fs::write(world.path("stream.ndjson"), stream).unwrap();
        let mut printed: Vec<Signed<Indicium>> = Vec::new();
        let mut killed = 0;
        for _ in 0..12 {
            let mut child = world
                .command("meter", &["print", "stream.ndjson"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
            if let Some(Ok(first)) = lines.next() {
                printed.push(Signed::parse(first.as_bytes()).unwrap());
            }
            std::thread::sleep(Duration::from_micros(rand::random_range(0..30_000)));
            let _ = child.kill();
            killed += usize::from(child.wait().unwrap().code().is_none());
            printed.extend(lines.map_while(|l| l.ok()).map(|l| Signed::parse(l.as_bytes()).unwrap()));
        }
        assert!(killed >= 6, "{kind:?}: only {killed} runs were killed mid-stream");
        let (descending, ascending, control, sequence) = registers(&world.status());
        assert_eq!(control, "10");
        let log: Vec<Signed<Indicium>> = world
            .log()
            .into_iter()
            .filter_map(|e| if let LogEntry::Print { indicium, .. } = e { Some(indicium) } else { None })
            .collect();
        let sequences: Vec<u64> = log.iter().map(|i| i.unverified().sequence).collect();
        assert_eq!(sequences, (1..=sequence).collect::<Vec<_>>(), "{kind:?}: unique and gap-free");
        let used: u64 = log.iter().map(|i| i.unverified().postage.micros()).sum();
        assert_eq!(
            ascending.parse::<atomic_commerce::money::Amount>().unwrap().micros(),
            used,
            "every debit has its indicium"
        );
        assert_eq!(descending.parse::<atomic_commerce::money::Amount>().unwrap().micros(), 10_000_000 - used);
        for p in &printed {
            assert_eq!(p, &log[usize::try_from(p.unverified().sequence).unwrap() - 1], "one sequence, one indicium");
            verify(p, &world.certificate());
        }
        let leftovers = std::fs::read_dir(world.path("meter")).unwrap().filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with(".atomic-commerce-").then_some(name)
        });
        assert_eq!(leftovers.collect::<Vec<_>>(), Vec::<String>::new(), "{kind:?}: the next open cleans up");
    });
}

#[test]
fn a_pin_on_the_command_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("meter"))
        .current_dir(dir.path())
        .args(["--device", "m", "init", "--meter-id", "M", "--origin", "1", "--authority", "x", "--coprocessor"])
        .arg("pkcs11:token=meter;object=M?pin-value=1234")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a PIN in the URI is refused"));
}

/// The URI's serial and slot-id select the token too: a token labelled right but with another
/// serial is not the one meant.
#[test]
fn a_token_must_match_every_attribute_the_uri_names() {
    let world = PostWorld::new(Kind::Pkcs11);
    let serial = Command::new("softhsm2-util")
        .args(["--show-slots"])
        .env("SOFTHSM2_CONF", world.path("softhsm2.conf"))
        .output()
        .unwrap();
    let slots = String::from_utf8_lossy(&serial.stdout).into_owned();
    let serial = slots.lines().find_map(|l| l.trim().strip_prefix("Serial number:")).unwrap().trim().to_string();
    let init = |uri: &str| {
        Command::new(assert_cmd::cargo::cargo_bin("meter"))
            .current_dir(world.dir.path())
            .env("SOFTHSM2_CONF", world.path("softhsm2.conf"))
            .args(["--device", &format!("m-{}", uri.len()), "--pin-file", "pin", "init", "--meter-id", "M-9"])
            .args(["--origin", "15213", "--authority", "pa.id.json", "--coprocessor", uri])
            .output()
            .unwrap()
    };
    let wrong = init("pkcs11:token=meter;object=M-9;serial=0000000000000000");
    assert_eq!(wrong.status.code(), Some(66), "{}", String::from_utf8_lossy(&wrong.stderr));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("no PKCS#11 token matches the URI"));
    let right = init(&format!("pkcs11:token=meter;object=M-9;serial={serial}"));
    assert!(right.status.success(), "{}", String::from_utf8_lossy(&right.stderr));
}

#[test]
fn a_torn_last_log_line_is_cut_and_a_rolled_back_state_is_tamper() {
    both(|kind| {
        let world = PostWorld::new(kind);
        world.meter_ok(&["print", "envelope.json"]);
        let old_state = std::fs::read(world.path("meter/state.json")).unwrap();
        world.meter_ok(&["print", "envelope.json"]);
        // A crash in the middle of an append leaves a line without its newline.
        let log = world.path("meter/log.ndjson");
        let mut text = std::fs::read(&log).unwrap();
        text.extend_from_slice(b"{\"type\": \"postage.meter-log\", \"ver");
        std::fs::write(&log, &text).unwrap();
        assert_eq!(registers(&world.status()).3, 2, "{kind:?}: the torn line does not stop the meter");
        assert!(std::fs::read(&log).unwrap().ends_with(b"\n"), "the torn line was cut");
        // Restoring an older (validly sealed) state: the log is ahead of it.
        std::fs::write(world.path("meter/state.json"), old_state).unwrap();
        let out = world.run("meter", &["print", "envelope.json"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("rolled back"), "{kind:?}");
    });
}

#[test]
fn a_back_dated_or_far_post_dated_piece_is_refused() {
    let world = PostWorld::new(Kind::Emulated);
    for date in ["2026-11-01", "2027-01-30"] {
        std::fs::write(world.path("dated.json"), ENVELOPE.replace("2026-11-25", date)).unwrap();
        let out = world.run("meter", &["print", "dated.json"]);
        assert_eq!(out.status.code(), Some(1), "{date}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is not between yesterday and 30 days"), "{date}");
    }
    assert_eq!(registers(&world.status()).3, 0, "nothing printed");
}
