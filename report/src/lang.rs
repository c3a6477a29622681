//! The report's two languages and their number formats. French follows the Imprimerie
//! nationale's rules: digits grouped by three with a narrow no-break space (U+202F), a
//! decimal comma, and a narrow no-break space before `€` and `%` — « 1 234,56 € »,
//! « 12,3 % ». English groups with commas and writes `€1,234.56` and `12.3%`. Both write
//! negative numbers with the minus sign (U+2212), and an undefined number as `—`.

use std::fmt;
use std::str::FromStr;

use crate::error::ReportError;

/// The narrow no-break space: French thousands separator, and the space before `€` and `%`.
pub const NNBSP: char = '\u{202F}';
/// The minus sign.
pub const MINUS: char = '\u{2212}';
/// What an undefined number (NaN, infinite) is written as.
pub const UNDEFINED: &str = "—";

/// The language of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// French (the default: the report's readers are French administrations).
    #[default]
    Fr,
    /// English.
    En,
}

impl Lang {
    /// Both languages.
    pub const ALL: [Lang; 2] = [Lang::Fr, Lang::En];

    /// The language's code (`fr`, `en`), as in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The French text or the English one.
    pub fn pick<'a>(self, fr: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }

    /// `x` with `decimals` decimals, digits grouped by three: `1 234,56` / `1,234.56`.
    pub fn number(self, x: f64, decimals: usize) -> String {
        if !x.is_finite() {
            return UNDEFINED.to_string();
        }
        let digits = format!("{:.*}", decimals, x.abs());
        let (int, frac) = digits
            .split_once('.')
            .map_or((digits.as_str(), None), |(i, f)| (i, Some(f)));
        let (group, point) = match self {
            Lang::Fr => (NNBSP, ','),
            Lang::En => (',', '.'),
        };
        let mut out = String::with_capacity(digits.len() + int.len() / 3 * 3 + 3);
        // A value that rounds to zero is written without a sign.
        if x < 0.0 && digits.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
            out.push(MINUS);
        }
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push(group);
            }
            out.push(c);
        }
        if let Some(f) = frac {
            out.push(point);
            out.push_str(f);
        }
        out
    }

    /// An amount in euros: `1 234,56 €` / `€1,234.56`.
    pub fn money(self, x: f64, decimals: usize) -> String {
        let n = self.number(x, decimals);
        if !x.is_finite() {
            return n;
        }
        match self {
            Lang::Fr => format!("{n}{NNBSP}€"),
            Lang::En => match n.strip_prefix(MINUS) {
                Some(abs) => format!("{MINUS}€{abs}"),
                None => format!("€{n}"),
            },
        }
    }

    /// A number followed by its unit (`12,5 €/h`), the French way with a narrow no-break
    /// space, the English way with a plain no-break space; `%` and `€` have their own
    /// formats ([`Lang::percent`], [`Lang::money`]).
    pub fn with_unit(self, x: f64, decimals: usize, unit: &str) -> String {
        let n = self.number(x, decimals);
        if unit.is_empty() || !x.is_finite() {
            return n;
        }
        match self {
            Lang::Fr => format!("{n}{NNBSP}{unit}"),
            Lang::En => format!("{n}\u{A0}{unit}"),
        }
    }

    /// A share (0.123) as a percentage: `12,3 %` / `12.3%`.
    pub fn percent(self, share: f64, decimals: usize) -> String {
        let n = self.number(100.0 * share, decimals);
        if !share.is_finite() {
            return n;
        }
        match self {
            Lang::Fr => format!("{n}{NNBSP}%"),
            Lang::En => format!("{n}%"),
        }
    }

    /// A signed share: `+12,3 %`, `−4,0 %`.
    pub fn signed_percent(self, share: f64, decimals: usize) -> String {
        let p = self.percent(share, decimals);
        if share.is_finite()
            && !p.starts_with(MINUS)
            && self.number(100.0 * share, decimals) != self.number(0.0, decimals)
        {
            format!("+{p}")
        } else {
            p
        }
    }

    /// A number in scientific notation, `digits` decimals in the mantissa: `2,27 × 10⁻¹⁶`
    /// (as text: the exponent in superscript digits); `0` for zero.
    pub fn scientific(self, x: f64, digits: usize) -> String {
        if !x.is_finite() {
            return UNDEFINED.to_string();
        }
        if x == 0.0 {
            return "0".to_string();
        }
        let s = format!("{:.*e}", digits, x);
        let (mantissa, exponent) = s.split_once('e').expect("Rust's scientific format");
        let mantissa: f64 = mantissa.parse().expect("a number");
        let exponent: i32 = exponent.parse().expect("an exponent");
        let superscript: String = exponent
            .to_string()
            .chars()
            .map(|c| match c {
                '-' => '⁻',
                d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d as usize - '0' as usize],
            })
            .collect();
        format!(
            "{}\u{A0}×\u{A0}10{superscript}",
            self.number(mantissa, digits)
        )
    }

    /// A compact amount for axis ticks: `120 k€`, `1,5 M€` / `€120k`, `€1.5M`.
    pub fn money_compact(self, x: f64) -> String {
        let (value, suffix) = match x.abs() {
            a if a >= 1e9 => (x / 1e9, self.pick("Md", "bn")),
            a if a >= 1e6 => (x / 1e6, "M"),
            a if a >= 1e3 => (x / 1e3, "k"),
            _ => (x, ""),
        };
        let decimals = if value.abs() < 10.0 && value.fract().abs() > 1e-9 {
            1
        } else {
            0
        };
        let n = self.number(value, decimals);
        match self {
            Lang::Fr => format!("{n}{NNBSP}{suffix}€"),
            Lang::En => match n.strip_prefix(MINUS) {
                Some(abs) => format!("{MINUS}€{abs}{suffix}"),
                None => format!("€{n}{suffix}"),
            },
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Lang {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Lang, ReportError> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code() == s)
            .ok_or_else(|| ReportError::Lang(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(got: String, expected: &str) {
        assert_eq!(got, expected, "{got:?} vs {expected:?}");
    }

    #[test]
    fn french_numbers_group_with_narrow_no_break_spaces_and_a_decimal_comma() {
        check(Lang::Fr.money(1234.56, 2), "1\u{202F}234,56\u{202F}€");
        check(
            Lang::Fr.money(1_234_567.0, 0),
            "1\u{202F}234\u{202F}567\u{202F}€",
        );
        check(Lang::Fr.percent(0.123, 1), "12,3\u{202F}%");
        check(Lang::Fr.number(-1234.5, 1), "\u{2212}1\u{202F}234,5");
        check(Lang::Fr.number(999.0, 0), "999");
        check(Lang::Fr.number(-0.004, 2), "0,00");
        check(Lang::Fr.number(f64::NAN, 2), "—");
        check(Lang::Fr.signed_percent(0.05, 0), "+5\u{202F}%");
        check(Lang::Fr.signed_percent(-0.05, 0), "\u{2212}5\u{202F}%");
        check(Lang::Fr.with_unit(12.5, 2, "€/h"), "12,50\u{202F}€/h");
    }

    #[test]
    fn english_numbers_group_with_commas() {
        check(Lang::En.money(1234.56, 2), "€1,234.56");
        check(Lang::En.money(-1234.56, 2), "\u{2212}€1,234.56");
        check(Lang::En.percent(0.123, 1), "12.3%");
        check(Lang::En.number(1_000_000.0, 0), "1,000,000");
        check(Lang::En.signed_percent(0.0, 1), "0.0%");
    }

    #[test]
    fn scientific_and_compact_forms() {
        check(Lang::Fr.scientific(2.2737e-16, 2), "2,27\u{A0}×\u{A0}10⁻¹⁶");
        check(
            Lang::En.scientific(-3.0e5, 1),
            "\u{2212}3.0\u{A0}×\u{A0}10⁵",
        );
        check(Lang::En.scientific(0.0, 2), "0");
        check(Lang::Fr.money_compact(120_000.0), "120\u{202F}k€");
        check(Lang::Fr.money_compact(1_500_000.0), "1,5\u{202F}M€");
        check(Lang::En.money_compact(2e9), "€2bn");
    }

    #[test]
    fn languages_parse_from_their_codes() {
        assert_eq!("fr".parse::<Lang>().expect("fr"), Lang::Fr);
        assert_eq!("en".parse::<Lang>().expect("en"), Lang::En);
        assert!("de".parse::<Lang>().is_err());
    }
}
