//! A postal world for tests: a postal authority and one provisioned meter, on the emulated
//! coprocessor or on a fresh SoftHSM2 token in a temporary directory.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use atomic_commerce::doc::{Plain, Signed};
use atomic_commerce::postage::authority::MeterCertificate;
use atomic_commerce::postage::meter::LogEntry;
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Emulated,
    Pkcs11,
}

/// A postal authority and one provisioned meter with 10.00 of postage, in a temporary directory.
pub struct PostWorld {
    pub dir: tempfile::TempDir,
    pub kind: Kind,
}

pub const ENVELOPE: &str = r#"{"recipient": "The White House\n1600 Pennsylvania Ave NW\nWashington DC",
  "destination_postal_code": "20500", "postage": "0.73", "date": "2026-11-25", "rate_category": "letter"}"#;

impl PostWorld {
    pub fn new(kind: Kind) -> PostWorld {
        let world = PostWorld { dir: tempfile::tempdir().unwrap(), kind };
        if let Kind::Pkcs11 = kind {
            std::fs::create_dir(world.path("tokens")).unwrap();
            let conf = format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                world.path("tokens").display()
            );
            std::fs::write(world.path("softhsm2.conf"), conf).unwrap();
            atomic_commerce::fsio::write_secret(&world.path("pin"), b"1234\n").unwrap();
            let init = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", "meter", "--so-pin", "12345678", "--pin", "1234"])
                .env("SOFTHSM2_CONF", world.path("softhsm2.conf"))
                .stdin(Stdio::null())
                .output()
                .expect("softhsm2-util is needed for the PKCS#11 tests (scripts/test installs softhsm2)");
            assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
        }
        world.ok("postal-authority", &["--db", "pa.db", "--key", "pa.key", "init"], "pa.id.json");
        let coprocessor = match kind {
            Kind::Emulated => "emulated".to_string(),
            Kind::Pkcs11 => "pkcs11:token=meter;object=M-0001".to_string(),
        };
        let init = ["init", "--meter-id", "M-0001", "--origin", "15213", "--authority", "pa.id.json", "--coprocessor"];
        world.ok("meter", &[&init[..], &[coprocessor.as_str()]].concat(), "request.json");
        world.ok(
            "postal-authority",
            &["--db", "pa.db", "--key", "pa.key", "certify", "request.json"],
            "certificate.json",
        );
        world.meter_ok(&["install-certificate", "certificate.json"]);
        world.voucher("M-0001", "10", "voucher-1.json");
        world.meter_ok(&["refill", "--voucher", "voucher-1.json"]);
        std::fs::write(world.path("envelope.json"), ENVELOPE).unwrap();
        world
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, tool: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin(tool));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("SOFTHSM2_CONF", self.path("softhsm2.conf"))
            .env("ATOMIC_COMMERCE_NOW", crate::common::NOW);
        if tool == "meter" {
            cmd.args(["--device", "meter"]);
            if let Kind::Pkcs11 = self.kind {
                cmd.args(["--pin-file", "pin"]);
            }
        }
        cmd
    }

    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool, args).output().unwrap()
    }

    /// Runs a tool that must succeed and writes its stdout to `out`.
    pub fn ok(&self, tool: &str, args: &[&str], out: &str) {
        let o = self.run(tool, args);
        assert!(o.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        std::fs::write(self.path(out), o.stdout).unwrap();
    }

    pub fn meter_ok(&self, args: &[&str]) -> Vec<u8> {
        let o = self.run("meter", args);
        assert!(o.status.success(), "meter {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    }

    pub fn voucher(&self, meter: &str, amount: &str, out: &str) {
        self.ok(
            "postal-authority",
            &["--db", "pa.db", "--key", "pa.key", "voucher", "--meter", meter, "--amount", amount],
            out,
        );
    }

    pub fn status(&self) -> Value {
        serde_json::from_slice::<Value>(&self.meter_ok(&["status"])).unwrap()["body"].clone()
    }

    pub fn log(&self) -> Vec<LogEntry> {
        String::from_utf8(self.meter_ok(&["log"]))
            .unwrap()
            .lines()
            .map(|l| Plain::<LogEntry>::parse(l.as_bytes()).unwrap())
            .collect()
    }

    pub fn certificate(&self) -> MeterCertificate {
        Signed::<MeterCertificate>::parse(&std::fs::read(self.path("certificate.json")).unwrap())
            .unwrap()
            .unverified()
            .clone()
    }
}
