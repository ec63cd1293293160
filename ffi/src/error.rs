//! The error type of every MoshKit call (uniffi: an exception in Kotlin and Swift; C: the
//! status code and the thread's last error message).

use moshkit_core::{crypto, prediction};

/// Errors returned by MoshKit calls.
///
/// More variants may be added: match with a default branch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum MoshKitError {
    /// The session key from `MOSH CONNECT <port> <key>` is malformed.
    #[error("invalid session key: {reason}")]
    InvalidKey {
        /// Why the key was rejected (never contains the key itself).
        reason: String,
    },
    /// A prediction mode name other than adaptive, always, never or experimental.
    #[error("invalid prediction mode: {reason}")]
    InvalidPredictionMode {
        /// The rejected name and the accepted ones.
        reason: String,
    },
    /// The log sink could not be installed (another `log` logger owns this process).
    #[error("log sink unavailable: {reason}")]
    LogSinkUnavailable {
        /// Details.
        reason: String,
    },
    /// The host is neither an IP address nor a host name, or the port is 0.
    #[error("invalid address: {reason}")]
    InvalidAddress {
        /// Details.
        reason: String,
    },
    /// The host name could not be resolved.
    #[error("cannot resolve host: {reason}")]
    ResolveFailed {
        /// Details from the system resolver.
        reason: String,
    },
    /// A window size of zero (or too large for the terminal).
    #[error("invalid window size: {reason}")]
    InvalidSize {
        /// Details.
        reason: String,
    },
    /// The session was closed (by `disconnect`, or it ended): no more input is accepted.
    #[error("session closed")]
    Closed,
    /// Saved session bytes that cannot be restored (truncated, corrupt, from a newer MoshKit,
    /// or not a MoshKit session): start a new session instead.
    #[error("invalid saved session: {reason}")]
    InvalidSavedState {
        /// Why the bytes were rejected.
        reason: String,
    },
    /// MoshKit's runtime thread could not be started.
    #[error("runtime unavailable: {reason}")]
    Runtime {
        /// Details.
        reason: String,
    },
    /// The server keeps no scrollback of its own (upstream `mosh-server`, or not known yet):
    /// only the lines captured from the screens received exist, and none can be requested.
    #[error("the server does not serve scrollback")]
    ScrollbackNotServed,
    /// A range of lines that is empty or reversed (`from` >= `to`).
    #[error("invalid range: {reason}")]
    InvalidRange {
        /// The rejected range.
        reason: String,
    },
}

impl MoshKitError {
    /// The human-readable message (the same text as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<crypto::KeyError> for MoshKitError {
    fn from(e: crypto::KeyError) -> Self {
        MoshKitError::InvalidKey {
            reason: e.to_string(),
        }
    }
}

impl From<moshkit_core::session::RestoreError> for MoshKitError {
    fn from(e: moshkit_core::session::RestoreError) -> Self {
        MoshKitError::InvalidSavedState {
            reason: e.to_string(),
        }
    }
}

impl From<moshkit_core::scrollback::ScrollbackError> for MoshKitError {
    fn from(e: moshkit_core::scrollback::ScrollbackError) -> Self {
        use moshkit_core::scrollback::ScrollbackError;
        match e {
            ScrollbackError::NotServed => MoshKitError::ScrollbackNotServed,
            ScrollbackError::EmptyRange { .. } => MoshKitError::InvalidRange {
                reason: e.to_string(),
            },
        }
    }
}

impl From<prediction::UnknownPreference> for MoshKitError {
    fn from(e: prediction::UnknownPreference) -> Self {
        MoshKitError::InvalidPredictionMode {
            reason: e.to_string(),
        }
    }
}
