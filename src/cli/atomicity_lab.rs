//! `atomicity-lab`: the paper's atomicity table, measured.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli;
use crate::doc::Plain;
use crate::error::Result;
use crate::lab::{self, Trace};

/// Measure money atomicity, goods atomicity and certified delivery of each protocol of the
/// paper under faults, instead of arguing them.
///
/// Every protocol runs through the same library code as the tools, with in-process message
/// passing. `table` runs each protocol without faults, then under every single fault at every
/// message boundary (lost, duplicated, reordered, delayed past the time-outs, the receiver
/// crashing and restarting from its durable state) and every misbehaviour the paper imagines;
/// `--faults 2` adds every pair. After each run every party follows its documented recovery,
/// then the run is checked. The table gives, per protocol and property, holds or fails with
/// the run counts, and for each failure the shortest trace that breaks it; `replay TRACE` runs
/// that trace again and prints what happened at each step. First Virtual, SSL and SET are
/// small models of the paper's descriptions, and say so.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Run the fault matrix and print the table (text, or JSON with --json)
    Table {
        /// At most this many faults per run (1: every single fault; 2: every pair too)
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
        faults: u8,
        /// Only these protocols (by name; see `list`)
        #[arg(long, value_delimiter = ',')]
        protocol: Vec<String>,
        /// Print the table as a JSON document
        #[arg(long)]
        json: bool,
        /// Worker threads (default: the machine's cores)
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Run one trace (`protocol:fault+fault`, as the table prints it) and print each step
    Replay {
        /// The trace
        trace: String,
    },
    /// List the protocols, their message boundaries and misbehaviours
    List,
}

crate::cli::entry_points!("atomicity-lab", |a: Args| run(a));

fn run(a: Args) -> Result<ExitCode> {
    let print = |s: String| cli::write_stdout(s.as_bytes());
    match a.action {
        Action::Table { faults, protocol, json, threads } => {
            let chosen = if protocol.is_empty() {
                lab::protocols()
            } else {
                protocol.iter().map(|p| lab::protocol(p)).collect::<Result<Vec<_>>>()?
            };
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let started = std::time::Instant::now();
            let table = lab::explore(&chosen, usize::from(faults), threads)?;
            let runs: usize = table.rows.iter().map(|r| r.runs).sum();
            eprintln!("atomicity-lab: {runs} runs in {:.1} s on {threads} thread(s)", started.elapsed().as_secs_f64());
            print(if json { Plain(table).to_json_pretty() } else { table.to_text() })?;
        }
        Action::Replay { trace } => {
            let trace = Trace::parse(&trace)?;
            let (outcome, log) = lab::replay(&trace)?;
            let show = |p: Option<bool>| match p {
                Some(true) => "holds",
                Some(false) => "fails",
                None => "n/a",
            };
            let mut out = format!("trace {trace}\n");
            for line in log {
                out.push_str(&format!("  {line}\n"));
            }
            out.push_str(&format!(
                "money atomicity: {}\ngoods atomicity: {}\ncertified delivery: {}\n",
                show(outcome.money),
                show(outcome.goods),
                show(outcome.certified)
            ));
            print(out)?;
        }
        Action::List => {
            let mut out = String::new();
            for p in lab::protocols() {
                out.push_str(&format!("{} ({})\n", p.name(), p.label()));
                for (i, s) in p.steps().iter().enumerate() {
                    out.push_str(&format!("  {i} {s}\n"));
                }
                if !p.misbehaviours().is_empty() {
                    out.push_str(&format!("  misbehaviours: {}\n", p.misbehaviours().join(", ")));
                }
            }
            print(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
