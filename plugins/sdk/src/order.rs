//! Conveniences for reading an [`Order`] and describing a [`Package`].

use crate::{Order, Package, PackageTest};

impl Order {
    /// The vendor's package id: `package.remote_id` (the `id` your `list-packages` returned)
    /// if StackOne sent one, else `package.id`. Blank ids count as missing.
    pub fn package_id(&self) -> Option<&str> {
        [&self.package.remote_id, &self.package.id]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|id| !id.trim().is_empty())
    }

    /// The candidate's first non-blank e-mail address (StackOne lists the preferred first).
    pub fn candidate_email(&self) -> Option<&str> {
        self.candidate
            .emails
            .iter()
            .map(|e| e.value.trim())
            .find(|v| !v.is_empty())
    }

    /// The candidate's full name, as far as StackOne sent it (possibly empty).
    pub fn candidate_name(&self) -> String {
        [
            self.candidate.first_name.as_deref(),
            self.candidate.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
    }
}

impl Package {
    /// A package with an id and a name, no description and no tests.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Package {
            id: id.into(),
            name: name.into(),
            description: None,
            tests: vec![],
        }
    }
}

impl PackageTest {
    /// A test of a background-check package.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        PackageTest {
            id: id.into(),
            name: name.into(),
            description: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Candidate, Email, OrderKind, OrderPackage};

    fn order(remote_id: Option<&str>, id: Option<&str>, emails: &[&str]) -> Order {
        Order {
            id: "ord-1".into(),
            kind: OrderKind::Assessment,
            account_id: "acc".into(),
            provider: None,
            remote_id: None,
            package: OrderPackage {
                id: id.map(Into::into),
                remote_id: remote_id.map(Into::into),
                name: None,
                description: None,
                tests: vec![],
            },
            candidate: Candidate {
                id: None,
                remote_id: None,
                first_name: Some(" Ada ".into()),
                last_name: Some(" ".into()),
                emails: emails
                    .iter()
                    .map(|e| Email {
                        value: (*e).into(),
                        email_type: None,
                    })
                    .collect(),
                profile_url: None,
            },
            application: None,
            job: None,
            requester: None,
            raw_json: "{}".into(),
        }
    }

    #[test]
    fn the_vendors_package_id_comes_first() {
        assert_eq!(
            order(Some("ct-1"), Some("so-1"), &[]).package_id(),
            Some("ct-1")
        );
        assert_eq!(order(None, Some("so-1"), &[]).package_id(), Some("so-1"));
        assert_eq!(
            order(Some(" "), Some("so-1"), &[]).package_id(),
            Some("so-1")
        );
        assert_eq!(order(Some(""), None, &[]).package_id(), None);
        assert_eq!(order(None, None, &[]).package_id(), None);
    }

    #[test]
    fn candidate_contact_skips_blanks() {
        let o = order(None, None, &["", " ada@example.com ", "b@example.com"]);
        assert_eq!(o.candidate_email(), Some("ada@example.com"));
        assert_eq!(o.candidate_name(), "Ada");
        assert_eq!(order(None, None, &[]).candidate_email(), None);
    }
}
