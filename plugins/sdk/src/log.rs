//! Logging into the host's log, tagged with the product and this plugin's version.
//!
//! ```ignore
//! log::info("invitation created", &[("order", &order.id), ("invitation", &invitation.id)]);
//! ```
//!
//! A line is a message plus `key = value` fields; the host writes it through its own logger
//! (JSON or text). It cuts a message after 4 KiB and keeps at most 32 fields, each name and
//! value cut after 1 KiB. Never log settings values, and only the candidate data you need:
//! operators read this log.

use crate::bindings::assay::plugin0_2_0::host::{self, LogLevel};

/// Writes one line at `level`.
pub fn write(level: LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<Vec<_>>();
    host::log(level, message, &fields);
}

/// Logs at trace level.
pub fn trace(message: &str, fields: &[(&str, &str)]) {
    write(LogLevel::Trace, message, fields);
}

/// Logs at debug level.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    write(LogLevel::Debug, message, fields);
}

/// Logs at info level.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    write(LogLevel::Info, message, fields);
}

/// Logs at warn level.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    write(LogLevel::Warn, message, fields);
}

/// Logs at error level.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    write(LogLevel::Error, message, fields);
}
