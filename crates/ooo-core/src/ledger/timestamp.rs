//! Event timestamps: UTC, exactly six fractional digits, `Z` suffix
//! (`2026-11-25T11:37:24.123456Z`). The fixed width makes text order equal time order,
//! which the backends rely on for time-range queries.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::LedgerError;

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A date alone, as `--after 2026-11-25` accepts.
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The current time in ledger form.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Format any instant in ledger form (converted to UTC, truncated to microseconds).
/// Instants whose UTC form falls outside years 0..=9999 are clamped to that range.
pub fn format(at: OffsetDateTime) -> String {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or_else(|| {
        if at.year() > 0 {
            time::PrimitiveDateTime::MAX.assume_utc()
        } else {
            time::PrimitiveDateTime::MIN.assume_utc()
        }
    });
    utc.format(FORMAT).unwrap_or_else(|_| "0000-01-01T00:00:00.000000Z".to_owned())
}

/// Parse a user-supplied time into ledger form, so it can be compared with stored
/// `occurred_at` values: RFC 3339 (any offset, any precision), or a date alone
/// (`2026-11-25`), which means midnight UTC at the start of that day.
pub fn normalize(text: &str) -> Result<String, LedgerError> {
    if let Ok(date) = time::Date::parse(text, DATE) {
        return Ok(format(date.midnight().assume_utc()));
    }
    let parsed = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            LedgerError::invalid(
                "time",
                format!(
                    "{text:?} is not RFC 3339 or a date ({e}); try 2026-11-25 or 2026-11-25T10:00:00Z"
                ),
            )
        })?;
    Ok(format(parsed))
}

/// Is `text` a timestamp in ledger form (what [`now`] and [`format`] produce)?
pub fn is_ledger_form(text: &str) -> bool {
    time::PrimitiveDateTime::parse(text, FORMAT).is_ok_and(|t| format(t.assume_utc()) == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_utc() {
        let t = now();
        assert_eq!(t.len(), 27, "{t}");
        assert!(t.ends_with('Z'));
        assert_eq!(normalize("2026-11-25T12:00:00+01:00").unwrap(), "2026-11-25T11:00:00.000000Z");
        assert_eq!(
            normalize("2026-11-25T11:00:00.1234567Z").unwrap(),
            "2026-11-25T11:00:00.123456Z"
        );
        assert!(normalize("yesterday").is_err());
        assert_eq!(normalize("2026-12-01").unwrap(), "2026-12-01T00:00:00.000000Z");
        assert!(normalize("2026-13-01").is_err());
        assert!(is_ledger_form(&t));
        assert!(!is_ledger_form("2026-11-25T11:00:00Z"));
        assert!(!is_ledger_form("2026-11-25T11:00:00.123456+01:00"));
        // Converting to UTC would leave year 9999: clamped, not a panic.
        assert_eq!(normalize("9999-12-31T23:59:59-01:00").unwrap(), "9999-12-31T23:59:59.999999Z");
    }
}
