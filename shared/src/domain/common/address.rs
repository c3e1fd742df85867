//! Customer addresses as INC accepts them: an E.164 phone number and a
//! plain email address.

/// An E.164 number: `+` and 8 to 15 digits.
pub fn is_phone(value: &str) -> bool {
    value
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A plain address: one `@`, a dotted domain, no spaces or control
/// characters, at most 254 characters.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    value.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_checks() {
        assert!(
            is_phone("+96599999999")
                && !is_phone("+1")
                && !is_phone("96599999999")
                && !is_phone("+9659999x999")
        );
        assert!(
            is_email("a@example.com")
                && !is_email("a@b")
                && !is_email("a b@c.d")
                && !is_email("a@b.c\r\nBcc: x@y.z")
        );
    }
}
