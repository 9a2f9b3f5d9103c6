//! Reading raw setting values: durations, numbers, booleans. Each error names the
//! variable and never echoes the value.

use std::fmt;
use std::time::Duration;

use super::ConfigError;

pub(super) fn duration(
    var: &'static str,
    raw: &str,
    min: Duration,
) -> Result<Duration, ConfigError> {
    let value = humantime::parse_duration(raw.trim())
        .map_err(|_| ConfigError::new(var, "expected a duration like 15m, 30s or 7d"))?;
    if value < min {
        return Err(ConfigError::new(
            var,
            format!("must be at least {}", humantime::format_duration(min)),
        ));
    }
    Ok(value)
}

/// A socket address such as `example`.
pub(super) fn address(
    var: &'static str,
    raw: &str,
    example: &str,
) -> Result<std::net::SocketAddr, ConfigError> {
    raw.trim()
        .parse()
        .map_err(|_| ConfigError::new(var, format!("expected an address like {example}")))
}

pub(super) fn number<T: std::str::FromStr + PartialOrd + fmt::Display>(
    var: &'static str,
    raw: &str,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|v| *v >= min && *v <= max)
        .ok_or_else(|| {
            ConfigError::new(var, format!("expected a whole number from {min} to {max}"))
        })
}

pub(super) fn boolean(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(var, "expected true or false")),
    }
}

pub(super) fn non_empty(var: &'static str, raw: String) -> Result<String, ConfigError> {
    if raw.trim().is_empty() {
        Err(ConfigError::new(var, "must not be empty"))
    } else {
        Ok(raw)
    }
}

/// `value` if it is at most `max`.
pub(super) fn at_most(
    var: &'static str,
    value: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    if value > max {
        return Err(ConfigError::new(
            var,
            format!("must be at most {}", humantime::format_duration(max)),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_duration_names_the_variable() {
        let err = duration("TESSERA_ACCESS_TTL", "soon", Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TESSERA_ACCESS_TTL: expected a duration like 15m, 30s or 7d"
        );
    }

    #[test]
    fn numbers_outside_their_range_are_refused() {
        assert!(number::<u32>("TESSERA_BCRYPT_COST", "3", 4, 31).is_err());
        assert!(number::<u32>("TESSERA_BCRYPT_COST", "32", 4, 31).is_err());
        assert_eq!(number::<u32>("TESSERA_BCRYPT_COST", "4", 4, 31), Ok(4));
    }
}
