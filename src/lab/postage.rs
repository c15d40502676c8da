//! Postage in the lab: a meter on the emulated coprocessor prints an indicium for an envelope,
//! the mailer mails it, the sorting station checks it and its sequence number.
//!
//! Recovery: the mailer has the meter re-issue every indicium it debited that he does not hold
//! (`reprint`, byte for byte, no second debit); a piece lost in the mail is mailed again with
//! the same indicium. Money atomicity: the registers balance and no more pieces are accepted
//! than were paid for; goods atomicity: every debit is an indicium in the mailer's hands, and
//! the piece he mails is accepted exactly once.

use crate::clock::{Day, Time};
use crate::crypto::keys::PartyKeys;
use crate::doc::Signed;
use crate::error::Result;
use crate::lab::scratch;
use crate::lab::{Outcome, Protocol, Run};
use crate::money::Amount;
use crate::postage::authority::{AuthorityBook, MeterCertificate};
use crate::postage::coprocessor::DeviceChoice;
use crate::postage::indicium::{Envelope, Indicium};
use crate::postage::meter::Meter;
use crate::postage::station::{self, Registry, SeenDb};

/// Postage: meter → indicium → sorting station.
pub struct Postage;

impl Protocol for Postage {
    fn name(&self) -> &'static str {
        "postage"
    }
    fn label(&self) -> &'static str {
        "Postage indicia"
    }
    fn steps(&self) -> &'static [&'static str] {
        &["envelope-to-meter", "indicium-to-mailer", "mailpiece-to-station"]
    }
    fn misbehaviours(&self) -> &'static [&'static str] {
        &["mailer-replays-indicium"]
    }
    fn start(&self, misbehaviour: Option<&'static str>) -> Result<Box<dyn Run>> {
        Ok(Box::new(PostageRun::new(misbehaviour.is_some())?))
    }
}

const ADDRESS: &str = "1600 Pennsylvania Ave NW\nWashington DC";

struct PostageRun {
    dir: tempfile::TempDir,
    now: Time,
    replay: bool,
    registry: Registry,
    envelope: Envelope,
    printed: Vec<Signed<Indicium>>,
    held: Vec<Signed<Indicium>>,
    accepted: u64,
}

impl PostageRun {
    fn new(replay: bool) -> Result<PostageRun> {
        let dir = scratch()?;
        let now: Time = "2026-11-25T12:00:00Z".parse()?;
        let today = Day::of(now);
        let authority = PartyKeys::generate("post")?;
        let book_path = dir.path().join("authority.db");
        AuthorityBook::create(&book_path, &authority.identity_document())?;
        let mut book = AuthorityBook::open(&book_path)?;
        let (mut meter, request) = Meter::create(
            &dir.path().join("meter"),
            DeviceChoice::Emulated,
            None,
            "M-1",
            "15213",
            authority.identity(),
            now,
        )?;
        let valid_until = Day::of(now.plus(jiff::SignedDuration::from_hours(24 * 400))?);
        let certificate: Signed<MeterCertificate> = book.certify(&request, &authority, today, valid_until)?;
        meter.install_certificate(&certificate)?;
        meter.refill(&book.voucher("M-1", "10".parse()?, &authority, now)?)?;
        let registry = Registry::new(&authority.identity(), &[certificate])?;
        let envelope = Envelope {
            sender: None,
            recipient: ADDRESS.into(),
            destination_postal_code: "20500".into(),
            postage: "0.5".parse()?,
            date: today,
            rate_category: "letter".into(),
        };
        Ok(PostageRun { dir, now, replay, registry, envelope, printed: Vec::new(), held: Vec::new(), accepted: 0 })
    }

    fn meter(&self) -> Option<Meter> {
        Meter::open(&self.dir.path().join("meter"), None, self.now).ok()
    }

    /// The sorting station: every check, then the sequence number's uniqueness.
    fn sort(&mut self, indicium: &Signed<Indicium>) {
        if station::check(indicium, ADDRESS, &self.registry, Day::of(self.now)).is_err() {
            return;
        }
        let Ok(mut seen) = SeenDb::open(&self.dir.path().join("station.db")) else { return };
        if let Ok(None) = seen.sight(indicium.unverified(), "piece", self.now) {
            self.accepted += 1;
        }
    }
}

impl Run for PostageRun {
    fn send(&mut self, step: usize) -> Option<Vec<u8>> {
        match step {
            0 => serde_json::to_vec(&self.envelope).ok(),
            1 => (!self.printed.is_empty())
                .then(|| self.printed.iter().map(|i| i.to_json_line()).collect::<String>().into_bytes()),
            _ => self.held.first().map(|i| i.to_json_line().into_bytes()),
        }
    }

    fn deliver(&mut self, step: usize, message: &[u8]) {
        match step {
            0 => {
                if let Ok(envelope) = serde_json::from_slice::<Envelope>(message)
                    && let Some(indicium) = self.meter().and_then(|mut m| m.print(&envelope, self.now).ok())
                {
                    self.printed.push(indicium);
                }
            }
            1 => {
                for raw in crate::doc::stream(message).flatten() {
                    if let Ok(indicium) = Signed::<Indicium>::parse(raw.get().as_bytes())
                        && !self.held.contains(&indicium)
                    {
                        self.held.push(indicium);
                    }
                }
            }
            _ => {
                if let Ok(indicium) = Signed::<Indicium>::parse(message) {
                    self.sort(&indicium);
                }
            }
        }
    }

    fn crash(&mut self, step: usize) {
        if step == 0 {
            self.printed.clear(); // the meter printed, then crashed before the indicium came out
        }
    }

    fn pass_timeouts(&mut self) {
        self.now = self.now.plus(jiff::SignedDuration::from_hours(24)).expect("in range");
    }

    fn recover(&mut self) -> Vec<String> {
        let mut did = Vec::new();
        // The mailer compares the meter's piece count with the indicia he holds, and has the
        // meter re-issue each one paid for that never came out.
        let Some(mut meter) = self.meter() else { return did };
        if meter.status().sequence == 0
            && let Ok(indicium) = meter.print(&self.envelope, self.now)
        {
            self.held.push(indicium); // his print command never reached the meter: print now
            did.push("nothing was printed: the mailer prints now".into());
        }
        for sequence in 1..=meter.status().sequence {
            if !self.held.iter().any(|i| i.unverified().sequence == sequence)
                && let Ok(indicium) = meter.reprint(Some(sequence))
            {
                self.held.push(indicium);
                did.push(format!("the meter re-issues indicium {sequence}"));
            }
        }
        drop(meter);
        if let Some(indicium) = self.held.first().cloned() {
            if self.accepted == 0 {
                self.sort(&indicium); // mailed again: the first piece never arrived
                did.push(format!("the piece is mailed again: accepted {}", self.accepted));
            }
            if self.replay {
                self.sort(&indicium);
                did.push(format!("the mailer replays the indicium: accepted in all {}", self.accepted));
            }
        }
        did
    }

    fn outcome(&mut self) -> Outcome {
        let Some(meter) = self.meter() else {
            return Outcome { money: Some(false), notes: vec!["the meter does not open".into()], ..Outcome::default() };
        };
        let s = meter.status();
        let postage = self.envelope.postage;
        let debited = Amount::from_micros(postage.micros() * s.sequence).expect("small");
        let balanced = s.descending.checked_add(s.ascending).ok() == Some(s.control_total) && s.ascending == debited;
        let notes = vec![format!(
            "ascending {}, descending {}, indicia printed {}, held by the mailer {}, accepted at sorting {}",
            s.ascending,
            s.descending,
            s.sequence,
            self.held.len(),
            self.accepted
        )];
        // Every debit is one indicium in the mailer's hands; the one piece mailed is accepted once.
        let held = self.held.len() as u64;
        Outcome {
            money: Some(balanced && self.accepted <= s.sequence),
            goods: Some(held == s.sequence && self.accepted == 1),
            certified: None,
            notes,
        }
    }
}
