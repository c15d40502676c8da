//! `keygen`: make a party's keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{self, Clock};
use crate::crypto::keys::PartyKeys;
use crate::error::Result;
use crate::fsio;

/// Make a party's keys: Ed25519 for signing, X25519 for receiving sealed secrets.
///
/// The secret-key file is created with mode 0600 and never overwritten. The public identity
/// document (name, both public keys, key id; self-signed) goes to stdout, to be given to
/// the other parties.
#[derive(Debug, Parser)]
pub struct Args {
    /// The party's name (letters, digits, '.', '_', '-')
    #[arg(long)]
    name: String,
    /// Secret-key file to create
    #[arg(long, value_name = "FILE")]
    secret_key: PathBuf,
    /// Write the identity document here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    clock: Clock,
}

crate::cli::entry_points!("keygen", |a: Args| run(&a));

fn run(a: &Args) -> Result<ExitCode> {
    let keys = PartyKeys::generate(&a.name)?;
    fsio::write_secret(&a.secret_key, keys.to_file().as_bytes())?;
    cli::write_output(a.output.as_deref(), keys.identity_document().to_json_pretty().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
