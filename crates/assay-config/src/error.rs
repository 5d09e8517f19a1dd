//! What can go wrong while loading the configuration, phrased for the vendor who edits it.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from: `config.toml:12:5`, `ASSAY_LISTEN`, `command line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it, an environment variable, or `command line`.
    pub origin: String,
    /// 1-based line and column (in characters) inside the file, when known.
    pub line_col: Option<(usize, usize)>,
}

impl Location {
    /// A place with no line: an environment variable, the command line, a whole file.
    pub fn whole(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            line_col: None,
        }
    }

    /// The position of byte `offset` of `text` (the contents of `origin`).
    pub fn in_text(origin: &str, text: &str, offset: Option<usize>) -> Self {
        let line_col = offset.map(|offset| {
            let before = text.get(..offset).unwrap_or(text);
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line = before.matches('\n').count() + 1;
            let column = before[line_start..].chars().count() + 1;
            (line, column)
        });
        Self {
            origin: origin.to_owned(),
            line_col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, column)) => write!(f, "{}:{line}:{column}", self.origin),
            None => f.write_str(&self.origin),
        }
    }
}

/// Why the configuration could not be loaded. Every message names where (file, line, column or
/// the overriding variable) and, past the syntax stage, which key (`products.NAME.key`).
/// No message ever contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {}", path.display())]
    Read {
        /// The path that was given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema: an unknown key, a wrong type, a
    /// missing key, a literal secret.
    #[error("{at}: {message}")]
    Parse {
        /// Where.
        at: Location,
        /// What, in the words of the TOML parser or of the field's type.
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("{at}: {key}: {message}")]
    Invalid {
        /// Where the value was written.
        at: Location,
        /// The dotted key, e.g. `products.codetest.timeout_ms`.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A secret reference could not be resolved.
    #[error("{at}: {key}: cannot resolve `{reference}`: {problem}")]
    Secret {
        /// Where the reference was written.
        at: Location,
        /// The dotted key.
        key: String,
        /// The reference (`env:NAME`, `file:PATH`), never the value.
        reference: String,
        /// What went wrong: variable not set, file unreadable, empty.
        problem: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n";
        let at = |offset| Location::in_text("c.toml", text, Some(offset)).to_string();
        assert_eq!(at(0), "c.toml:1:1");
        assert_eq!(at(4), "c.toml:1:5");
        assert_eq!(at(6), "c.toml:2:1");
        // `é` is two bytes but one column.
        assert_eq!(at(10), "c.toml:2:4");
        assert_eq!(
            Location::in_text("c.toml", text, None).to_string(),
            "c.toml"
        );
        assert_eq!(Location::whole("ASSAY_LISTEN").to_string(), "ASSAY_LISTEN");
    }
}
