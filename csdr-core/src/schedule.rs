//! Backup schedules (DESIGN S1–S3): when a schedule fires, what its backups are called, and
//! whether a schedule should fire now.
//!
//! A schedule is written the way Velero (robfig/cron v3) and the FAQ write it:
//!
//! * a standard 5-field cron expression `minute hour day-of-month month day-of-week` with
//!   lists (`1,15`), ranges (`1-5`), steps (`*/15`, `0-30/10`, and `5/15` meaning `5-59/15`),
//!   month names `JAN`–`DEC` and day names `SUN`–`SAT` (any case), day-of-week `0`–`6` from
//!   Sunday with `7` also Sunday, and `?` as a synonym of `*`;
//! * a descriptor: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
//!   `@hourly`, or `@every <interval>`;
//! * a bare interval in humantime syntax: `6h30m`, `90m`, `1d`.
//!
//! **Day matching** follows Vixie cron as robfig/cron v3 (and so Velero) implements it: when
//! both day fields are restricted, a day matches if EITHER matches (`0 2 15 * 1` fires on the
//! 15th and on every Monday); when either day field is unrestricted, both must match. A day
//! field counts as unrestricted when one of its list entries is `*` or `?` without a step, or
//! with step 1 — robfig's rule: `*/2` IS a restriction (robfig clears its "star" bit for steps
//! above 1), while Vixie cron would treat any field starting with `*` as unrestricted.
//!
//! **Evaluation** happens in the schedule's time zone (UTC unless the schedule names one; the
//! caller passes a [`TimeZone`], this module never reads a time-zone database). Local times
//! that do not exist because of a daylight-saving jump are skipped; local times that occur
//! twice fire once, at their first occurrence. Intervals are absolute durations (`1d` is
//! 86 400 seconds) and fire at `anchor + k × interval`, where the anchor is the time passed to
//! [`Schedule::next_after`]: pass the schedule's last run (or its creation time) and the next
//! run is exactly one interval later.
//!
//! ```
//! use csdr_core::schedule::{Schedule, backup_name_for_run};
//! use jiff::{Timestamp, tz::TimeZone};
//!
//! let schedule = Schedule::parse("0 2 15 * 1")?; // 02:00 on the 15th and on Mondays
//! let after: Timestamp = "2026-11-23T22:51:00Z".parse()?;
//! let fires: Vec<String> = schedule
//!     .iter_after(after, &TimeZone::UTC)
//!     .take(4)
//!     .map(|t| t.to_string())
//!     .collect();
//! assert_eq!(
//!     fires,
//!     ["2026-11-30T02:00:00Z", "2026-12-07T02:00:00Z", "2026-12-14T02:00:00Z", "2026-12-15T02:00:00Z"]
//! );
//! let first: Timestamp = "2026-11-30T02:00:00Z".parse()?;
//! assert_eq!(backup_name_for_run("nightly", first), "nightly-20261130020000");
//!
//! let err = Schedule::parse("0 25 * * *").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"invalid cron expression "0 25 * * *": hour 25 out of range 0-23 at position 2"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far ahead (in years) a cron search looks before concluding that the expression never
/// fires. The rarest possible day is February 29th, at most 8 years apart (2096 → 2104).
const SEARCH_YEARS: i16 = 9;

/// What kind of text an error is about; chooses the first words of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subject {
    Cron,
    Interval,
    Schedule,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::Cron => "cron expression",
            Subject::Interval => "interval",
            Subject::Schedule => "schedule",
        })
    }
}

/// A schedule expression that cannot be parsed: the input, the 0-based character position of
/// the problem, and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {subject} {input:?}: {reason} at position {position}")]
pub struct ScheduleError {
    subject: Subject,
    input: String,
    position: usize,
    reason: String,
}

impl ScheduleError {
    fn new(subject: Subject, input: &str, position: usize, reason: impl Into<String>) -> Self {
        ScheduleError {
            subject,
            input: input.to_owned(),
            position,
            reason: reason.into(),
        }
    }

    /// The whole text that was being parsed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The 0-based character (not byte) position in [`input`](Self::input) of the problem.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong, naming the field and the accepted values.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// A parsed schedule: a cron expression or a fixed interval. Displays and serializes as the
/// text it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    source: String,
    rule: Rule,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Cron(CronSpec),
    /// A positive whole number of seconds.
    Every(SignedDuration),
}

impl Schedule {
    /// Parses a cron expression, a descriptor (`@daily`, `@every 6h`) or an interval (`6h30m`).
    /// Leading and trailing whitespace is ignored.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let trimmed = text.trim_start();
        let offset = char_len(&text[..text.len() - trimmed.len()]);
        let trimmed = trimmed.trim_end();
        if trimmed.is_empty() {
            return Err(ScheduleError::new(
                Subject::Schedule,
                text,
                offset,
                "empty schedule (expected a cron expression such as \"1 4 * * *\", \
                 a descriptor such as \"@daily\", or an interval such as \"6h30m\")",
            ));
        }
        let rule = if let Some(descriptor) = trimmed.strip_prefix('@') {
            parse_descriptor(text, descriptor, offset)?
        } else {
            let fields = split_fields(trimmed, offset);
            if fields.len() == 5 {
                Rule::Cron(CronSpec::from_fields(text, &fields)?)
            } else {
                match parse_interval(text, trimmed, offset) {
                    Ok(every) => Rule::Every(every),
                    Err(err) if fields.len() == 1 => return Err(err),
                    Err(_) => {
                        let position = fields.get(5).map_or(offset + char_len(trimmed), |f| f.0);
                        return Err(ScheduleError::new(
                            Subject::Cron,
                            text,
                            position,
                            format!(
                                "expected 5 fields (minute hour day-of-month month \
                                 day-of-week), found {}",
                                fields.len()
                            ),
                        ));
                    }
                }
            }
        };
        Ok(Schedule {
            source: trimmed.to_owned(),
            rule,
        })
    }

    /// The text the schedule was parsed from (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The cron fields, if this is a cron expression or a cron descriptor (`@daily`…).
    pub fn cron(&self) -> Option<&CronSpec> {
        match &self.rule {
            Rule::Cron(spec) => Some(spec),
            Rule::Every(_) => None,
        }
    }

    /// The interval, if this is an interval schedule (`6h30m`, `@every 90m`).
    pub fn interval(&self) -> Option<Duration> {
        match self.rule {
            Rule::Cron(_) => None,
            Rule::Every(every) => Duration::try_from(every).ok(),
        }
    }

    /// The first fire time strictly after `after`, evaluated in `tz`.
    ///
    /// For an interval, this is `after + interval` (pass the last run or the creation time).
    /// `None` when the expression can never fire (`0 0 30 2 *`) or the answer would lie
    /// beyond the representable range of time.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match &self.rule {
            Rule::Cron(spec) => spec.next_after(after, tz),
            Rule::Every(every) => after.checked_add(*every).ok(),
        }
    }

    /// The successive fire times strictly after `after`, in increasing order.
    pub fn iter_after(&self, after: Timestamp, tz: &TimeZone) -> FireTimes<'_> {
        FireTimes {
            schedule: self,
            tz: tz.clone(),
            cursor: Some(after),
        }
    }

    /// The most recent fire time in `(after, until]`, if any: the one run that is caught up
    /// after downtime (S3). For an interval, the fire times are `after + k × interval`.
    pub fn latest_between(
        &self,
        after: Timestamp,
        until: Timestamp,
        tz: &TimeZone,
    ) -> Option<Timestamp> {
        if until <= after {
            return None;
        }
        match &self.rule {
            Rule::Every(every) => {
                let interval = every.as_secs();
                // Whole periods that fit; `periods × interval` ≤ the gap, so no overflow.
                let periods = until.duration_since(after).as_secs() / interval;
                (periods > 0)
                    .then(|| {
                        let elapsed = SignedDuration::from_secs(periods * interval);
                        after.checked_add(elapsed).ok()
                    })
                    .flatten()
            }
            Rule::Cron(_) => {
                // Scan a window ending at `until`, doubling it until it holds a fire time or
                // reaches back to `after`: the work is bounded by the fires in the last window.
                let mut window = SignedDuration::from_hours(24);
                loop {
                    let from = until
                        .checked_sub(window)
                        .ok()
                        .filter(|from| *from > after)
                        .unwrap_or(after);
                    let latest = self
                        .iter_after(from, tz)
                        .take_while(|fire| *fire <= until)
                        .last();
                    if latest.is_some() || from == after {
                        return latest;
                    }
                    window = window.checked_mul(2)?;
                }
            }
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Schedule::parse(text)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The fire times of a schedule after a starting point; see [`Schedule::iter_after`].
#[derive(Clone, Debug)]
pub struct FireTimes<'a> {
    schedule: &'a Schedule,
    tz: TimeZone,
    cursor: Option<Timestamp>,
}

impl Iterator for FireTimes<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        let next = self.schedule.next_after(self.cursor?, &self.tz);
        self.cursor = next;
        next
    }
}

/// The five fields of a cron expression, as sets of allowed values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSpec {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bits 0–6, Sunday = 0 (7 is folded into 0 when parsing).
    days_of_week: u64,
    days_of_month_restricted: bool,
    days_of_week_restricted: bool,
}

/// How one cron field is written: its name, bounds and names.
struct FieldKind {
    name: &'static str,
    min: u32,
    /// The largest value `*` stands for.
    max: u32,
    /// The largest value that may be written (7 for day-of-week, which also means Sunday).
    max_written: u32,
    /// Names for `min`, `min + 1`, … (three letters, matched case-insensitively).
    names: &'static [&'static str],
}

const MINUTE: FieldKind = FieldKind {
    name: "minute",
    min: 0,
    max: 59,
    max_written: 59,
    names: &[],
};
const HOUR: FieldKind = FieldKind {
    name: "hour",
    min: 0,
    max: 23,
    max_written: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldKind = FieldKind {
    name: "day-of-month",
    min: 1,
    max: 31,
    max_written: 31,
    names: &[],
};
const MONTH: FieldKind = FieldKind {
    name: "month",
    min: 1,
    max: 12,
    max_written: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DAY_OF_WEEK: FieldKind = FieldKind {
    name: "day-of-week",
    min: 0,
    max: 6,
    max_written: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// A whitespace-separated field: its character position in the whole input and its text.
type Field<'a> = (usize, &'a str);

fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Splits on whitespace, keeping each piece's character position (`offset` is the character
/// position of `text` in the whole input).
fn split_fields(text: &str, offset: usize) -> Vec<Field<'_>> {
    let mut fields = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, char) where the current field began
    for (chars, (byte, c)) in text.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (true, Some((b, ch))) => {
                fields.push((offset + ch, &text[b..byte]));
                start = None;
            }
            (false, None) => start = Some((byte, chars)),
            _ => {}
        }
    }
    if let Some((b, ch)) = start {
        fields.push((offset + ch, &text[b..]));
    }
    fields
}

fn parse_descriptor(input: &str, descriptor: &str, offset: usize) -> Result<Rule, ScheduleError> {
    let word_end = descriptor
        .find(char::is_whitespace)
        .unwrap_or(descriptor.len());
    let (word, rest) = descriptor.split_at(word_end);
    let cron = match word.to_ascii_lowercase().as_str() {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        "every" => {
            let interval = rest.trim_start();
            let position =
                offset + 1 + char_len(word) + char_len(&rest[..rest.len() - interval.len()]);
            return parse_interval(input, interval, position).map(Rule::Every);
        }
        _ => {
            return Err(ScheduleError::new(
                Subject::Schedule,
                input,
                offset,
                format!(
                    "unknown descriptor \"@{word}\" (expected @yearly, @annually, @monthly, \
                     @weekly, @daily, @midnight, @hourly or @every <interval>)"
                ),
            ));
        }
    };
    if !rest.trim().is_empty() {
        let extra = rest.trim_start();
        let position = offset + 1 + char_len(word) + char_len(&rest[..rest.len() - extra.len()]);
        return Err(ScheduleError::new(
            Subject::Schedule,
            input,
            position,
            format!("unexpected text after \"@{word}\""),
        ));
    }
    let fields = split_fields(cron, 0);
    CronSpec::from_fields(cron, &fields).map(Rule::Cron)
}

/// Parses a humantime interval that starts at character `offset` of `input`.
fn parse_interval(input: &str, text: &str, offset: usize) -> Result<SignedDuration, ScheduleError> {
    let error = |byte: usize, reason: String| {
        let position = offset + char_len(text.get(..byte).unwrap_or(text));
        ScheduleError::new(Subject::Interval, input, position, reason)
    };
    if text.is_empty() {
        return Err(error(
            0,
            "missing interval (expected e.g. \"6h30m\", \"90m\" or \"1d\")".into(),
        ));
    }
    if text.starts_with('-') {
        return Err(error(0, "an interval must be positive".into()));
    }
    let duration = humantime::parse_duration(text).map_err(|err| match err {
        humantime::DurationError::InvalidCharacter(byte) => {
            let c = text
                .get(byte..)
                .and_then(|s| s.chars().next())
                .unwrap_or(' ');
            error(byte, format!("unexpected character {c:?} in interval"))
        }
        humantime::DurationError::NumberExpected(byte) => {
            error(byte, "expected a number (e.g. \"6h30m\")".into())
        }
        humantime::DurationError::UnknownUnit { start, unit, .. } => error(
            start,
            format!("unknown unit {unit:?} (use s, m, h, d, w; e.g. \"6h30m\")"),
        ),
        other => error(0, other.to_string()),
    })?;
    if duration.is_zero() {
        return Err(error(0, "an interval must be greater than zero".into()));
    }
    if duration.subsec_nanos() != 0 {
        return Err(error(
            0,
            "an interval must be a whole number of seconds".into(),
        ));
    }
    let secs = i64::try_from(duration.as_secs())
        .map_err(|_| error(0, "the interval is too large".into()))?;
    Ok(SignedDuration::from_secs(secs))
}

impl CronSpec {
    fn from_fields(input: &str, fields: &[Field<'_>]) -> Result<CronSpec, ScheduleError> {
        let [minute, hour, dom, month, dow] = fields else {
            return Err(ScheduleError::new(
                Subject::Cron,
                input,
                0,
                format!("expected 5 fields, found {}", fields.len()),
            ));
        };
        let (minutes, _) = parse_field(input, *minute, &MINUTE)?;
        let (hours, _) = parse_field(input, *hour, &HOUR)?;
        let (days_of_month, dom_star) = parse_field(input, *dom, &DAY_OF_MONTH)?;
        let (months, _) = parse_field(input, *month, &MONTH)?;
        let (mut days_of_week, dow_star) = parse_field(input, *dow, &DAY_OF_WEEK)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        Ok(CronSpec {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            days_of_month_restricted: !dom_star,
            days_of_week_restricted: !dow_star,
        })
    }

    /// Whether the expression fires at this local date and time (seconds must be zero).
    pub fn matches(&self, at: DateTime) -> bool {
        let bit = |set: u64, value: i8| {
            u32::try_from(value).is_ok_and(|v| v < 64 && set & (1u64 << v) != 0)
        };
        if at.second() != 0 || at.subsec_nanosecond() != 0 {
            return false;
        }
        if !(bit(self.minutes, at.minute())
            && bit(self.hours, at.hour())
            && bit(self.months, at.month()))
        {
            return false;
        }
        let dom = bit(self.days_of_month, at.day());
        let dow = bit(self.days_of_week, at.weekday().to_sunday_zero_offset());
        if self.days_of_month_restricted && self.days_of_week_restricted {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// Whether the two day fields are combined with OR (both are restricted: a day matches
    /// when either field does) rather than AND (at least one of them is unrestricted).
    pub fn days_combined_with_or(&self) -> bool {
        self.days_of_month_restricted && self.days_of_week_restricted
    }

    fn has(set: u64, value: i8) -> bool {
        (0..64).contains(&value) && set & (1u64 << value) != 0
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = Self::has(self.days_of_month, date.day());
        let dow = Self::has(self.days_of_week, date.weekday().to_sunday_zero_offset());
        if self.days_combined_with_or() {
            dom || dow
        } else {
            dom && dow
        }
    }

    fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(after);
        // The first whole local minute strictly after `after`'s local time.
        let start = local
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(SignedDuration::from_mins(1))
            .ok()?;
        let last_year = start.year().saturating_add(SEARCH_YEARS);
        let mut date = start.date();
        let mut first_day = true;
        while date.year() <= last_year {
            if !Self::has(self.months, date.month()) {
                date = date
                    .first_of_month()
                    .checked_add(jiff::Span::new().months(1))
                    .ok()?;
                first_day = false;
                continue;
            }
            if self.day_matches(date) {
                let (from_hour, from_minute) = if first_day {
                    (start.hour(), start.minute())
                } else {
                    (0, 0)
                };
                for hour in (from_hour..24).filter(|h| Self::has(self.hours, *h)) {
                    let minute_floor = if first_day && hour == from_hour {
                        from_minute
                    } else {
                        0
                    };
                    for minute in (minute_floor..60).filter(|m| Self::has(self.minutes, *m)) {
                        let civil = date.at(hour, minute, 0, 0);
                        if let Some(fire) = resolve_local(civil, tz).filter(|t| *t > after) {
                            return Some(fire);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
            first_day = false;
        }
        None
    }
}

/// The instant of a local time: `None` in a daylight-saving gap (the time does not exist),
/// the first occurrence in a fold (the time happens twice; it fires once).
fn resolve_local(civil: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(civil).ok(),
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(civil).ok(),
    }
}

/// Parses one cron field into a bit set; also says whether it is unrestricted (robfig's
/// "star" rule: some list entry is `*` or `?` with no step or step 1).
fn parse_field(
    input: &str,
    field: Field<'_>,
    kind: &FieldKind,
) -> Result<(u64, bool), ScheduleError> {
    let (field_position, text) = field;
    let mut bits = 0u64;
    let mut star = false;
    let mut byte = 0;
    for entry in text.split(',') {
        let at = |inner: usize| field_position + char_len(&text[..byte + inner]);
        let err = |inner: usize, reason: String| {
            ScheduleError::new(Subject::Cron, input, at(inner), reason)
        };
        if entry.is_empty() {
            return Err(err(0, format!("empty entry in the {} list", kind.name)));
        }
        let (base, step) = match entry.split_once('/') {
            Some((base, step)) => {
                let step_at = base.len() + 1;
                if step.contains('/') {
                    let extra = step_at + step.find('/').unwrap_or(0);
                    return Err(err(
                        extra,
                        format!("too many '/' in {} {entry:?}", kind.name),
                    ));
                }
                let value = step
                    .parse::<u32>()
                    .ok()
                    .filter(|s| step.bytes().all(|b| b.is_ascii_digit()) && *s > 0)
                    .ok_or_else(|| {
                        err(
                            step_at,
                            format!("{} step {step:?} must be a positive number", kind.name),
                        )
                    })?;
                (base, Some(value))
            }
            None => (entry, None),
        };
        let (low, high) = if base == "*" || base == "?" {
            star |= step.is_none_or(|s| s == 1);
            (kind.min, kind.max)
        } else {
            match base.split_once('-') {
                Some((low_text, high_text)) => {
                    let low = parse_value(low_text, kind).map_err(|r| err(0, r))?;
                    let high_at = low_text.len() + 1;
                    let high = parse_value(high_text, kind).map_err(|r| err(high_at, r))?;
                    if low > high {
                        return Err(err(
                            0,
                            format!(
                                "{} range {base} runs backwards (start after end)",
                                kind.name
                            ),
                        ));
                    }
                    (low, high)
                }
                // `n/step` runs from n to the field's maximum (robfig).
                None => {
                    let value = parse_value(base, kind).map_err(|r| err(0, r))?;
                    (
                        value,
                        if step.is_some() {
                            kind.max.max(value)
                        } else {
                            value
                        },
                    )
                }
            }
        };
        let step = step.unwrap_or(1) as usize;
        for value in (low..=high).step_by(step) {
            bits |= 1u64 << value;
        }
        byte += entry.len() + 1;
    }
    Ok((bits, star))
}

/// Parses a number or a three-letter name of a field, checking its bounds.
fn parse_value(text: &str, kind: &FieldKind) -> Result<u32, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let value = text.parse::<u32>().unwrap_or(u32::MAX);
        if value < kind.min || value > kind.max_written {
            let shown = if text.len() > 10 { "(too large)" } else { text };
            return Err(format!(
                "{} {shown} out of range {}-{}",
                kind.name, kind.min, kind.max_written
            ));
        }
        return Ok(value);
    }
    if let Some(index) = kind
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(kind.min + index as u32);
    }
    Err(match (kind.names.first(), kind.names.last()) {
        (Some(first), Some(last)) => format!(
            "{} {text:?} is neither a number ({}-{}) nor a name ({first}-{last})",
            kind.name, kind.min, kind.max_written
        ),
        _ => format!(
            "{} {text:?} is not a number ({}-{})",
            kind.name, kind.min, kind.max_written
        ),
    })
}

/// The name of the backup a schedule's run creates: `<schedule>-<yyyyMMddHHmmss>`, the fire
/// time written in UTC.
pub fn backup_name_for_run(schedule_name: &str, fire_time: Timestamp) -> String {
    format!("{schedule_name}-{}", fire_time.strftime("%Y%m%d%H%M%S"))
}

/// What a schedule's controller knows when it decides whether to fire (S3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleState {
    /// A paused schedule fires nothing.
    pub paused: bool,
    /// When the schedule was created: the anchor until it first runs.
    pub created: Timestamp,
    /// The scheduled time of the most recent run (the `scheduled_for` of the last
    /// [`RunDecision::Fire`] acted on), if it ever ran.
    pub last_run: Option<Timestamp>,
    /// Whether a backup from this schedule is still in progress.
    pub run_in_progress: bool,
}

/// What to do now about a schedule; see [`decide_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunDecision {
    /// Start a backup now for this scheduled time (name it with [`backup_name_for_run`] and
    /// record `scheduled_for` as the last run).
    Fire {
        /// The fire time the run stands for; earlier than now when a missed run is caught up.
        scheduled_for: Timestamp,
    },
    /// Nothing is due; decide again at `next`.
    Wait {
        /// The next fire time.
        next: Timestamp,
    },
    /// A run is due or could be, but must not start.
    Skip {
        /// Why not.
        reason: SkipReason,
    },
}

/// Why a schedule does not fire; see [`RunDecision::Skip`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The schedule is paused.
    Paused,
    /// A run is due but the previous one is still in progress; runs never overlap. Decide
    /// again when it finishes: the due run is then caught up (once).
    RunInProgress {
        /// The fire time that is due.
        due: Timestamp,
    },
    /// The expression never fires (e.g. `0 0 30 2 *`).
    NeverFires,
}

/// Decides whether a schedule fires now (S3):
///
/// * paused → [`SkipReason::Paused`];
/// * nothing due since the last run (or since creation) → [`RunDecision::Wait`];
/// * due while a run is in progress → [`SkipReason::RunInProgress`] (no overlap);
/// * due → [`RunDecision::Fire`] for the most recent due time only: after downtime at most one
///   missed run is caught up, and the schedule continues on its normal times after it. For an
///   interval, the caught-up time stays on the `anchor + k × interval` grid.
pub fn decide_run(
    schedule: &Schedule,
    tz: &TimeZone,
    state: &ScheduleState,
    now: Timestamp,
) -> RunDecision {
    if state.paused {
        return RunDecision::Skip {
            reason: SkipReason::Paused,
        };
    }
    let anchor = state.last_run.unwrap_or(state.created);
    let Some(next) = schedule.next_after(anchor, tz) else {
        return RunDecision::Skip {
            reason: SkipReason::NeverFires,
        };
    };
    if next > now {
        return RunDecision::Wait { next };
    }
    let due = schedule.latest_between(anchor, now, tz).unwrap_or(next);
    if state.run_in_progress {
        RunDecision::Skip {
            reason: SkipReason::RunInProgress { due },
        }
    } else {
        RunDecision::Fire { scheduled_for: due }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn utc_fires(expr: &str, after: &str, n: usize) -> Vec<String> {
        Schedule::parse(expr)
            .unwrap()
            .iter_after(ts(after), &TimeZone::UTC)
            .take(n)
            .map(|t| t.to_string())
            .collect()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_are_restricted() {
        // The FAQ's example under standard (Vixie/Velero) semantics: the 15th OR Mondays.
        assert_eq!(
            utc_fires("0 2 15 * 1", "2026-11-23T22:51:00Z", 4),
            [
                "2026-11-30T02:00:00Z",
                "2026-12-07T02:00:00Z",
                "2026-12-14T02:00:00Z",
                "2026-12-15T02:00:00Z",
            ]
        );
    }

    #[test]
    fn faq_daily_example_fires_at_0401() {
        assert_eq!(
            utc_fires("1 4 * * *", "2026-03-01T04:00:59Z", 3),
            [
                "2026-03-01T04:01:00Z",
                "2026-03-02T04:01:00Z",
                "2026-03-03T04:01:00Z",
            ]
        );
        // Strictly after: the fire time itself is not returned again.
        assert_eq!(
            utc_fires("1 4 * * *", "2026-03-01T04:01:00Z", 1),
            ["2026-03-02T04:01:00Z"]
        );
    }

    #[test]
    fn hand_checked_fire_times() {
        let table: &[(&str, &str, &[&str])] = &[
            // 2026-01-01 is a Thursday: 7, 0, SUN and sun are all Sunday the 4th.
            (
                "0 0 * * 7",
                "2026-01-01T00:00:00Z",
                &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"],
            ),
            (
                "0 0 * * 0",
                "2026-01-01T00:00:00Z",
                &["2026-01-04T00:00:00Z"],
            ),
            (
                "0 0 * * sun",
                "2026-01-01T00:00:00Z",
                &["2026-01-04T00:00:00Z"],
            ),
            // Fri-Sun through 7: 2nd (Fri), 3rd (Sat), 4th (Sun), then Fri 9th.
            (
                "0 0 * * 5-7",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-01-02T00:00:00Z",
                    "2026-01-03T00:00:00Z",
                    "2026-01-04T00:00:00Z",
                    "2026-01-09T00:00:00Z",
                ],
            ),
            // Month names, any case, in a range.
            (
                "0 12 1 mar-MAY *",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-03-01T12:00:00Z",
                    "2026-04-01T12:00:00Z",
                    "2026-05-01T12:00:00Z",
                    "2027-03-01T12:00:00Z",
                ],
            ),
            // Day names in a list: Monday 2026-01-05, Wednesday 7th, Friday 9th.
            (
                "30 6 * JAN Mon,WED,fri",
                "2026-01-04T00:00:00Z",
                &[
                    "2026-01-05T06:30:00Z",
                    "2026-01-07T06:30:00Z",
                    "2026-01-09T06:30:00Z",
                ],
            ),
            // Steps.
            (
                "*/15 * * * *",
                "2026-05-05T10:07:00Z",
                &[
                    "2026-05-05T10:15:00Z",
                    "2026-05-05T10:30:00Z",
                    "2026-05-05T10:45:00Z",
                    "2026-05-05T11:00:00Z",
                ],
            ),
            (
                "10-30/10 9 * * *",
                "2026-05-05T09:10:00Z",
                &[
                    "2026-05-05T09:20:00Z",
                    "2026-05-05T09:30:00Z",
                    "2026-05-06T09:10:00Z",
                ],
            ),
            // `n/step` runs from n to the end of the field (robfig).
            (
                "5/20 * * * *",
                "2026-05-05T10:00:00Z",
                &[
                    "2026-05-05T10:05:00Z",
                    "2026-05-05T10:25:00Z",
                    "2026-05-05T10:45:00Z",
                    "2026-05-05T11:05:00Z",
                ],
            ),
            // Ranges and lists in the hour field.
            (
                "0 1-2,22 * * *",
                "2026-05-05T12:00:00Z",
                &[
                    "2026-05-05T22:00:00Z",
                    "2026-05-06T01:00:00Z",
                    "2026-05-06T02:00:00Z",
                ],
            ),
            // February 29th, including the 8-year gap over 2100.
            (
                "0 0 29 2 *",
                "2025-01-01T00:00:00Z",
                &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
            ),
            (
                "0 0 29 2 *",
                "2096-03-01T00:00:00Z",
                &["2104-02-29T00:00:00Z"],
            ),
            // The 31st skips short months.
            (
                "0 0 31 * *",
                "2026-04-01T00:00:00Z",
                &["2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"],
            ),
            // robfig's star rule: `*/2` restricts (OR with Mondays); `*/1` and `?` do not.
            (
                "0 0 */2 * 1",
                "2026-02-01T00:00:00Z",
                &[
                    "2026-02-02T00:00:00Z",
                    "2026-02-03T00:00:00Z",
                    "2026-02-05T00:00:00Z",
                    "2026-02-07T00:00:00Z",
                ],
            ),
            (
                "0 0 */1 * 1",
                "2026-02-01T00:00:00Z",
                &["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"],
            ),
            (
                "0 0 ? * 1",
                "2026-02-01T00:00:00Z",
                &["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"],
            ),
            (
                "0 0 1 * ?",
                "2026-02-02T00:00:00Z",
                &["2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"],
            ),
            // `0 0 30 2 1`: February 30th never exists, but Mondays do (OR).
            (
                "0 0 30 2 1",
                "2026-01-01T00:00:00Z",
                &["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"],
            ),
            // Descriptors.
            ("@hourly", "2026-05-05T10:07:00Z", &["2026-05-05T11:00:00Z"]),
            ("@daily", "2026-05-05T10:07:00Z", &["2026-05-06T00:00:00Z"]),
            (
                "@midnight",
                "2026-05-05T10:07:00Z",
                &["2026-05-06T00:00:00Z"],
            ),
            ("@weekly", "2026-01-01T00:00:00Z", &["2026-01-04T00:00:00Z"]),
            (
                "@monthly",
                "2026-05-05T10:07:00Z",
                &["2026-06-01T00:00:00Z"],
            ),
            ("@yearly", "2026-05-05T10:07:00Z", &["2027-01-01T00:00:00Z"]),
            (
                "@ANNUALLY",
                "2026-05-05T10:07:00Z",
                &["2027-01-01T00:00:00Z"],
            ),
            // Intervals fire one interval after the anchor, and on from there.
            (
                "6h30m",
                "2026-05-05T10:07:00Z",
                &["2026-05-05T16:37:00Z", "2026-05-05T23:07:00Z"],
            ),
            (
                "@every 90m",
                "2026-05-05T10:07:00Z",
                &["2026-05-05T11:37:00Z"],
            ),
            ("1d", "2026-05-05T10:07:00Z", &["2026-05-06T10:07:00Z"]),
            (
                "  @every   2h  ",
                "2026-05-05T10:07:00Z",
                &["2026-05-05T12:07:00Z"],
            ),
        ];
        for (expr, after, expected) in table {
            assert_eq!(
                utc_fires(expr, after, expected.len()),
                *expected,
                "{expr} after {after}"
            );
        }
    }

    #[test]
    fn expressions_that_never_fire_yield_none() {
        for expr in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 ?"] {
            let schedule = Schedule::parse(expr).unwrap();
            assert_eq!(
                schedule.next_after(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC),
                None,
                "{expr}"
            );
            assert_eq!(
                schedule
                    .iter_after(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC)
                    .next(),
                None
            );
        }
    }

    #[test]
    fn interval_accessors() {
        let schedule = Schedule::parse("6h30m").unwrap();
        assert_eq!(schedule.interval(), Some(Duration::from_secs(23_400)));
        assert!(schedule.cron().is_none());
        assert_eq!(schedule.as_str(), "6h30m");
        let cron = Schedule::parse(" 0 2 15 * 1 ").unwrap();
        assert_eq!(cron.interval(), None);
        assert!(cron.cron().unwrap().days_combined_with_or());
        assert!(
            !Schedule::parse("0 2 * * 1")
                .unwrap()
                .cron()
                .unwrap()
                .days_combined_with_or()
        );
        assert_eq!(cron.to_string(), "0 2 15 * 1");
    }

    #[test]
    fn invalid_expressions_name_position_and_reason() {
        let table = [
            (
                "0 25 * * *",
                r#"invalid cron expression "0 25 * * *": hour 25 out of range 0-23 at position 2"#,
            ),
            (
                "61 * * * *",
                r#"invalid cron expression "61 * * * *": minute 61 out of range 0-59 at position 0"#,
            ),
            (
                "* * 0 * *",
                r#"invalid cron expression "* * 0 * *": day-of-month 0 out of range 1-31 at position 4"#,
            ),
            (
                "* * * 13 *",
                r#"invalid cron expression "* * * 13 *": month 13 out of range 1-12 at position 6"#,
            ),
            (
                "* * * * 8",
                r#"invalid cron expression "* * * * 8": day-of-week 8 out of range 0-7 at position 8"#,
            ),
            (
                "0 2 15 * 1-9",
                r#"invalid cron expression "0 2 15 * 1-9": day-of-week 9 out of range 0-7 at position 11"#,
            ),
            (
                "* * * FOO *",
                r#"invalid cron expression "* * * FOO *": month "FOO" is neither a number (1-12) nor a name (JAN-DEC) at position 6"#,
            ),
            (
                "* * * * MONDAY",
                r#"invalid cron expression "* * * * MONDAY": day-of-week "MONDAY" is neither a number (0-7) nor a name (SUN-SAT) at position 8"#,
            ),
            (
                "x * * * *",
                r#"invalid cron expression "x * * * *": minute "x" is not a number (0-59) at position 0"#,
            ),
            (
                "*/0 * * * *",
                r#"invalid cron expression "*/0 * * * *": minute step "0" must be a positive number at position 2"#,
            ),
            (
                "1-5/x * * * *",
                r#"invalid cron expression "1-5/x * * * *": minute step "x" must be a positive number at position 4"#,
            ),
            (
                "1/2/3 * * * *",
                r#"invalid cron expression "1/2/3 * * * *": too many '/' in minute "1/2/3" at position 3"#,
            ),
            (
                "5-1 * * * *",
                r#"invalid cron expression "5-1 * * * *": minute range 5-1 runs backwards (start after end) at position 0"#,
            ),
            (
                "1,,2 * * * *",
                r#"invalid cron expression "1,,2 * * * *": empty entry in the minute list at position 2"#,
            ),
            (
                "0 0,1-x * * *",
                r#"invalid cron expression "0 0,1-x * * *": hour "x" is not a number (0-23) at position 6"#,
            ),
            (
                "* * * *",
                r#"invalid cron expression "* * * *": expected 5 fields (minute hour day-of-month month day-of-week), found 4 at position 7"#,
            ),
            (
                "* * * * * *",
                r#"invalid cron expression "* * * * * *": expected 5 fields (minute hour day-of-month month day-of-week), found 6 at position 10"#,
            ),
            (
                "  0 25 * * *",
                r#"invalid cron expression "  0 25 * * *": hour 25 out of range 0-23 at position 4"#,
            ),
            // Positions count characters, not bytes (U+3000 is a 3-byte space); the message shows
            // the input escaped, so invisible characters can be seen.
            (
                "0\u{3000}25 * * *",
                "invalid cron expression \"0\\u{3000}25 * * *\": hour 25 out of range 0-23 at position 2",
            ),
            (
                "6x",
                r#"invalid interval "6x": unknown unit "x" (use s, m, h, d, w; e.g. "6h30m") at position 1"#,
            ),
            (
                "0s",
                r#"invalid interval "0s": an interval must be greater than zero at position 0"#,
            ),
            (
                "-5m",
                r#"invalid interval "-5m": an interval must be positive at position 0"#,
            ),
            (
                "1500ms",
                r#"invalid interval "1500ms": an interval must be a whole number of seconds at position 0"#,
            ),
            (
                "@every 0m",
                r#"invalid interval "@every 0m": an interval must be greater than zero at position 7"#,
            ),
            (
                "@every",
                r#"invalid interval "@every": missing interval (expected e.g. "6h30m", "90m" or "1d") at position 6"#,
            ),
            (
                "@every 1h!",
                r#"invalid interval "@every 1h!": unexpected character '!' in interval at position 9"#,
            ),
            (
                "@fortnightly",
                r#"invalid schedule "@fortnightly": unknown descriptor "@fortnightly" (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <interval>) at position 0"#,
            ),
            (
                "@daily now",
                r#"invalid schedule "@daily now": unexpected text after "@daily" at position 7"#,
            ),
            (
                "   ",
                r#"invalid schedule "   ": empty schedule (expected a cron expression such as "1 4 * * *", a descriptor such as "@daily", or an interval such as "6h30m") at position 3"#,
            ),
        ];
        for (input, expected) in table {
            let err = Schedule::parse(input).unwrap_err();
            assert_eq!(err.to_string(), expected, "{input:?}");
            assert_eq!(err.input(), input);
        }
        let err = Schedule::parse("0 25 * * *").unwrap_err();
        assert_eq!(
            (err.position(), err.reason()),
            (2, "hour 25 out of range 0-23")
        );
        // Converts into the crate's error.
        let crate_err: crate::Error = err.into();
        assert!(crate_err.to_string().contains("hour 25"));
    }

    #[test]
    fn serde_uses_the_text_and_validates() {
        let schedule: Schedule = serde_json::from_str("\"@every 6h\"").unwrap();
        assert_eq!(schedule.interval(), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(serde_json::to_string(&schedule).unwrap(), "\"@every 6h\"");
        let err = serde_json::from_str::<Schedule>("\"0 25 * * *\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("hour 25 out of range 0-23 at position 2"),
            "{err}"
        );
    }

    #[test]
    fn dst_spring_forward_skips_the_missing_local_time() {
        // Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let schedule = Schedule::parse("30 2 * * *").unwrap();
        let fires: Vec<String> = schedule
            .iter_after(ts("2026-03-27T12:00:00Z"), &berlin())
            .take(3)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            fires,
            [
                "2026-03-28T01:30:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z"
            ]
        );
        // Hourly keeps firing every real hour across the jump.
        let hourly: Vec<String> = Schedule::parse("0 * * * *")
            .unwrap()
            .iter_after(ts("2026-03-28T23:30:00Z"), &berlin())
            .take(3)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            hourly,
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ]
        );
    }

    #[test]
    fn dst_fall_back_fires_a_repeated_local_time_once() {
        // Europe/Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:xx happens twice.
        let daily = Schedule::parse("30 2 * * *").unwrap();
        let fires: Vec<String> = daily
            .iter_after(ts("2026-10-24T12:00:00Z"), &berlin())
            .take(2)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(fires, ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]);
        // Asked from inside the second 02:xx, the repeated 02:30 does not fire again.
        assert_eq!(
            daily.next_after(ts("2026-10-25T01:10:00Z"), &berlin()),
            Some(ts("2026-10-26T01:30:00Z"))
        );
        let half_hourly: Vec<String> = Schedule::parse("*/30 * * * *")
            .unwrap()
            .iter_after(ts("2026-10-24T23:45:00Z"), &berlin())
            .take(3)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            half_hourly,
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T02:00:00Z"
            ]
        );
    }

    #[test]
    fn cron_times_are_local_to_the_zone() {
        // 04:01 in Berlin is 03:01Z in winter and 02:01Z in summer.
        let schedule = Schedule::parse("1 4 * * *").unwrap();
        assert_eq!(
            schedule.next_after(ts("2026-01-10T00:00:00Z"), &berlin()),
            Some(ts("2026-01-10T03:01:00Z"))
        );
        assert_eq!(
            schedule.next_after(ts("2026-07-10T00:00:00Z"), &berlin()),
            Some(ts("2026-07-10T02:01:00Z"))
        );
    }

    #[test]
    fn backup_names_use_utc_seconds() {
        assert_eq!(
            backup_name_for_run("nightly", ts("2026-11-30T02:00:00Z")),
            "nightly-20261130020000"
        );
        assert_eq!(
            backup_name_for_run("s", ts("2026-01-02T03:04:05.9+02:00")),
            "s-20260102010405"
        );
    }

    #[test]
    fn latest_between_finds_the_most_recent_fire_time() {
        let hourly = Schedule::parse("0 * * * *").unwrap();
        let utc = &TimeZone::UTC;
        let latest = |s: &Schedule, a: &str, b: &str| s.latest_between(ts(a), ts(b), utc);
        assert_eq!(
            latest(&hourly, "2026-01-01T00:10:00Z", "2026-01-03T05:20:00Z"),
            Some(ts("2026-01-03T05:00:00Z"))
        );
        assert_eq!(
            latest(&hourly, "2026-01-01T00:10:00Z", "2026-01-01T00:59:00Z"),
            None
        );
        assert_eq!(
            latest(&hourly, "2026-01-01T00:10:00Z", "2026-01-01T01:00:00Z"),
            Some(ts("2026-01-01T01:00:00Z"))
        );
        let yearly = Schedule::parse("@yearly").unwrap();
        assert_eq!(
            latest(&yearly, "2001-06-01T00:00:00Z", "2026-05-01T00:00:00Z"),
            Some(ts("2026-01-01T00:00:00Z"))
        );
        let interval = Schedule::parse("6h30m").unwrap();
        assert_eq!(
            latest(&interval, "2026-01-01T00:00:00Z", "2026-01-01T20:00:00Z"),
            Some(ts("2026-01-01T19:30:00Z"))
        );
        assert_eq!(
            latest(&interval, "2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z"),
            None
        );
        let never = Schedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(
            latest(&never, "1990-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            None
        );
    }

    fn state(last_run: Option<&str>) -> ScheduleState {
        ScheduleState {
            paused: false,
            created: ts("2026-01-01T00:10:00Z"),
            last_run: last_run.map(ts),
            run_in_progress: false,
        }
    }

    #[test]
    fn decide_run_rules() {
        let hourly = Schedule::parse("0 * * * *").unwrap();
        let interval = Schedule::parse("6h30m").unwrap();
        let never = Schedule::parse("0 0 30 2 *").unwrap();
        let paused = ScheduleState {
            paused: true,
            ..state(None)
        };
        let running = ScheduleState {
            run_in_progress: true,
            ..state(Some("2026-01-01T01:00:00Z"))
        };
        let fire = |at: &str| RunDecision::Fire {
            scheduled_for: ts(at),
        };
        let wait = |at: &str| RunDecision::Wait { next: ts(at) };
        let table: Vec<(&str, &Schedule, ScheduleState, &str, RunDecision)> = vec![
            (
                "not yet due, never ran",
                &hourly,
                state(None),
                "2026-01-01T00:30:00Z",
                wait("2026-01-01T01:00:00Z"),
            ),
            (
                "due exactly now",
                &hourly,
                state(None),
                "2026-01-01T01:00:00Z",
                fire("2026-01-01T01:00:00Z"),
            ),
            (
                "due a little late",
                &hourly,
                state(None),
                "2026-01-01T01:05:00Z",
                fire("2026-01-01T01:00:00Z"),
            ),
            (
                "after downtime only the latest missed run",
                &hourly,
                state(Some("2026-01-01T01:00:00Z")),
                "2026-01-01T05:20:00Z",
                fire("2026-01-01T05:00:00Z"),
            ),
            (
                "after the catch-up, back on schedule",
                &hourly,
                state(Some("2026-01-01T05:00:00Z")),
                "2026-01-01T05:21:00Z",
                wait("2026-01-01T06:00:00Z"),
            ),
            (
                "paused and due",
                &hourly,
                paused,
                "2026-01-01T05:00:00Z",
                RunDecision::Skip {
                    reason: SkipReason::Paused,
                },
            ),
            (
                "paused and not due",
                &hourly,
                paused,
                "2026-01-01T00:20:00Z",
                RunDecision::Skip {
                    reason: SkipReason::Paused,
                },
            ),
            (
                "due while a run is in progress",
                &hourly,
                running,
                "2026-01-01T03:30:00Z",
                RunDecision::Skip {
                    reason: SkipReason::RunInProgress {
                        due: ts("2026-01-01T03:00:00Z"),
                    },
                },
            ),
            (
                "in progress, not due",
                &hourly,
                running,
                "2026-01-01T01:30:00Z",
                wait("2026-01-01T02:00:00Z"),
            ),
            (
                "never fires",
                &never,
                state(None),
                "2026-01-01T05:00:00Z",
                RunDecision::Skip {
                    reason: SkipReason::NeverFires,
                },
            ),
            // Interval anchored at creation (00:10): fires 06:40, 13:10, 19:40, 02:10…
            (
                "interval, first run",
                &interval,
                state(None),
                "2026-01-01T06:40:00Z",
                fire("2026-01-01T06:40:00Z"),
            ),
            (
                "interval, downtime stays on grid",
                &interval,
                state(None),
                "2026-01-01T21:00:00Z",
                fire("2026-01-01T19:40:00Z"),
            ),
            (
                "interval, after the catch-up",
                &interval,
                state(Some("2026-01-01T19:40:00Z")),
                "2026-01-01T21:00:00Z",
                wait("2026-01-02T02:10:00Z"),
            ),
        ];
        for (case, schedule, state, now, expected) in table {
            assert_eq!(
                decide_run(schedule, &TimeZone::UTC, &state, ts(now)),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn a_controller_loop_with_downtime_and_a_long_run() {
        // Ticks every minute from 00:00 to 07:30 for an hourly schedule created at 00:10; the
        // controller is down 01:30–04:45 and the 05:00 run takes 70 minutes.
        let hourly = Schedule::parse("0 * * * *").unwrap();
        let mut st = state(None);
        let mut running_until: Option<Timestamp> = None;
        let mut started = Vec::new();
        let start = ts("2026-01-01T00:00:00Z");
        for minute in 0..=450 {
            let now = start + SignedDuration::from_mins(minute);
            if (90..285).contains(&minute) {
                continue; // down
            }
            st.run_in_progress = running_until.is_some_and(|end| now < end);
            if let RunDecision::Fire { scheduled_for } =
                decide_run(&hourly, &TimeZone::UTC, &st, now)
            {
                started.push((now.to_string(), backup_name_for_run("s", scheduled_for)));
                st.last_run = Some(scheduled_for);
                let length = if scheduled_for == ts("2026-01-01T05:00:00Z") {
                    70
                } else {
                    5
                };
                running_until = Some(now + SignedDuration::from_mins(length));
            }
        }
        let expected = [
            ("2026-01-01T01:00:00Z", "s-20260101010000"),
            // Back at 04:45: one catch-up run for 04:00 (02:00 and 03:00 are dropped).
            ("2026-01-01T04:45:00Z", "s-20260101040000"),
            ("2026-01-01T05:00:00Z", "s-20260101050000"),
            // 06:00 falls inside the 05:00 run (until 06:10): it starts when that one ends.
            ("2026-01-01T06:10:00Z", "s-20260101060000"),
            ("2026-01-01T07:00:00Z", "s-20260101070000"),
        ];
        let got: Vec<(&str, &str)> = started
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(got, expected);
    }

    /// One list entry of a generated cron field.
    #[derive(Clone, Debug)]
    enum Entry {
        Star,
        StarStep(u32),
        One(u32),
        Range(u32, u32),
        RangeStep(u32, u32, u32),
        From(u32, u32),
    }

    fn entry(min: u32, max: u32) -> impl Strategy<Value = Entry> {
        let step = 1..=max.max(1);
        prop_oneof![
            3 => Just(Entry::Star),
            1 => step.clone().prop_map(Entry::StarStep),
            2 => (min..=max).prop_map(Entry::One),
            1 => (min..=max, min..=max).prop_map(|(a, b)| Entry::Range(a.min(b), a.max(b))),
            1 => (min..=max, min..=max, step.clone())
                .prop_map(|(a, b, s)| Entry::RangeStep(a.min(b), a.max(b), s)),
            1 => (min..=max, step).prop_map(|(a, s)| Entry::From(a, s)),
        ]
    }

    fn field(min: u32, max: u32) -> impl Strategy<Value = Vec<Entry>> {
        proptest::collection::vec(entry(min, max), 1..=3)
    }

    /// Writes a field, adding `shift` to every number and spelling values with `names` (when
    /// given) where a name exists.
    fn render(entries: &[Entry], shift: u32, names: Option<(u32, &[&str])>) -> String {
        let value = |v: u32| match names {
            Some((min, names)) if v >= min && ((v - min) as usize) < names.len() => {
                let name = names[(v - min) as usize];
                if v.is_multiple_of(2) {
                    name.to_lowercase()
                } else {
                    name.to_string()
                }
            }
            _ => (v + shift).to_string(),
        };
        entries
            .iter()
            .map(|e| match e {
                Entry::Star => "*".to_string(),
                Entry::StarStep(s) => format!("*/{s}"),
                Entry::One(a) => value(*a),
                Entry::Range(a, b) => format!("{}-{}", value(*a), value(*b)),
                Entry::RangeStep(a, b, s) => format!("{}-{}/{s}", value(*a), value(*b)),
                Entry::From(a, s) => format!("{}/{s}", value(*a)),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Any valid 5-field expression, with names sometimes.
    fn expression() -> impl Strategy<Value = String> {
        (
            field(0, 59),
            field(0, 23),
            field(1, 31),
            field(1, 12),
            field(0, 7),
            any::<bool>(),
        )
            .prop_map(|(mi, h, dom, mo, dow, names)| {
                let month_names = names.then_some((1, MONTH.names));
                let day_names = names.then_some((0, DAY_OF_WEEK.names));
                format!(
                    "{} {} {} {} {}",
                    render(&mi, 0, None),
                    render(&h, 0, None),
                    render(&dom, 0, None),
                    render(&mo, 0, month_names),
                    render(&dow, 0, day_names)
                )
            })
    }

    fn instant() -> impl Strategy<Value = Timestamp> {
        // 2000-01-01 .. 2100-01-01, to the second.
        (946_684_800i64..4_102_444_800).prop_map(|s| Timestamp::from_second(s).unwrap())
    }

    /// Checks `next` against a minute-by-minute scan of the instants after `after` (at most
    /// three days): no whole-minute instant before `next` fires.
    fn check_next(spec: &CronSpec, tz: &TimeZone, after: Timestamp, next: Option<Timestamp>) {
        let horizon = after + SignedDuration::from_hours(72);
        let mut minute =
            Timestamp::from_second(after.as_second() - after.as_second().rem_euclid(60)).unwrap()
                + SignedDuration::from_mins(1);
        let end = next.map_or(horizon, |n| n.min(horizon));
        while minute < end {
            let local = tz.to_datetime(minute);
            // A local time that matches may only be skipped as the repeat of a fold.
            if spec.matches(local) {
                assert_ne!(
                    resolve_local(local, tz),
                    Some(minute),
                    "missed fire at {minute}"
                );
            }
            minute += SignedDuration::from_mins(1);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn next_after_is_strictly_after_matches_and_is_the_first(
            expr in expression(),
            after in instant(),
            berlin_zone in any::<bool>(),
        ) {
            let tz = if berlin_zone { berlin() } else { TimeZone::UTC };
            let schedule = Schedule::parse(&expr).unwrap();
            let spec = schedule.cron().unwrap();
            let next = schedule.next_after(after, &tz);
            if let Some(next) = next {
                prop_assert!(next > after);
                prop_assert!(spec.matches(tz.to_datetime(next)), "{expr}: {next} does not match");
            }
            check_next(spec, &tz, after, next);
        }

        #[test]
        fn fire_times_strictly_increase(expr in expression(), after in instant()) {
            let tz = berlin();
            let schedule = Schedule::parse(&expr).unwrap();
            let spec = schedule.cron().unwrap();
            let mut previous = after;
            for fire in schedule.iter_after(after, &tz).take(12) {
                prop_assert!(fire > previous, "{expr}: {fire} after {previous}");
                prop_assert!(spec.matches(tz.to_datetime(fire)));
                previous = fire;
            }
        }

        #[test]
        fn interval_fire_times_are_anchor_plus_multiples(
            secs in 1i64..10_000_000,
            after in instant(),
        ) {
            let schedule = Schedule::parse(&format!("{secs}s")).unwrap();
            let every = SignedDuration::from_secs(secs);
            for (k, fire) in schedule.iter_after(after, &TimeZone::UTC).take(5).enumerate() {
                prop_assert_eq!(fire, after + every * (k as i32 + 1));
            }
        }

        #[test]
        fn latest_between_is_the_last_fire_in_the_window(
            expr in expression(),
            after in instant(),
            span_minutes in 0i64..20_000,
        ) {
            let tz = berlin();
            let schedule = Schedule::parse(&expr).unwrap();
            let until = after + SignedDuration::from_mins(span_minutes);
            match schedule.latest_between(after, until, &tz) {
                Some(latest) => {
                    prop_assert!(after < latest && latest <= until);
                    prop_assert!(schedule.cron().unwrap().matches(tz.to_datetime(latest)));
                    prop_assert!(schedule.next_after(latest, &tz).is_none_or(|n| n > until));
                }
                None => prop_assert!(schedule.next_after(after, &tz).is_none_or(|n| n > until)),
            }
        }

        /// The `cron` crate as an oracle, where its semantics agree with ours: one day field is
        /// `*` (so AND and OR coincide) and days of week are 1–6 (its numbers are ours + 1).
        #[test]
        fn agrees_with_the_cron_crate_where_semantics_coincide(
            minutes in field(0, 59),
            hours in field(0, 23),
            days in field(1, 31),
            months in field(1, 12),
            weekdays in field(1, 6),
            restrict_weekdays in any::<bool>(),
            after in instant(),
        ) {
            let (dom, dow, dow_oracle) = if restrict_weekdays {
                ("*".to_string(), render(&weekdays, 0, None), render(&weekdays, 1, None))
            } else {
                (render(&days, 0, None), "*".to_string(), "*".to_string())
            };
            let (mi, h, mo) = (render(&minutes, 0, None), render(&hours, 0, None), render(&months, 0, None));
            let ours = Schedule::parse(&format!("{mi} {h} {dom} {mo} {dow}")).unwrap();
            let oracle_text = format!("0 {mi} {h} {dom} {mo} {dow_oracle}");
            let oracle: cron::Schedule = oracle_text.parse().unwrap();
            let start = chrono::DateTime::from_timestamp(after.as_second(), 0).unwrap();
            let expected: Vec<i64> = oracle
                .after(&start)
                .take(5)
                .map(|t: chrono::DateTime<chrono::Utc>| t.timestamp())
                .collect();
            let got: Vec<i64> = ours
                .iter_after(after, &TimeZone::UTC)
                .take(expected.len())
                .map(|t| t.as_second())
                .collect();
            prop_assert_eq!(got, expected, "ours {} vs cron crate {}", ours, oracle_text);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
            if let Ok(schedule) = Schedule::parse(&text) {
                let _ = schedule.next_after(Timestamp::UNIX_EPOCH, &TimeZone::UTC);
            }
        }

        #[test]
        fn parse_never_panics_on_cron_like_text(text in "[0-9*/,?@ a-zA-Z\\-]{0,24}") {
            match Schedule::parse(&text) {
                Ok(schedule) => {
                    let _ = schedule.next_after(Timestamp::UNIX_EPOCH, &TimeZone::UTC);
                }
                Err(err) => prop_assert!(err.position() <= text.chars().count()),
            }
        }
    }
}
