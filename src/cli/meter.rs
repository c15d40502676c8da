//! `meter`: a postage meter on a secure coprocessor.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::{self, Clock};
use crate::doc::Plain;
use crate::error::{Error, Result, ResultExt};
use crate::postage::coprocessor::DeviceChoice;
use crate::postage::coprocessor::pkcs11::Pkcs11Uri;
use crate::postage::indicium::Envelope;
use crate::postage::meter::{Meter, Pin};

/// A postage meter: registers and a signing key on a secure coprocessor.
///
/// The coprocessor is chosen at `init`: `emulated` (keys in a 0600 file in the meter's
/// directory) or a PKCS#11 token by RFC 7512 URI (`pkcs11:token=meter;object=M-0001`), whose
/// keys are generated on the token and never leave it. The registers (descending, ascending,
/// control total, piece count) live in the meter's directory, sealed with a key inside the
/// coprocessor and updated crash-safely; any tampering detected zeroizes the keys and the meter
/// refuses all further work. The token PIN comes from --pin-file, the URI's pin-source, or the
/// METER_PIN environment variable, never from the command line.
#[derive(Debug, Parser)]
pub struct Args {
    /// The meter's directory
    #[arg(long, value_name = "DIR", env = "METER_DEVICE", global = true)]
    device: Option<PathBuf>,
    /// File holding the PKCS#11 token's user PIN
    #[arg(long, value_name = "FILE", global = true)]
    pin_file: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    clock: Clock,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create the meter: keys made inside the coprocessor; prints a certificate request
    Init {
        /// The meter's identifier
        #[arg(long)]
        meter_id: String,
        /// The postal code the meter mails from
        #[arg(long, value_name = "CODE")]
        origin: String,
        /// The postal authority's identity document (its certificates and vouchers are trusted)
        #[arg(long, value_name = "FILE")]
        authority: PathBuf,
        /// `emulated`, or a pkcs11: URI naming the token and the key object
        #[arg(long, default_value = "emulated")]
        coprocessor: DeviceChoice,
    },
    /// Install the authority's certificate for the meter's key
    InstallCertificate {
        /// The certificate
        #[arg(value_name = "FILE", default_value = "-")]
        certificate: PathBuf,
    },
    /// Add the postage of an authority's voucher (once, on this meter only)
    Refill {
        /// The voucher
        #[arg(long, value_name = "FILE")]
        voucher: PathBuf,
    },
    /// Debit the postage and print the signed indicium, for each envelope read (one JSON
    /// document or an NDJSON stream): one indicium line per envelope, each released only after
    /// its debit committed. A refused envelope stops the stream (exit 1) and changes nothing.
    Print {
        /// Envelopes: recipient, destination_postal_code, postage, date, rate_category
        #[arg(value_name = "ENVELOPES", default_value = "-")]
        envelopes: PathBuf,
    },
    /// Re-issue an indicium already paid for (the last one by default), byte for byte
    Reprint {
        /// Its sequence number
        #[arg(long)]
        sequence: Option<u64>,
    },
    /// Print the registers (JSON)
    Status,
    /// Print the log: every indicium, refill and certificate (NDJSON)
    Log,
    /// The cover switch: declare the device opened; it zeroizes its keys
    OpenCover,
}

crate::cli::entry_points!("meter", |a: Args| run(a));

fn pin(args_pin_file: Option<&std::path::Path>, choice: Option<&DeviceChoice>) -> Result<Option<Pin>> {
    let uri_source = match choice {
        Some(DeviceChoice::Pkcs11 { uri }) => Pkcs11Uri::parse(uri)?.pin_source,
        _ => None,
    };
    let from_file = |path: &std::path::Path| -> Result<Pin> {
        let text = crate::fsio::read_secret(path)?;
        let text =
            std::str::from_utf8(&text).map_err(|_| Error::malformed("the PIN is not UTF-8").at(path.display()))?;
        Ok(Pin::new(text.trim_end_matches(['\n', '\r']).into()))
    };
    if let Some(path) = args_pin_file {
        return from_file(path).map(Some);
    }
    if let Some(source) = uri_source {
        let path = source.strip_prefix("file:").ok_or_else(|| Error::usage("pin-source must be file:<path>"))?;
        return from_file(std::path::Path::new(path)).map(Some);
    }
    Ok(std::env::var("METER_PIN").ok().map(|p| Pin::new(p.into())))
}

fn run(a: Args) -> Result<ExitCode> {
    let dir = a.device.ok_or_else(|| Error::usage("no meter given: use --device DIR or set METER_DEVICE"))?;
    let now = a.clock.now();
    let stored_choice = || -> Option<DeviceChoice> {
        crate::fsio::read(&dir.join("device.json")).ok().and_then(|b| Plain::<DeviceChoice>::parse(&b).ok())
    };
    let print = |s: String| cli::write_stdout(s.as_bytes());
    if let Action::Init { meter_id, origin, authority, coprocessor } = a.action {
        let authority = cli::read_identity(&authority)?;
        let pin = pin(a.pin_file.as_deref(), Some(&coprocessor))?;
        let (_, request) = Meter::create(&dir, coprocessor, pin.as_ref(), &meter_id, &origin, authority, now)?;
        print(request.to_json_pretty())?;
        return Ok(ExitCode::SUCCESS);
    }
    let pin = pin(a.pin_file.as_deref(), stored_choice().as_ref())?;
    let mut meter = Meter::open(&dir, pin.as_ref(), now)?;
    match a.action {
        Action::Init { .. } => unreachable!("handled above"),
        Action::InstallCertificate { certificate } => {
            let file = cli::display(&certificate);
            meter.install_certificate(&cli::read_signed(&certificate)?).at(file)?;
        }
        Action::Refill { voucher } => {
            meter.refill(&cli::read_signed(&voucher)?).at(cli::display(&voucher))?;
            print(format!("{}\n", meter.status().descending))?;
        }
        Action::Print { envelopes } => {
            for (n, raw) in crate::doc::stream(cli::open_input(&envelopes)?).enumerate() {
                let place = format!("{}: envelope {}", cli::display(&envelopes), n + 1);
                let envelope = Envelope::parse(raw.at(&place)?.get().as_bytes()).at(&place)?;
                let indicium = meter.print(&envelope, now).at(&place)?;
                print(indicium.to_json_line())?;
            }
        }
        Action::Reprint { sequence } => print(meter.reprint(sequence).at(dir.display())?.to_json_line())?,
        Action::Status => print(Plain(meter.status()).to_json_pretty())?,
        Action::Log => {
            for entry in meter.log()? {
                print(Plain(entry).to_json_line())?;
            }
        }
        Action::OpenCover => return Err(meter.open_cover(now)),
    }
    Ok(ExitCode::SUCCESS)
}
