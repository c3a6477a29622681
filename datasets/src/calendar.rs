//! Dates of the generator: days counted since 1970-01-01 (the unit of Arrow's dates and of
//! the visits' timestamps), converted to and from civil dates by jiff; French public
//! holidays; the slot of a visit from its start; and a per-year calendar that counts how
//! often each weekday (holiday or not) falls in a span of days, so that a user's weekly
//! pattern can be turned into exact annual hours without listing every visit.

use jiff::ToSpan;
use jiff::civil::Date;

use crate::model::Slot;

/// Microseconds in a minute.
const MICROS_PER_MINUTE: i64 = 60_000_000;
/// Minutes in a day.
const MINUTES_PER_DAY: i64 = 1_440;
/// Day 0 of the day counts.
const EPOCH: Date = jiff::civil::date(1970, 1, 1);

/// Days since 1970-01-01 of a date.
pub(crate) fn days_of(date: Date) -> i64 {
    date.duration_since(EPOCH).as_hours() / 24
}

/// The date of a count of days since 1970-01-01 (the generator's days are within a few
/// years of its survey year).
pub(crate) fn date_of(days: i64) -> Date {
    EPOCH
        .checked_add(days.days())
        .expect("a day of the years jiff covers (−9999 to 9999)")
}

/// Days since 1970-01-01 of a day of `year`.
fn day(year: i32, month: i8, day: i8) -> i64 {
    let year = i16::try_from(year).expect("a year of the civil calendar");
    days_of(Date::new(year, month, day).expect("a day that exists"))
}

/// `YYYY-MM-DD` of a count of days since 1970-01-01.
pub(crate) fn iso_date(days: i64) -> String {
    date_of(days).to_string()
}

/// Day of the week, Monday = 0 … Sunday = 6.
pub(crate) fn weekday(days: i64) -> u8 {
    date_of(days)
        .weekday()
        .to_monday_zero_offset()
        .unsigned_abs()
}

/// Easter Sunday of a year (anonymous Gregorian algorithm).
fn easter(year: i32) -> Date {
    let y = year;
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let year = i16::try_from(year).expect("a year of the civil calendar");
    Date::new(year, month as i8, day as i8).expect("Easter falls in March or April")
}

/// The eleven national public holidays of a year, as days since 1970-01-01: 1 January,
/// Easter Monday, 1 May, 8 May, Ascension, Whit Monday, 14 July, 15 August, 1 November,
/// 11 November, 25 December. (Alsace-Moselle's two extra days are not modelled.)
pub(crate) fn public_holidays(year: i32) -> [i64; 11] {
    let easter = days_of(easter(year));
    [
        day(year, 1, 1),
        easter + 1,
        day(year, 5, 1),
        day(year, 5, 8),
        easter + 39,
        easter + 50,
        day(year, 7, 14),
        day(year, 8, 15),
        day(year, 11, 1),
        day(year, 11, 11),
        day(year, 12, 25),
    ]
}

/// The slot of a visit starting at `minute` (0–1439) of a day with this weekday.
///
/// Night (22:00–06:00) comes first, then Sunday or public holiday, then evening
/// (06:00–08:00, 19:00–22:00); every other start is a weekday slot.
pub(crate) fn slot_for(weekday: u8, minute: u16, holiday: bool) -> Slot {
    if !(360..1_320).contains(&minute) {
        Slot::Night
    } else if weekday == 6 || holiday {
        Slot::SundayHoliday
    } else if !(480..1_140).contains(&minute) {
        Slot::Evening
    } else {
        Slot::Weekday
    }
}

/// The slot of a visit from its `start` (microseconds since 1970-01-01, local time): the
/// rule behind the `visits.slot` column. Night (starts 22:00–06:00) takes precedence, then
/// Sunday or French public holiday, then evening (starts 06:00–08:00 or 19:00–22:00);
/// every other start is `weekday`.
pub fn slot_of(start_micros: i64) -> Slot {
    let minutes = start_micros.div_euclid(MICROS_PER_MINUTE);
    let days = minutes.div_euclid(MINUTES_PER_DAY);
    let minute = minutes.rem_euclid(MINUTES_PER_DAY) as u16;
    let year = i32::from(date_of(days).year());
    let holiday = public_holidays(year).contains(&days);
    slot_for(weekday(days), minute, holiday)
}

/// One calendar year: holidays and per-weekday prefix counts.
#[derive(Debug, Clone)]
pub(crate) struct YearCalendar {
    pub(crate) year: i32,
    /// 1 January as days since 1970-01-01.
    pub(crate) jan1: i64,
    /// 365 or 366.
    pub(crate) days: u16,
    /// Whether each day of the year (0-based) is a public holiday.
    pub(crate) holiday: Vec<bool>,
    /// The weekday (Monday = 0) of each day of the year (0-based).
    weekdays: Vec<u8>,
    /// `normal[w][d]`: days before day `d` with weekday `w` that are not holidays.
    normal: [Vec<u16>; 7],
    /// `holidays[w][d]`: days before day `d` with weekday `w` that are holidays.
    holidays: [Vec<u16>; 7],
}

impl YearCalendar {
    pub(crate) fn new(year: i32) -> Self {
        let jan1 = day(year, 1, 1);
        let days = date_of(jan1).days_in_year().unsigned_abs();
        let listed = public_holidays(year);
        let holiday: Vec<bool> = (0..days)
            .map(|d| listed.contains(&(jan1 + i64::from(d))))
            .collect();
        let weekdays: Vec<u8> = (0..days).map(|d| weekday(jan1 + i64::from(d))).collect();
        let mut normal: [Vec<u16>; 7] = Default::default();
        let mut holidays: [Vec<u16>; 7] = Default::default();
        for w in 0..7 {
            normal[w] = Vec::with_capacity(usize::from(days) + 1);
            holidays[w] = Vec::with_capacity(usize::from(days) + 1);
            normal[w].push(0);
            holidays[w].push(0);
        }
        for d in 0..days {
            let wd = usize::from(weekdays[usize::from(d)]);
            for w in 0..7 {
                let is_w = w == wd;
                let n = normal[w][usize::from(d)] + u16::from(is_w && !holiday[usize::from(d)]);
                let h = holidays[w][usize::from(d)] + u16::from(is_w && holiday[usize::from(d)]);
                normal[w].push(n);
                holidays[w].push(h);
            }
        }
        Self {
            year,
            jan1,
            days,
            holiday,
            weekdays,
            normal,
            holidays,
        }
    }

    /// Weekday (Monday = 0) of a day of the year (0-based).
    pub(crate) fn weekday(&self, day: u16) -> u8 {
        self.weekdays[usize::from(day)]
    }

    /// How many days in `from..to` fall on weekday `w`: (not holidays, holidays).
    pub(crate) fn occurrences(&self, w: u8, from: u16, to: u16) -> (u16, u16) {
        let w = usize::from(w);
        let (from, to) = (usize::from(from), usize::from(to));
        (
            self.normal[w][to] - self.normal[w][from],
            self.holidays[w][to] - self.holidays[w][from],
        )
    }

    /// The survey's two weeks: fourteen days from the first Monday on or after 22 June, so
    /// that they straddle June and July and never hold a public holiday (Whit Monday falls
    /// by 14 June at the latest; the window ends by 11 July). Returned as days of the year.
    pub(crate) fn survey_window(&self) -> (u16, u16) {
        let june22 = day(self.year, 6, 22);
        let offset = (7 - i64::from(weekday(june22))) % 7;
        let start = (june22 + offset - self.jan1) as u16;
        (start, start + 14)
    }

    /// Microseconds since 1970-01-01 of a minute of a day of the year.
    pub(crate) fn timestamp(&self, day: u16, minute: u16) -> i64 {
        ((self.jan1 + i64::from(day)) * MINUTES_PER_DAY + i64::from(minute)) * MICROS_PER_MINUTE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(day(2000, 3, 1), 11_017);
        assert_eq!(date_of(11_017), jiff::civil::date(2000, 3, 1));
        assert_eq!(date_of(-1), jiff::civil::date(1969, 12, 31));
        assert_eq!(iso_date(day(2026, 7, 14)), "2026-07-14");
        // 1 January 2026 is a Thursday, 5 April 2026 (Easter) a Sunday; 1 January 1970 a
        // Thursday.
        assert_eq!(weekday(day(2026, 1, 1)), 3);
        assert_eq!(weekday(day(2026, 4, 5)), 6);
        assert_eq!(weekday(0), 3);
        assert_eq!(weekday(-4), 6);
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2024), jiff::civil::date(2024, 3, 31));
        assert_eq!(easter(2025), jiff::civil::date(2025, 4, 20));
        assert_eq!(easter(2026), jiff::civil::date(2026, 4, 5));
    }

    #[test]
    fn holidays_2026() {
        let expected = [
            (1, 1),
            (4, 6),
            (5, 1),
            (5, 8),
            (5, 14),
            (5, 25),
            (7, 14),
            (8, 15),
            (11, 1),
            (11, 11),
            (12, 25),
        ]
        .map(|(m, d)| day(2026, m, d));
        assert_eq!(public_holidays(2026), expected);
    }

    #[test]
    fn slots() {
        let at =
            |m: i8, d: i8, h: i64, min: i64| (day(2026, m, d) * 1_440 + h * 60 + min) * 60_000_000;
        // Monday 22 June 2026.
        assert_eq!(slot_of(at(6, 22, 9, 0)), Slot::Weekday);
        assert_eq!(slot_of(at(6, 22, 6, 0)), Slot::Evening);
        assert_eq!(slot_of(at(6, 22, 7, 59)), Slot::Evening);
        assert_eq!(slot_of(at(6, 22, 8, 0)), Slot::Weekday);
        assert_eq!(slot_of(at(6, 22, 18, 59)), Slot::Weekday);
        assert_eq!(slot_of(at(6, 22, 19, 0)), Slot::Evening);
        assert_eq!(slot_of(at(6, 22, 22, 0)), Slot::Night);
        assert_eq!(slot_of(at(6, 22, 5, 59)), Slot::Night);
        // Sunday 28 June, Tuesday 14 July, Saturday 27 June.
        assert_eq!(slot_of(at(6, 28, 10, 0)), Slot::SundayHoliday);
        assert_eq!(slot_of(at(6, 28, 20, 0)), Slot::SundayHoliday);
        assert_eq!(slot_of(at(6, 28, 23, 0)), Slot::Night);
        assert_eq!(slot_of(at(7, 14, 10, 0)), Slot::SundayHoliday);
        assert_eq!(slot_of(at(6, 27, 10, 0)), Slot::Weekday);
    }

    #[test]
    fn window_and_counts() {
        let cal = YearCalendar::new(2026);
        assert_eq!(cal.days, 365);
        let (from, to) = cal.survey_window();
        assert_eq!(iso_date(cal.jan1 + i64::from(from)), "2026-06-22");
        assert_eq!(iso_date(cal.jan1 + i64::from(to) - 1), "2026-07-05");
        assert!((from..to).all(|d| !cal.holiday[usize::from(d)]));
        // 2026 has 53 Thursdays, two of them holidays (1 January, Ascension on 14 May).
        assert_eq!(cal.occurrences(3, 0, 365), (51, 2));
        // Tuesdays: 52, one of them 14 July.
        assert_eq!(cal.occurrences(1, 0, 365), (51, 1));
        let total: u16 = (0..7)
            .map(|w| {
                let (n, h) = cal.occurrences(w, 0, 365);
                n + h
            })
            .sum();
        assert_eq!(total, 365);
        let holidays: u16 = (0..7).map(|w| cal.occurrences(w, 0, 365).1).sum();
        assert_eq!(holidays, 11);
        assert_eq!(YearCalendar::new(2024).days, 366);
    }
}
