//! [`Email`]: an address normalized so that two spellings of one mailbox are one
//! account.

use std::fmt;

/// The longest email accepted, in bytes (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Why an email was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is missing")]
    Missing,
    #[error("email is longer than {MAX_EMAIL_BYTES} bytes")]
    TooLong,
    #[error("email is not of the form local@domain.tld")]
    Malformed,
    #[error("email contains an invisible or control character")]
    Invisible,
}

/// A normalized email, at most 254 bytes, `local@domain.tld`.
///
/// Two spellings of one mailbox give one `Email`, which is what the unique index
/// sees:
/// - surrounding whitespace is trimmed, and the whole is brought to Unicode NFKC,
///   lower-cased and brought to NFKC again, so precomposed and decomposed accents, and
///   fullwidth or other compatibility forms, are one;
/// - the domain goes through IDNA (UTS #46, non-transitional) and is kept in its
///   Unicode form, so `BÜCHER.de` and `xn--bcher-kva.de` are one;
/// - invisible characters (zero-width spaces and joiners, bidi controls, variation
///   selectors: Unicode's default-ignorable code points) and control characters are
///   refused, not stripped, so nothing hidden can tell two accounts apart.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Unicode's default-ignorable code points (DerivedCoreProperties): characters that
/// render as nothing.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

fn invisible(c: char) -> bool {
    c.is_control() || INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

impl Email {
    /// Normalizes and checks an email (see [`Email`]).
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        use unicode_normalization::UnicodeNormalization;

        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Missing);
        }
        if trimmed.len() > MAX_EMAIL_BYTES * 4 {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(invisible) {
            return Err(EmailError::Invisible);
        }
        // NFKC, then lower case, then NFKC again (Unicode's NFKC_Casefold closure):
        // compatibility forms can decompose to capitals (U+210C BLACK-LETTER CAPITAL H
        // is `H`), and lower-casing can leave a form NFKC would change; either order
        // alone lets two spellings of one mailbox become two stored emails.
        let folded: String = trimmed
            .nfkc()
            .collect::<String>()
            .to_lowercase()
            .nfkc()
            .collect();
        let (local, domain) = folded.split_once('@').ok_or(EmailError::Malformed)?;
        let ascii_domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Malformed)?;
        let (domain, _) = idna::domain_to_unicode(&ascii_domain);
        // Both forms must name each other: a label like `xn--xn--…` decodes to a
        // Unicode form that does not encode back, and would be stored as an email
        // that no longer parses.
        if idna::domain_to_ascii(&domain).ok().as_deref() != Some(ascii_domain.as_str()) {
            return Err(EmailError::Malformed);
        }
        let email = format!("{local}@{domain}");
        if email.len() > MAX_EMAIL_BYTES {
            return Err(EmailError::TooLong);
        }
        let local_ok = !local.is_empty() && local.len() <= 64;
        // The ASCII form is what DNS sees: letters, digits and hyphens per label.
        let domain_ok = ascii_domain.contains('.')
            && ascii_domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        let chars_ok = email
            .chars()
            .all(|c| !c.is_whitespace() && !invisible(c) && c != '<' && c != '>');
        if !(local_ok && domain_ok && chars_ok) {
            return Err(EmailError::Malformed);
        }
        Ok(Email(email))
    }

    /// The normalized form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds an email the store read back; it was normalized when written.
    pub(crate) fn from_store(value: String) -> Self {
        Email(value)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_composed_or_not_and_compatibility_forms_are_one_email() {
        let plain = Email::parse("jos\u{e9}@example.com").unwrap();
        assert_eq!(Email::parse("jose\u{301}@example.com").unwrap(), plain);
        assert_eq!(Email::parse("JOS\u{c9}@EXAMPLE.COM").unwrap(), plain);
        let fullwidth = Email::parse("\u{ff41}\u{ff44}\u{ff41}@\u{ff45}xample.com").unwrap();
        assert_eq!(fullwidth, Email::parse("ada@example.com").unwrap());
    }

    #[test]
    fn normalizing_is_a_fixed_point_even_for_compatibility_capitals() {
        // Found by the `email` fuzz target: U+210C is `H` under NFKC, after lower-casing.
        let email = Email::parse("\u{210C}@example.com").unwrap();
        assert_eq!(email.as_str(), "h@example.com");
        assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        assert_eq!(Email::parse("h@example.com").unwrap(), email);
    }

    #[test]
    fn a_domain_whose_unicode_form_does_not_encode_back_is_refused() {
        // Found by the `email` fuzz target: the label decodes to `xn--ncher-knch«er`.
        assert_eq!(
            Email::parse("a@eme.xn--xn--ncher-kncher-kva.de"),
            Err(EmailError::Malformed)
        );
    }

    #[test]
    fn an_internationalized_domain_is_one_email_in_either_form() {
        let unicode = Email::parse("user@B\u{dc}CHER.de").unwrap();
        assert_eq!(unicode.as_str(), "user@b\u{fc}cher.de");
        assert_eq!(Email::parse("user@xn--bcher-kva.de").unwrap(), unicode);
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for hidden in [
            "a\u{200b}da@example.com",
            "ada@exa\u{200d}mple.com",
            "\u{feff}ada@example.com",
            "ada\u{202e}@example.com",
            "a\u{7}da@example.com",
            "ad\u{ad}a@example.com",
        ] {
            assert_eq!(
                Email::parse(hidden),
                Err(EmailError::Invisible),
                "{hidden:?}"
            );
        }
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Alice.Smith@Example.COM \t").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn emails_differing_in_case_and_padding_are_equal() {
        assert_eq!(
            Email::parse("Bob@Example.com").unwrap(),
            Email::parse(" bob@example.com ").unwrap()
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@example..com",
            "a@-example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(Email::parse("   "), Err(EmailError::Missing));
    }

    #[test]
    fn email_over_254_bytes_is_refused_and_254_is_accepted() {
        let domain = format!(
            "{}.{}.{}.com",
            "d".repeat(63),
            "e".repeat(63),
            "f".repeat(63)
        );
        let fits = format!(
            "{}@{domain}",
            "a".repeat(MAX_EMAIL_BYTES - 1 - domain.len())
        );
        assert_eq!(fits.len(), MAX_EMAIL_BYTES);
        assert!(Email::parse(&fits).is_ok());
        let over = format!("a{fits}");
        assert_eq!(Email::parse(&over), Err(EmailError::TooLong));
    }
}
