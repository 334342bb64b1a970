//! User accounts and the rules for their credentials.

use std::fmt;

use super::{Timestamp, UserId};

/// The longest username accepted, as the old shop had it.
const USERNAME_MAX_CHARS: usize = 150;
/// The shortest password accepted (OWASP: at least 8).
pub(crate) const PASSWORD_MIN_CHARS: usize = 8;
/// The longest password accepted: long enough for passphrases, short enough that hashing a
/// hostile megabyte is impossible.
pub(crate) const PASSWORD_MAX_CHARS: usize = 128;
/// The longest e-mail address accepted (RFC 5321's path limit).
const EMAIL_MAX_CHARS: usize = 254;

/// A login name: 1–150 letters, digits and `@ . + - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks the length and alphabet; the message is for the client.
    pub fn parse(text: &str) -> Result<Self, String> {
        let length = text.chars().count();
        if length == 0 {
            return Err("this field may not be blank".into());
        }
        if length > USERNAME_MAX_CHARS {
            return Err(format!(
                "ensure this field has no more than {USERNAME_MAX_CHARS} characters"
            ));
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_');
        if !text.chars().all(allowed) {
            return Err(
                "enter a valid username: letters, digits and @/./+/-/_ characters only".into(),
            );
        }
        Ok(Self(text.to_owned()))
    }

    /// The name as entered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, syntactically valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks the syntax (RFC 5322 addr-spec, as the `email_address` crate reads it). Surrounding
    /// white space is dropped, but counts towards the length, as the spec's `maxLength` does.
    pub fn parse(text: &str) -> Result<Self, String> {
        let too_long = text.chars().count() > EMAIL_MAX_CHARS;
        let text = text.trim();
        if text.is_empty() {
            return Err("this field may not be blank".into());
        }
        if too_long
            || !email_address::EmailAddress::is_valid(text)
            // Display names ("Ann <ann@example.com>") are valid RFC 5322 but not an address.
            || text.contains(['<', '>', ' '])
        {
            return Err("enter a valid email address".into());
        }
        Ok(Self(text.to_owned()))
    }

    /// The address as entered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the policy; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks the policy: 8–128 characters, not the username and not one of the ~100,000 most
    /// common passwords (compared as typed and in lower case, so `Password1` counts as common).
    /// No composition rules, as OWASP advises: they make passwords harder to remember, not to
    /// guess.
    pub fn parse(text: &str, username: &str) -> Result<Self, String> {
        let length = text.chars().count();
        if length < PASSWORD_MIN_CHARS {
            return Err(format!(
                "this password is too short: it must contain at least {PASSWORD_MIN_CHARS} characters"
            ));
        }
        if length > PASSWORD_MAX_CHARS {
            return Err(format!(
                "this password is too long: it may contain at most {PASSWORD_MAX_CHARS} characters"
            ));
        }
        let lowered = text.to_lowercase();
        if lowered == username.to_lowercase() {
            return Err("the password is too similar to the username".into());
        }
        if passwords::analyzer::is_common_password(text)
            || passwords::analyzer::is_common_password(&lowered)
        {
            return Err("this password is too common: it appears in lists of leaked passwords that attackers try first".into());
        }
        Ok(Self(text.to_owned()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from a store.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for a store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

/// A user account as the shop sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its login name.
    pub username: String,
    /// Its e-mail address.
    pub email: String,
    /// Staff manage the catalogue and every order.
    pub is_staff: bool,
    /// Whether it may log in.
    pub is_active: bool,
    /// When it registered.
    pub created_at: Timestamp,
}

/// A user to create; its values are already valid.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The login name.
    pub username: Username,
    /// The e-mail address.
    pub email: Email,
    /// The hash of the chosen password.
    pub password_hash: PasswordHash,
    /// Whether it is staff.
    pub is_staff: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("testuser").is_ok());
        assert!(Username::parse("a.b+c-d_e@f").is_ok());
        assert!(Username::parse("Zoë").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("semi;colon").is_err());
        assert!(Username::parse(&"a".repeat(150)).is_ok());
        assert!(Username::parse(&"a".repeat(151)).is_err());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("test@example.com").is_ok());
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a@").is_err());
        assert!(Email::parse("Ann <ann@example.com>").is_err());
        assert!(Email::parse("").is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("testpassword", "testuser").is_ok());
        assert!(Password::parse("short", "testuser").is_err());
        assert!(Password::parse("testuser", "TestUser").is_err());
        assert!(Password::parse(&"x".repeat(128), "u").is_ok());
        assert!(Password::parse(&"x".repeat(129), "u").is_err());
        for common in [
            "password",
            "12345678",
            "qwerty123",
            "PASSWORD1",
            "iloveyou1",
        ] {
            let refusal = Password::parse(common, "u").unwrap_err();
            assert!(refusal.contains("too common"), "{common}: {refusal}");
        }
        // The old shop's documented example keeps registering.
        assert!(Password::parse("testpassword", "u").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("testpassword", "u")),
            "Ok(Password(…))"
        );
    }
}
