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
    let (word, rest) = descriptor
        .split_once(char::is_whitespace)
        .unwrap_or((descriptor, ""));
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
        if !(bit(self.minutes, at.minute()) && bit(self.hours, at.hour()))
            || !bit(self.months, at.month())
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

    /// Whether `restricted` day fields are combined with OR (both restricted) or AND.
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
