//! The atomicity lab: the paper's table measured, not argued.
//!
//! Each protocol is run message by message through in-process message passing, with the same
//! library functions the tools call. A run injects faults at message boundaries (a message
//! lost, duplicated, reordered, delayed past the time-outs, its receiver crashing after
//! handling it) and at most one misbehaviour of a party as the paper imagines it; then every
//! party follows its documented recovery procedure, and the run is checked for money
//! atomicity, goods atomicity and certified delivery. [`explore`] runs every single fault
//! (or every pair) of every protocol and keeps, per property that fails, the shortest trace
//! that breaks it; a trace replays deterministically ([`replay`]).

pub mod cash;
pub mod models;
pub mod netbill;
pub mod postage;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What can happen to the message at one boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// Never arrives.
    Lose,
    /// Arrives twice.
    Duplicate,
    /// Arrives after the next message.
    Reorder,
    /// Arrives after every time-out has passed.
    Delay,
    /// Arrives, and its receiver crashes right after handling it, restarting from its
    /// durable state (anything it had yet to send is lost).
    Crash,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 5] =
        [FaultKind::Lose, FaultKind::Duplicate, FaultKind::Reorder, FaultKind::Delay, FaultKind::Crash];

    fn name(self) -> &'static str {
        match self {
            FaultKind::Lose => "lose",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Delay => "delay",
            FaultKind::Crash => "crash",
        }
    }
}

/// One fault of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// A network or crash fault at a message boundary (0-based step).
    At(FaultKind, usize),
    /// A party misbehaving, by name (see [`Protocol::misbehaviours`]).
    Misbehave(&'static str),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::At(kind, step) => write!(f, "{}@{step}", kind.name()),
            Fault::Misbehave(name) => f.write_str(name),
        }
    }
}

/// What one run establishes. A property is `None` where the run gives nothing to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// No money created or destroyed, over every account, coin, voucher and register.
    pub money: Option<bool>,
    /// Goods if and only if payment (or, failing that, a ruling that makes it good).
    pub goods: Option<bool>,
    /// The judge rules correctly on what was delivered.
    pub certified: Option<bool>,
    /// What the checks found, for the trace.
    pub notes: Vec<String>,
}

/// One run of a protocol, driven step by step.
pub trait Run {
    /// The sender of message `step` produces it now; `None` if it has nothing to send (it
    /// never received what it needed, or lost it in a crash).
    fn send(&mut self, step: usize) -> Option<Vec<u8>>;
    /// The receiver of message `step` handles it (a refusal is its business, not an error).
    fn deliver(&mut self, step: usize, message: &[u8]);
    /// The receiver of message `step` crashes and restarts from its durable state.
    fn crash(&mut self, step: usize);
    /// The clock moves past every time-out and deadline of the protocol.
    fn pass_timeouts(&mut self);
    /// Every party follows its documented recovery procedure; returns what each did.
    fn recover(&mut self) -> Vec<String>;
    /// The properties, checked once everything has settled.
    fn outcome(&mut self) -> Outcome;
}

/// A protocol the lab can run.
pub trait Protocol: Sync {
    /// Short name, used in traces (`netbill`).
    fn name(&self) -> &'static str;
    /// The name in the table; models say so.
    fn label(&self) -> &'static str;
    /// The messages, in order: one boundary each.
    fn steps(&self) -> &'static [&'static str];
    /// The misbehaviours the paper imagines for this protocol.
    fn misbehaviours(&self) -> &'static [&'static str];
    /// A fresh run, with the misbehaving party (if any) behaving so.
    fn start(&self, misbehaviour: Option<&'static str>) -> Result<Box<dyn Run>>;
}

/// A run's scratch directory, in memory when the machine has /dev/shm.
pub(crate) fn scratch() -> Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    dir.map_err(|e| Error::io(&e))
}

/// Every protocol of the table, in the paper's order.
pub fn protocols() -> Vec<Box<dyn Protocol>> {
    vec![
        Box::new(models::FirstVirtual),
        Box::new(models::Ssl),
        Box::new(models::Set),
        Box::new(cash::DigiCash { policy: cash::Policy::Return }),
        Box::new(cash::DigiCash { policy: cash::Policy::Keep }),
        Box::new(cash::DigiCash { policy: cash::Policy::Recover }),
        Box::new(postage::Postage),
        Box::new(netbill::NetBill { purchases: 1 }),
        Box::new(netbill::NetBill { purchases: 2 }),
    ]
}

/// A protocol by name.
pub fn protocol(name: &str) -> Result<Box<dyn Protocol>> {
    protocols().into_iter().find(|p| p.name() == name).ok_or_else(|| {
        let names: Vec<&str> = protocols().iter().map(|p| p.name()).collect();
        Error::usage(format!("no protocol {name:?} (known: {})", names.join(", ")))
    })
}

/// A run's faults and where it ran, written `protocol:fault+fault` (`netbill:lose@4`,
/// `netbill:` for none); parsing it back replays the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The protocol's name.
    pub protocol: &'static str,
    /// The faults, in step order (a misbehaviour last).
    pub faults: Vec<Fault>,
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<String> = self.faults.iter().map(Fault::to_string).collect();
        write!(f, "{}:{}", self.protocol, faults.join("+"))
    }
}

impl Trace {
    /// Parses `protocol:fault+fault`.
    pub fn parse(text: &str) -> Result<Trace> {
        let bad = |why: String| Error::usage(format!("trace {text:?}: {why}"));
        let (name, faults) = text.split_once(':').ok_or_else(|| bad("expected PROTOCOL:FAULT+FAULT".into()))?;
        let p = protocol(name)?;
        let mut out = Vec::new();
        for f in faults.split('+').filter(|f| !f.is_empty()) {
            let fault = match f.split_once('@') {
                Some((kind, step)) => {
                    let kind = FaultKind::ALL
                        .into_iter()
                        .find(|k| k.name() == kind)
                        .ok_or_else(|| bad(format!("no fault kind {kind:?}")))?;
                    let step: usize = step.parse().map_err(|_| bad(format!("step {step:?} is not a number")))?;
                    if step >= p.steps().len() {
                        return Err(bad(format!("{} has steps 0 to {}", p.name(), p.steps().len() - 1)));
                    }
                    Fault::At(kind, step)
                }
                None => Fault::Misbehave(
                    p.misbehaviours()
                        .iter()
                        .find(|m| **m == f)
                        .ok_or_else(|| bad(format!("{} has no misbehaviour {f:?}", p.name())))?,
                ),
            };
            out.push(fault);
        }
        let trace = Trace { protocol: p.name(), faults: out };
        if trace.to_string() != text || fault_sets(p.as_ref(), trace.faults.len()).iter().all(|s| *s != trace.faults) {
            return Err(bad(
                "not a trace the lab runs: faults in step order, at most one per step, a misbehaviour last".into(),
            ));
        }
        Ok(trace)
    }
}

/// Runs `protocol` under `faults`; returns the outcome and the log of what happened.
pub fn run(protocol: &dyn Protocol, faults: &[Fault]) -> Result<(Outcome, Vec<String>)> {
    let misbehaviour = faults.iter().find_map(|f| match f {
        Fault::Misbehave(m) => Some(*m),
        Fault::At(..) => None,
    });
    let at = |step: usize| {
        faults.iter().find_map(|f| match f {
            Fault::At(kind, s) if *s == step => Some(*kind),
            _ => None,
        })
    };
    let steps = protocol.steps();
    let mut r = protocol.start(misbehaviour)?;
    let mut log = Vec::new();
    if let Some(m) = misbehaviour {
        log.push(format!("misbehaviour: {m}"));
    }
    let mut held: Option<(usize, Vec<u8>)> = None;
    for step in 0..steps.len() {
        let name = steps[step];
        let Some(message) = r.send(step) else {
            log.push(format!("{step} {name}: nothing to send"));
            if let Some((s, m)) = held.take() {
                log.push(format!("{s} {}: arrives late", steps[s]));
                r.deliver(s, &m);
                if let Some(message) = r.send(step) {
                    log.push(format!("{step} {name}: sent after all"));
                    r.deliver(step, &message);
                }
            }
            continue;
        };
        match at(step) {
            None => r.deliver(step, &message),
            Some(FaultKind::Lose) => log.push(format!("{step} {name}: lost")),
            Some(FaultKind::Duplicate) => {
                log.push(format!("{step} {name}: delivered twice"));
                r.deliver(step, &message);
                r.deliver(step, &message);
            }
            Some(FaultKind::Reorder) => {
                log.push(format!("{step} {name}: held back"));
                held = Some((step, message));
                continue;
            }
            Some(FaultKind::Delay) => {
                log.push(format!("{step} {name}: delayed past the time-outs"));
                r.pass_timeouts();
                r.deliver(step, &message);
            }
            Some(FaultKind::Crash) => {
                log.push(format!("{step} {name}: receiver crashes after handling it"));
                r.deliver(step, &message);
                r.crash(step);
            }
        }
        if let Some((s, m)) = held.take() {
            log.push(format!("{s} {}: arrives after {step} {name}", steps[s]));
            r.deliver(s, &m);
        }
    }
    if let Some((s, m)) = held.take() {
        log.push(format!("{s} {}: arrives last", steps[s]));
        r.deliver(s, &m);
    }
    r.pass_timeouts();
    log.extend(r.recover().into_iter().map(|line| format!("recovery: {line}")));
    let outcome = r.outcome();
    log.extend(outcome.notes.iter().cloned());
    Ok((outcome, log))
}

/// Every run of `protocol` with at most `max_faults` faults (at most one misbehaviour, one
/// fault per boundary), the fault-free run first, then by number of faults.
pub fn fault_sets(protocol: &dyn Protocol, max_faults: usize) -> Vec<Vec<Fault>> {
    let mut singles: Vec<Fault> = Vec::new();
    for step in 0..protocol.steps().len() {
        singles.extend(FaultKind::ALL.iter().map(|k| Fault::At(*k, step)));
    }
    singles.extend(protocol.misbehaviours().iter().map(|m| Fault::Misbehave(m)));
    let mut sets = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..max_faults {
        let mut next = Vec::new();
        for set in &frontier {
            let start = set.last().map(|last| singles.iter().position(|f| f == last).expect("known") + 1).unwrap_or(0);
            for fault in &singles[start..] {
                let clash = set.iter().any(|f| match (f, fault) {
                    (Fault::At(_, a), Fault::At(_, b)) => a == b,
                    (Fault::Misbehave(_), Fault::Misbehave(_)) => true,
                    _ => false,
                });
                if !clash {
                    let mut s = set.clone();
                    s.push(fault.clone());
                    next.push(s);
                }
            }
        }
        sets.extend(next.iter().cloned());
        frontier = next;
    }
    sets
}

/// One property's measurement for one protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Runs in which the property was checked.
    pub checked: usize,
    /// Runs in which it failed.
    pub failed: usize,
    /// The shortest trace that breaks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<String>,
}

impl Cell {
    fn add(&mut self, holds: Option<bool>, trace: &Trace) {
        let Some(holds) = holds else { return };
        self.checked += 1;
        if !holds {
            self.failed += 1;
            if self.counterexample.is_none() {
                self.counterexample = Some(trace.to_string());
            }
        }
    }

    /// `holds`, `fails` or `n/a`.
    pub fn verdict(&self) -> &'static str {
        match (self.checked, self.failed) {
            (0, _) => "n/a",
            (_, 0) => "holds",
            _ => "fails",
        }
    }
}

/// One protocol's row of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The protocol's name.
    pub protocol: String,
    /// Its label in the table.
    pub label: String,
    /// Runs made.
    pub runs: usize,
    /// Money atomicity.
    pub money: Cell,
    /// Goods atomicity.
    pub goods: Cell,
    /// Certified delivery.
    pub certified: Cell,
}

/// `lab.table`: the paper's table, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// At most this many faults per run.
    pub faults: usize,
    /// One row per protocol.
    pub rows: Vec<Row>,
}

impl crate::doc::Body for Table {
    const TYPE: &'static str = "lab.table";
}

/// Runs every fault set of every protocol in `protocols` on `threads` threads, and tabulates.
pub fn explore(protocols: &[Box<dyn Protocol>], max_faults: usize, threads: usize) -> Result<Table> {
    let jobs: Vec<(usize, Vec<Fault>)> = protocols
        .iter()
        .enumerate()
        .flat_map(|(i, p)| fault_sets(p.as_ref(), max_faults).into_iter().map(move |f| (i, f)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Outcome>>>> = Mutex::new(vec![None; jobs.len()].into_iter().collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some((p, faults)) = jobs.get(j) else { break };
                    let outcome = run(protocols[*p].as_ref(), faults).map(|(o, _)| o);
                    results.lock().expect("no worker panics holding it")[j] = Some(outcome);
                }
            });
        }
    });
    let results = results.into_inner().expect("no worker panicked");
    let mut rows: Vec<Row> = protocols
        .iter()
        .map(|p| Row {
            protocol: p.name().into(),
            label: p.label().into(),
            runs: 0,
            money: Cell::default(),
            goods: Cell::default(),
            certified: Cell::default(),
        })
        .collect();
    for ((p, faults), outcome) in jobs.iter().zip(results) {
        let outcome = outcome.expect("every job ran")?;
        let trace = Trace { protocol: protocols[*p].name(), faults: faults.clone() };
        let row = &mut rows[*p];
        row.runs += 1;
        row.money.add(outcome.money, &trace);
        row.goods.add(outcome.goods, &trace);
        row.certified.add(outcome.certified, &trace);
    }
    Ok(Table { faults: max_faults, rows })
}

/// Replays a trace: its outcome and log.
pub fn replay(trace: &Trace) -> Result<(Outcome, Vec<String>)> {
    run(protocol(trace.protocol)?.as_ref(), &trace.faults)
}

impl Table {
    /// The table as text: one row per protocol, one column per property, then the
    /// counterexamples.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:<40} {:>5}  {:<17} {:<17} {:<17}\n",
            format!("protocol (≤ {} fault{} per run)", self.faults, if self.faults == 1 { "" } else { "s" }),
            "runs",
            "money atomicity",
            "goods atomicity",
            "certified delivery"
        );
        let cell = |c: &Cell| match c.verdict() {
            "n/a" => "n/a".to_string(),
            "holds" => format!("holds ({} runs)", c.checked),
            v => format!("{v} ({} of {})", c.failed, c.checked),
        };
        for r in &self.rows {
            out.push_str(&format!(
                "{:<40} {:>5}  {:<17} {:<17} {:<17}\n",
                r.label,
                r.runs,
                cell(&r.money),
                cell(&r.goods),
                cell(&r.certified)
            ));
        }
        out.push_str("\nshortest counterexamples (replay with `atomicity-lab replay TRACE`):\n");
        for r in &self.rows {
            for (property, c) in [("money", &r.money), ("goods", &r.goods), ("certified", &r.certified)] {
                if let Some(t) = &c.counterexample {
                    out.push_str(&format!("  {:<40} {property:<10} {t}\n", r.label));
                }
            }
        }
        out
    }
}
