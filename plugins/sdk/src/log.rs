//! Logging into the host's log, tagged with the product and this plugin's version.
//!
//! Never log settings values or candidate data you don't need: the host's log is read by
//! operators.

use crate::bindings::assay::plugin::host::{self, LogLevel};

fn write(level: LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>();
    host::log(level, message, &fields);
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
