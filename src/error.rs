//! The toolkit's one error type.
//!
//! Every failure is classified by what the user should do about it ([`ErrorKind`]), which
//! fixes the process exit status, and carries the place it concerns (a file, `stdin`, a
//! ledger) so that the printed line leads with it: `epo.json: signature does not verify`.

use std::fmt;

/// What went wrong, from the caller's point of view; each kind has one exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Well-formed input that the protocol refuses: a bad signature, an expired offer,
    /// insufficient funds, a failed audit. Exit status 1.
    Refused,
    /// The command line is wrong. Exit status 2.
    Usage,
    /// Input that is not a valid document: bad JSON, wrong type, bad amount. Exit status 65.
    Malformed,
    /// An input file or a record it names does not exist. Exit status 66.
    NoInput,
    /// An output cannot be created, or already exists and may not be overwritten. Exit status 73.
    CannotCreate,
    /// Reading or writing failed. Exit status 74.
    Io,
    /// A temporary failure such as a locked database; retrying may succeed. Exit status 75.
    Busy,
}

impl ErrorKind {
    /// The process exit status for this kind (sysexits.h numbers where one fits).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Refused => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Malformed => 65,
            ErrorKind::NoInput => 66,
            ErrorKind::CannotCreate => 73,
            ErrorKind::Io => 74,
            ErrorKind::Busy => 75,
        }
    }
}

/// The exit-status table printed in every tool's help and man page.
pub const EXIT_STATUS_TABLE: &str = "\
Exit status:
  0   success
  1   refused: well-formed input that the protocol rejects (bad signature, expired,
      insufficient funds, refusal receipt, failed audit)
  2   usage error
  65  malformed input (not JSON, wrong document type, bad field)
  66  missing input file or record
  73  cannot create an output (exists already, or directory missing)
  74  I/O error
  75  temporary failure (database busy); retrying may succeed";

/// An error: its kind, the place it concerns, and a one-line description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    place: Option<String>,
    message: String,
}

/// Result with the toolkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message and no place yet.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, place: None, message: message.into() }
    }

    /// A refusal (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }

    /// Malformed input (exit 65).
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// Names the place (file, `stdin`, ledger) the error concerns, unless one is set already:
    /// the innermost place is the most precise.
    pub fn at(mut self, place: impl fmt::Display) -> Self {
        if self.place.is_none() {
            self.place = Some(place.to_string());
        }
        self
    }

    /// Replaces a role name used as the place by protocol code (`"offer"`) with the file
    /// that played the role; with no place yet, names `fallback`.
    pub fn name_file(mut self, role: &str, file: impl fmt::Display, fallback: bool) -> Self {
        match self.place.as_deref() {
            Some(p) if p == role => self.place = Some(file.to_string()),
            None if fallback => self.place = Some(file.to_string()),
            _ => {}
        }
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The description without the place.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Wraps a database error for the database `what` at `path`: a busy or locked database
    /// is a temporary failure, anything else an I/O error.
    pub fn database(what: &str, path: &std::path::Path, err: &rusqlite::Error) -> Self {
        let busy = matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let kind = if busy { ErrorKind::Busy } else { ErrorKind::Io };
        Error::new(kind, format!("{what}: {err}")).at(path.display())
    }

    /// Wraps an I/O error, mapping "not found" to [`ErrorKind::NoInput`] and "exists" to
    /// [`ErrorKind::CannotCreate`].
    pub fn io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match err.kind() {
            K::NotFound => ErrorKind::NoInput,
            K::AlreadyExists => ErrorKind::CannotCreate,
            _ => ErrorKind::Io,
        };
        let message = match err.kind() {
            K::NotFound => "no such file or directory".to_string(),
            K::AlreadyExists => "already exists; refusing to overwrite".to_string(),
            _ => err.to_string(),
        };
        Error::new(kind, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Some(place) => write!(f, "{place}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// Attaches a place to the error of a `Result`.
pub trait ResultExt<T> {
    /// See [`Error::at`].
    fn at(self, place: impl fmt::Display) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn at(self, place: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.at(place))
    }
}
