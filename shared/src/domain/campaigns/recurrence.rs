//! A campaign's recurrence (contract section 13): an RFC 5545 rule
//! (`FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9`) in an IANA time zone, with an
//! optional end. Runs fall on the rule's occurrences from the campaign's
//! start (its `send_at`, or its acceptance). A rule with `BYHOUR` but no
//! `BYMINUTE` (or `BYSECOND`) means on the hour: the minute and second are
//! 0, not the start's.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::campaigns::invalid;
use crate::error::Result;

/// Longest rule.
pub const MAX_RULE_LEN: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub rrule: String,
    pub timezone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl Recurrence {
    /// Parses `{"rrule", "timezone", "until"?}`; a bad part is a `400`
    /// naming `recurrence.<part>`.
    pub fn from_value(value: Value) -> Result<Recurrence> {
        let Value::Object(mut fields) = value else {
            return Err(invalid(
                "recurrence",
                "must be an object {rrule, timezone, until?}",
            ));
        };
        if let Some(key) = fields
            .keys()
            .find(|k| !["rrule", "timezone", "until"].contains(&k.as_str()))
        {
            return Err(invalid(
                &format!("recurrence.{key}"),
                "unknown field; a recurrence has rrule, timezone, until",
            ));
        }
        let text =
            |fields: &mut serde_json::Map<String, Value>, name: &str| match fields.remove(name) {
                Some(Value::String(s)) => Ok(Some(s)),
                None | Some(Value::Null) => Ok(None),
                Some(_) => Err(invalid(&format!("recurrence.{name}"), "must be a string")),
            };
        let rrule = text(&mut fields, "rrule")?.ok_or_else(|| {
            invalid(
                "recurrence.rrule",
                "is required, such as FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9",
            )
        })?;
        let timezone = text(&mut fields, "timezone")?.ok_or_else(|| {
            invalid(
                "recurrence.timezone",
                "is required: an IANA zone such as Europe/Rome",
            )
        })?;
        let until = text(&mut fields, "until")?
            .map(|u| crate::domain::parse_time("invalid_field", "recurrence.until", &u))
            .transpose()?;
        let recurrence = Recurrence {
            rrule: rrule.trim().trim_start_matches("RRULE:").to_owned(),
            timezone,
            until,
        };
        if recurrence.rrule.len() > MAX_RULE_LEN {
            return Err(invalid(
                "recurrence.rrule",
                &format!("at most {MAX_RULE_LEN} characters"),
            ));
        }
        recurrence.zone()?;
        // A rule that yields no occurrence at all is refused too.
        recurrence.rule(Utc::now())?;
        Ok(recurrence)
    }

    fn zone(&self) -> Result<Tz> {
        self.timezone.parse::<Tz>().map_err(|_| {
            invalid(
                "recurrence.timezone",
                "must be an IANA time zone such as Europe/Rome",
            )
        })
    }

    /// The rule text with the on-the-hour defaults.
    fn rule_text(&self) -> String {
        let upper = self.rrule.to_ascii_uppercase();
        let mut rule = self.rrule.clone();
        if upper.contains("BYHOUR") && !upper.contains("BYMINUTE") {
            rule.push_str(";BYMINUTE=0");
        }
        if (upper.contains("BYHOUR") || upper.contains("BYMINUTE")) && !upper.contains("BYSECOND") {
            rule.push_str(";BYSECOND=0");
        }
        rule
    }

    fn rule(&self, start: DateTime<Utc>) -> Result<rrule::RRuleSet> {
        let zone = self.zone()?;
        let unvalidated: rrule::RRule<rrule::Unvalidated> = self
            .rule_text()
            .parse()
            .map_err(|e| invalid("recurrence.rrule", &format!("not an RFC 5545 rule: {e}")))?;
        // Whole seconds: RFC 5545 has no fractions, and a start with some
        // would not be an occurrence of its own rule.
        let start = DateTime::from_timestamp(start.timestamp(), 0)
            .unwrap_or(start)
            .with_timezone(&rrule::Tz::Tz(zone));
        unvalidated
            .build(start)
            .map_err(|e| invalid("recurrence.rrule", &format!("not a usable rule: {e}")))
    }

    /// The first occurrence at or after `after`, if there is one before
    /// the end; occurrences are counted from `start`.
    pub fn next(&self, start: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let set = self.rule(start).ok()?;
        let zone = self.zone().ok()?;
        // Occurrences are whole seconds: one in the second `after` falls in
        // counts as at or after it.
        let from =
            DateTime::from_timestamp(after.timestamp(), 0)?.with_timezone(&rrule::Tz::Tz(zone));
        let found = set.after(from).all(2);
        let next = found
            .dates
            .iter()
            .map(|d| d.with_timezone(&Utc))
            .find(|d| *d >= from.with_timezone(&Utc))?;
        match self.until {
            Some(until) if next > until => None,
            _ => Some(next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn monthly_on_the_first_at_nine_in_rome() {
        let r = Recurrence::from_value(
            json!({"rrule": "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9", "timezone": "Europe/Rome"}),
        )
        .expect("valid");
        let start = at(2026, 12, 5, 12, 34);
        // 9:00 in Rome is 8:00 UTC in winter, 7:00 in summer.
        assert_eq!(r.next(start, start), Some(at(2027, 1, 1, 8, 0)));
        assert_eq!(
            r.next(start, at(2027, 1, 1, 8, 0)),
            Some(at(2027, 1, 1, 8, 0))
        );
        assert_eq!(
            r.next(start, at(2027, 1, 1, 8, 1)),
            Some(at(2027, 2, 1, 8, 0))
        );
        assert_eq!(
            r.next(start, at(2027, 6, 2, 0, 0)),
            Some(at(2027, 7, 1, 7, 0))
        );
    }

    #[test]
    fn every_six_months_until_an_end() {
        let r = Recurrence::from_value(
            json!({"rrule": "FREQ=MONTHLY;INTERVAL=6", "timezone": "UTC",
            "until": "2027-12-01T00:00:00Z"}),
        )
        .expect("valid");
        let start = at(2026, 12, 5, 10, 0);
        assert_eq!(r.next(start, start), Some(start));
        assert_eq!(
            r.next(start, start + chrono::Duration::minutes(1)),
            Some(at(2027, 6, 5, 10, 0))
        );
        assert_eq!(r.next(start, at(2027, 6, 6, 0, 0)), None, "past the end");
    }

    #[test]
    fn a_start_with_a_fraction_of_a_second_is_the_first_occurrence() {
        let r = Recurrence::from_value(
            json!({"rrule": "FREQ=SECONDLY;INTERVAL=3;COUNT=2", "timezone": "Europe/Rome"}),
        )
        .expect("valid");
        let start = at(2026, 12, 5, 10, 0) + chrono::Duration::milliseconds(388);
        let first = r.next(start, start).expect("a first");
        assert_eq!(first, at(2026, 12, 5, 10, 0));
        let second = r
            .next(start, first + chrono::Duration::seconds(1))
            .expect("a second");
        assert_eq!(second, first + chrono::Duration::seconds(3));
        assert_eq!(
            r.next(start, second + chrono::Duration::seconds(1)),
            None,
            "COUNT=2"
        );
    }

    #[test]
    fn bad_parts_are_named() {
        for (value, field) in [
            (
                json!({"rrule": "FREQ=SOMETIMES", "timezone": "UTC"}),
                "recurrence.rrule",
            ),
            (
                json!({"rrule": "FREQ=DAILY", "timezone": "Mars/Base"}),
                "recurrence.timezone",
            ),
            (json!({"timezone": "UTC"}), "recurrence.rrule"),
            (json!({"rrule": "FREQ=DAILY"}), "recurrence.timezone"),
            (
                json!({"rrule": "FREQ=DAILY", "timezone": "UTC", "until": "soon"}),
                "recurrence.until",
            ),
            (
                json!({"rrule": "FREQ=DAILY", "timezone": "UTC", "every": 1}),
                "recurrence.every",
            ),
            (json!("FREQ=DAILY"), "recurrence"),
        ] {
            let e = Recurrence::from_value(value.clone()).expect_err("refused");
            assert_eq!(e.field(), Some(field), "{value}");
        }
    }
}
