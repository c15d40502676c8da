//! Shared command-line plumbing and one module per tool.
//!
//! Each tool module exposes `command()` (its clap definition, from which help, man pages and
//! completions are generated) and `main()`, which the one-line binary in `src/bin/` calls.
//! Conventions shared by all tools: `-` is stdin or stdout; stdin may be read once; outputs
//! are written whole or not at all; `--now` replaces the clock; errors are one line, led by
//! the tool's name and the file concerned, with the exit statuses of [`crate::error`].

/// Defines a tool module's `command()` (its clap definition, from which help, man pages and
/// completions come) and `main()` (what its binary calls), given the tool's name and its run
/// function over the parsed `Args`.
macro_rules! entry_points {
    ($name:literal, $run:expr) => {
        /// The clap definition.
        pub fn command() -> clap::Command {
            $crate::cli::command_of::<Args>($name)
        }

        /// Runs the tool.
        pub fn main() -> std::process::ExitCode {
            $crate::cli::run(command(), $run)
        }
    };
}
pub(crate) use entry_points;

pub mod atomicity_lab;
pub mod cash_bank;
pub mod cash_merchant;
pub mod cash_spend;
pub mod cash_withdraw;
pub mod dispute_judge;
pub mod epo_countersign;
pub mod epo_sign;
pub mod goods_decrypt;
pub mod goods_encrypt;
pub mod indicia_render;
pub mod indicia_verify;
pub mod key_fetch;
pub mod keygen;
pub mod man;
pub mod merchant_offer;
pub mod merchant_record;
pub mod meter;
pub mod netbill_ledger;
pub mod netbill_settle;
pub mod postal_authority;

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, CommandFactory, FromArgMatches};

use crate::clock::Time;
use crate::crypto::keys::{Identity, PartyKeys};
use crate::doc::{Body, Signed};
use crate::error::{EXIT_STATUS_TABLE, Error, ErrorKind, Result, ResultExt};
use crate::fsio;

/// Every tool: its name and clap definition, for man pages and completions.
pub fn tools() -> Vec<clap::Command> {
    vec![
        keygen::command(),
        netbill_ledger::command(),
        merchant_offer::command(),
        goods_encrypt::command(),
        epo_sign::command(),
        epo_countersign::command(),
        netbill_settle::command(),
        merchant_record::command(),
        key_fetch::command(),
        goods_decrypt::command(),
        dispute_judge::command(),
        postal_authority::command(),
        meter::command(),
        indicia_render::command(),
        indicia_verify::command(),
        cash_bank::command(),
        cash_withdraw::command(),
        cash_spend::command(),
        cash_merchant::command(),
        atomicity_lab::command(),
    ]
}

/// The clock option every tool takes.
#[derive(Debug, Clone, Args)]
pub struct Clock {
    /// Use this time instead of the system clock (UTC, e.g. 2026-11-25T15:47:08Z), for
    /// reproducible scripts and tests
    #[arg(long, value_name = "TIME", env = "ATOMIC_COMMERCE_NOW", global = true, value_parser = parse_time)]
    pub now: Option<Time>,
}

impl Clock {
    /// The time to use.
    pub fn now(&self) -> Time {
        self.now.unwrap_or_else(Time::now)
    }
}

fn parse_time(s: &str) -> std::result::Result<Time, String> {
    s.parse().map_err(|e: Error| e.message().to_string())
}

/// A clap value parser for amounts.
pub fn parse_amount(s: &str) -> std::result::Result<crate::money::Amount, String> {
    s.parse().map_err(|e: Error| e.message().to_string())
}

/// A clap value parser for durations.
pub fn parse_duration(s: &str) -> std::result::Result<jiff::SignedDuration, String> {
    crate::clock::parse_duration(s).map_err(|e| e.message().to_string())
}

/// Finishes a tool's clap definition: the exit-status table goes into `--help`.
pub fn finish(cmd: clap::Command) -> clap::Command {
    cmd.after_long_help(EXIT_STATUS_TABLE).version(env!("CARGO_PKG_VERSION"))
}

/// Parses arguments, runs the tool, prints an error as one line, and turns the outcome into
/// the exit status. A closed stdout (broken pipe) ends the tool quietly.
pub fn run<A: FromArgMatches>(cmd: clap::Command, tool: impl FnOnce(A) -> Result<ExitCode>) -> ExitCode {
    let name = cmd.get_name().to_string();
    let args = match cmd.try_get_matches().and_then(|m| A::from_arg_matches(&m)) {
        Ok(args) => args,
        Err(e) if e.use_stderr() => {
            eprintln!("{name}: {}", usage_line(&e));
            return ExitCode::from(ErrorKind::Usage.exit_code());
        }
        Err(e) => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
    };
    match tool(args) {
        Ok(code) => code,
        Err(e) if e.kind() == ErrorKind::Io && e.message() == BROKEN_PIPE => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}

/// A command-line error of clap's in one line: its message without the "error: " prefix, the
/// usage block and the pointer to `--help`, which it ends with instead.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let message = text.split("\n\n").next().unwrap_or(text);
    let words: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    format!("{} (see --help)", words.join(" "))
}

/// The clap command of an `Args`/`Parser` type, named and finished.
pub fn command_of<A: CommandFactory>(name: &'static str) -> clap::Command {
    finish(A::command().name(name).bin_name(name))
}

const BROKEN_PIPE: &str = "broken pipe";
static STDIN_USED: AtomicBool = AtomicBool::new(false);

/// Whether `path` names stdin or stdout (`-`).
pub fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How a path is named in messages.
pub fn display(path: &Path) -> String {
    if is_std(path) { "stdin".to_string() } else { path.display().to_string() }
}

/// Reads a whole document, `-` meaning stdin (which may be read only once); anything longer
/// than [`crate::doc::MAX_DOCUMENT`] is refused before it is read. Goods and ciphertexts, of any
/// size, are streamed instead ([`open_input`]).
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let limit = crate::doc::MAX_DOCUMENT;
    let place = display(path);
    // Read, never trust the size: pipes and devices have none.
    let reader: Box<dyn Read> = match is_std(path) {
        true => Box::new(take_stdin()?),
        false => Box::new(std::fs::File::open(path).map_err(|e| Error::io(&e).at(&place))?),
    };
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes).map_err(|e| Error::io(&e).at(&place))?;
    if bytes.len() as u64 > limit {
        return Err(Error::malformed(format!("longer than {} MiB: not a document", limit >> 20)).at(place));
    }
    Ok(bytes)
}

/// Opens an input for streaming, `-` meaning stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    if is_std(path) {
        return Ok(Box::new(take_stdin()?));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(&e).at(path.display()))?;
    Ok(Box::new(file))
}

fn take_stdin() -> Result<std::io::Stdin> {
    if STDIN_USED.swap(true, Ordering::SeqCst) {
        return Err(Error::usage("standard input (-) can be read only once"));
    }
    Ok(std::io::stdin())
}

/// Reads and parses a signed document of type `B`.
pub fn read_signed<B: Body>(path: &Path) -> Result<Signed<B>> {
    Signed::parse(&read_input(path)?).at(display(path))
}

/// Reads a party's public identity document.
pub fn read_identity(path: &Path) -> Result<Identity> {
    Identity::parse(&read_input(path)?).at(display(path))
}

/// Reads the secret-key file an optional `--key` names; `hint` says how to give one.
pub fn read_given_keys(path: Option<&Path>, hint: &str) -> Result<PartyKeys> {
    read_keys(path.ok_or_else(|| Error::usage(format!("no key given: {hint}")))?)
}

/// Names the input file on an error that names no place.
pub fn in_input(e: Error, input: &Path) -> Error {
    in_files(e, &[("input", input)])
}

/// Reads a secret-key file, refusing one that others may read.
pub fn read_keys(path: &Path) -> Result<PartyKeys> {
    PartyKeys::parse(&fsio::read_secret(path)?).at(path.display())
}

/// Creates the store of a party whose secret key lives at `key`: an existing key file is
/// adopted, otherwise a fresh key named `name` is made. `create` makes the store (and fails if
/// it exists); the new key file is written only after it, and if that fails the store is
/// removed, so neither outlives the other. Returns what `create` returns.
pub fn create_with_key<T>(
    key: &Path,
    name: &str,
    store: &Path,
    create: impl FnOnce(&PartyKeys) -> Result<T>,
) -> Result<T> {
    let (keys, created) = if key.exists() { (read_keys(key)?, false) } else { (PartyKeys::generate(name)?, true) };
    let made = create(&keys)?;
    if created && let Err(e) = fsio::write_secret(key, keys.to_file().as_bytes()) {
        let _ = std::fs::remove_file(store);
        return Err(e);
    }
    Ok(made)
}

/// Writes an output: to stdout when `path` is `None` or `-`, else atomically to the file.
pub fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        Some(p) if !is_std(p) => fsio::write_atomic(p, bytes),
        _ => write_stdout(bytes),
    }
}

/// A progress bar over `total` bytes on stderr, when stderr is a terminal (nothing otherwise).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A bar for `what` over `total` bytes.
    pub fn bytes(total: u64, what: &str) -> Progress {
        use std::io::IsTerminal;
        Progress(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(&format!(
                "{what} {{bar:40}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}} left)"
            ))
            .expect("a template");
            bar.set_style(style);
            bar
        }))
    }

    /// Counts `n` more bytes done.
    pub fn add(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Opens a file to read twice or more (goods), and its size.
pub fn sized_file(path: &Path) -> Result<u64> {
    if is_std(path) {
        return Err(Error::usage("the goods must be a file (they are read twice), not stdin"));
    }
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| Error::io(&e).at(path.display()))
}

/// Opens a file for buffered reading.
pub fn buffered(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(&e).at(path.display()))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file))
}

/// Writes to stdout and flushes (so a receipt printed is a receipt delivered).
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::new(ErrorKind::Io, BROKEN_PIPE)
        } else {
            Error::io(&e).at("stdout")
        }
    })
}

/// Refuses an output path that is also an input (it would be destroyed before being read).
pub fn ensure_distinct(input: &Path, output: Option<&Path>) -> Result<()> {
    let Some(output) = output.filter(|o| !is_std(o)) else {
        return Ok(());
    };
    let same = match (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::usage(format!("{} is both an input and the output", output.display())));
    }
    Ok(())
}

/// Names the files behind the roles protocol code uses as error places (`"offer"`,
/// `"ciphertext"`, …); an error without a place is attributed to the first file.
pub fn in_files(err: Error, roles: &[(&str, &Path)]) -> Error {
    roles.iter().enumerate().fold(err, |e, (i, (role, path))| e.name_file(role, display(path), i == 0))
}
