//! Secret references: `env:NAME` and `file:PATH`, the only way a secret enters the config.
//!
//! The configuration file is often committed, copied into tickets and pasted into chats, so it
//! never holds a secret itself, only where to find one. References are resolved once, at load,
//! into [`Secret`]s.
//!
//! The deserializers here never echo the value they refuse: a vendor who pastes a real key by
//! mistake must not find it again in an error message or a log line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use assay_wire::secret::Secret;

/// The prefix of a reference to an environment variable.
pub const ENV_PREFIX: &str = "env:";
/// The prefix of a reference to a file whose contents are the secret.
pub const FILE_PREFIX: &str = "file:";

/// The most a `file:` reference reads. A secret is a few hundred bytes and a setting (a
/// package catalogue) a few kilobytes; a reference to a log, an image or `/dev/zero` by mistake
/// is refused with this size in the message rather than read whole into memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where a secret lives: an environment variable or a file.
///
/// `Display` and `Debug` print the reference (`env:NAME`, `file:PATH`), which is safe to show.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// `env:NAME`: the value of the environment variable `NAME`.
    Env(String),
    /// `file:PATH`: the contents of the file, without a trailing newline. A relative path is
    /// relative to the configuration file's directory.
    File(PathBuf),
}

/// Why a string is not a secret reference. The messages never contain the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    /// The value is neither `env:…` nor `file:…`: most likely the secret itself.
    #[error(
        "a secret must not be written in the configuration: write `env:NAME` to read it from an \
         environment variable or `file:PATH` to read it from a file"
    )]
    Literal,
    /// `env:` is followed by something that is not a variable name.
    #[error(
        "`env:` must be followed by an environment variable name (ASCII letters, digits and \
         underscores, not starting with a digit)"
    )]
    BadEnvName,
    /// `file:` is followed by nothing.
    #[error("`file:` must be followed by a path")]
    EmptyPath,
}

impl SecretRef {
    /// Reads the secret. `base_dir` anchors relative `file:` paths; `env` looks up environment
    /// variables (the process environment in production, a map in tests).
    ///
    /// The error is a sentence about the reference (never the value) for
    /// [`super::ConfigError::Secret`].
    pub fn resolve(
        &self,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, String> {
        let value = match self {
            SecretRef::Env(name) => {
                env(name).ok_or_else(|| format!("environment variable {name} is not set"))?
            }
            SecretRef::File(path) => {
                let path = base_dir.join(path);
                let mut text = read_bounded(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                // Editors and `echo` end files with a newline that is not part of the secret.
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                text
            }
        };
        if value.is_empty() {
            return Err(match self {
                SecretRef::Env(name) => format!("environment variable {name} is empty"),
                SecretRef::File(_) => "the file is empty".to_owned(),
            });
        }
        Ok(Secret::new(value))
    }

    /// The file a `file:` reference reads, anchored at `base_dir`; `None` for `env:`.
    pub fn file_path(&self, base_dir: &Path) -> Option<PathBuf> {
        match self {
            SecretRef::Env(_) => None,
            SecretRef::File(path) => Some(base_dir.join(path)),
        }
    }
}

/// The file's text, refused past [`MAX_FILE_BYTES`] (read one byte further to tell).
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "larger than {} KiB, the most a `file:` reference reads",
                MAX_FILE_BYTES / 1024
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text (a `file:` reference holds one value as text)",
        )
    })
}

impl FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix(ENV_PREFIX) {
            if is_env_name(name) {
                Ok(SecretRef::Env(name.to_owned()))
            } else {
                Err(SecretRefError::BadEnvName)
            }
        } else if let Some(path) = s.strip_prefix(FILE_PREFIX) {
            if path.is_empty() {
                Err(SecretRefError::EmptyPath)
            } else {
                Ok(SecretRef::File(PathBuf::from(path)))
            }
        } else {
            Err(SecretRefError::Literal)
        }
    }
}

/// Whether `name` is a portable environment variable name.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "{ENV_PREFIX}{name}"),
            SecretRef::File(path) => write!(f, "{FILE_PREFIX}{}", path.display()),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A value of `[products.NAME.settings]`: plain text, or a reference when it starts with
/// `env:` or `file:`. Both end up as a [`Secret`] handed to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// Written in the file as is. Not shown in `Debug`: settings may still be sensitive.
    Plain(Secret),
    /// Resolved at load.
    Ref(SecretRef),
}

/// Refuses every TOML type a visitor does not want, without echoing the value
/// (serde's default `invalid_type` messages quote it).
macro_rules! refuse_other_types {
    ($message:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom($message))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom($message))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom($message))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom($message))
        }
        // TOML tables and date-times both arrive as maps.
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom($message))
        }
    };
}

const NOT_A_SECRET_STRING: &str =
    "expected a secret reference string such as \"env:NAME\" or \"file:PATH\"";

struct SecretRefVisitor;

impl<'de> Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NOT_A_SECRET_STRING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretRef, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<SecretRef, A::Error> {
        Err(de::Error::custom(NOT_A_SECRET_STRING))
    }

    refuse_other_types!(NOT_A_SECRET_STRING);
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

/// A list of secret references (`webhook_secrets`, `package_list_keys`), each with its place
/// in the file.
#[derive(Debug, Clone, Default)]
pub struct SecretRefList(pub Vec<toml::Spanned<SecretRef>>);

const NOT_A_SECRET_LIST: &str =
    "expected an array of secret references such as [\"env:NAME\"] (never the secrets themselves)";

struct SecretRefListVisitor;

impl<'de> Visitor<'de> for SecretRefListVisitor {
    type Value = SecretRefList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NOT_A_SECRET_LIST)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretRefList, A::Error> {
        let mut refs = Vec::new();
        while let Some(r) = seq.next_element()? {
            refs.push(r);
        }
        Ok(SecretRefList(refs))
    }

    // A single string is the classic slip (`webhook_secrets = "whsec_…"`); say so without
    // repeating it.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretRefList, E> {
        Err(E::custom(NOT_A_SECRET_LIST))
    }

    refuse_other_types!(NOT_A_SECRET_LIST);
}

impl<'de> Deserialize<'de> for SecretRefList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefListVisitor)
    }
}

const NOT_A_SETTING: &str = "setting values must be strings: put the value in double quotes";

struct SettingValueVisitor;

impl<'de> Visitor<'de> for SettingValueVisitor {
    type Value = SettingValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NOT_A_SETTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
        if v.starts_with(ENV_PREFIX) || v.starts_with(FILE_PREFIX) {
            v.parse().map(SettingValue::Ref).map_err(E::custom)
        } else {
            Ok(SettingValue::Plain(Secret::new(v)))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<SettingValue, A::Error> {
        Err(de::Error::custom(NOT_A_SETTING))
    }

    refuse_other_types!(NOT_A_SETTING);
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SettingValueVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_env_and_file_references() {
        assert_eq!(
            "env:API_KEY_2".parse::<SecretRef>(),
            Ok(SecretRef::Env("API_KEY_2".into()))
        );
        assert_eq!(
            "file:/run/secrets/key".parse::<SecretRef>(),
            Ok(SecretRef::File("/run/secrets/key".into()))
        );
        assert_eq!(
            "file:/run/secrets/key"
                .parse::<SecretRef>()
                .unwrap()
                .to_string(),
            "file:/run/secrets/key"
        );
    }

    #[test]
    fn refuses_literals_and_malformed_references() {
        assert_eq!(
            "whsec_123".parse::<SecretRef>(),
            Err(SecretRefError::Literal)
        );
        assert_eq!("ENV:X".parse::<SecretRef>(), Err(SecretRefError::Literal));
        assert_eq!("env:".parse::<SecretRef>(), Err(SecretRefError::BadEnvName));
        assert_eq!(
            "env:1X".parse::<SecretRef>(),
            Err(SecretRefError::BadEnvName)
        );
        assert_eq!(
            "env:A B".parse::<SecretRef>(),
            Err(SecretRefError::BadEnvName)
        );
        assert_eq!("file:".parse::<SecretRef>(), Err(SecretRefError::EmptyPath));
        let message = "whsec_123".parse::<SecretRef>().unwrap_err().to_string();
        assert!(!message.contains("whsec_123"), "{message}");
    }

    #[test]
    fn resolves_environment_variables() {
        let env = |name: &str| (name == "KEY").then(|| "s3cret".to_owned());
        let secret = SecretRef::Env("KEY".into())
            .resolve(Path::new("."), &env)
            .unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert_eq!(
            SecretRef::Env("OTHER".into()).resolve(Path::new("."), &env),
            Err("environment variable OTHER is not set".to_owned())
        );
        let empty = |_: &str| Some(String::new());
        assert_eq!(
            SecretRef::Env("KEY".into()).resolve(Path::new("."), &empty),
            Err("environment variable KEY is empty".to_owned())
        );
    }

    #[test]
    fn resolves_files_relative_to_the_base_and_trims_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("unix"), "abc\n").unwrap();
        std::fs::write(dir.path().join("dos"), "abc\r\n").unwrap();
        std::fs::write(dir.path().join("two"), "abc\n\n").unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let read = |name: &str| SecretRef::File(name.into()).resolve(dir.path(), &no_env);
        assert_eq!(read("unix").unwrap().expose(), "abc");
        assert_eq!(read("dos").unwrap().expose(), "abc");
        assert_eq!(read("two").unwrap().expose(), "abc\n");
        assert_eq!(read("empty"), Err("the file is empty".to_owned()));
        let missing = read("missing").unwrap_err();
        assert!(
            missing.starts_with(&format!(
                "cannot read {}",
                dir.path().join("missing").display()
            )),
            "{missing}"
        );
    }

    #[test]
    fn refuses_files_past_the_bound_and_files_that_are_not_text() {
        let dir = tempfile::tempdir().unwrap();
        let at_bound = "a".repeat(usize::try_from(MAX_FILE_BYTES).unwrap());
        std::fs::write(dir.path().join("at-bound"), &at_bound).unwrap();
        std::fs::write(dir.path().join("past-bound"), format!("{at_bound}a")).unwrap();
        std::fs::write(dir.path().join("binary"), [b'k', 0xff, 0xfe, b'y']).unwrap();
        let read = |name: &str| SecretRef::File(name.into()).resolve(dir.path(), &no_env);
        assert_eq!(read("at-bound").unwrap().expose().len(), at_bound.len());
        let past = read("past-bound").unwrap_err();
        assert!(past.contains("past-bound"), "{past}");
        assert!(past.contains("larger than 1024 KiB"), "{past}");
        let binary = read("binary").unwrap_err();
        assert!(binary.contains("not UTF-8 text"), "{binary}");
        // A device that never ends is refused at the bound, not read until memory runs out.
        let endless = SecretRef::File("/dev/zero".into()).resolve(dir.path(), &no_env);
        assert!(
            endless
                .as_ref()
                .is_err_and(|e| e.contains("larger than 1024 KiB")),
            "{endless:?}"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    struct Probe {
        key: Option<SecretRef>,
        list: Option<SecretRefList>,
        setting: Option<SettingValue>,
    }

    fn probe_error(text: &str) -> String {
        toml::from_str::<Probe>(text)
            .unwrap_err()
            .message()
            .to_owned()
    }

    #[test]
    fn type_errors_do_not_echo_the_value() {
        for (text, expected) in [
            ("key = 998877", NOT_A_SECRET_STRING),
            ("key = [\"998877\"]", NOT_A_SECRET_STRING),
            ("list = \"998877\"", NOT_A_SECRET_LIST),
            ("list = 998877", NOT_A_SECRET_LIST),
            ("setting = 998877", NOT_A_SETTING),
            ("setting = 99.8877", NOT_A_SETTING),
        ] {
            let message = probe_error(text);
            assert_eq!(message, expected, "{text}");
            assert!(!message.contains("998877"));
        }
        assert_eq!(
            probe_error("key = \"998877\""),
            SecretRefError::Literal.to_string()
        );
    }

    #[test]
    fn settings_are_plain_unless_prefixed() {
        let p: Probe = toml::from_str("setting = \"https://vendor.example\"").unwrap();
        assert_eq!(
            p.setting,
            Some(SettingValue::Plain(Secret::new("https://vendor.example")))
        );
        let p: Probe = toml::from_str("setting = \"env:TOKEN\"").unwrap();
        assert_eq!(
            p.setting,
            Some(SettingValue::Ref(SecretRef::Env("TOKEN".into())))
        );
        assert_eq!(
            probe_error("setting = \"env:\""),
            SecretRefError::BadEnvName.to_string()
        );
        let p: Probe = toml::from_str("list = [\"env:A\", \"file:b\"]").unwrap();
        let list: Vec<_> = p
            .list
            .unwrap()
            .0
            .into_iter()
            .map(|s| s.into_inner())
            .collect();
        assert_eq!(
            list,
            [SecretRef::Env("A".into()), SecretRef::File("b".into())]
        );
        assert!(p.key.is_none());
    }
}
