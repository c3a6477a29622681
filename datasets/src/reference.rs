//! The embedded public figures: the 2020 départemental table (DREES table 375 and INSEE
//! population estimates), APA beneficiaries at home by GIR and age (DREES, 2022), and the
//! legal figures of each supported year (MTP, floor tariff, dotation complémentaire rate).
//! The CSVs live in `datasets/data/` with a README naming their sources.

use serde::{Deserialize, Serialize};

use crate::error::GenerateError;

const DEPT_FILE: &str = "dept_2020.csv";
const DEPT_CSV: &str = include_str!("../data/dept_2020.csv");
const GIR_FILE: &str = "apa_dom_age_gir_2022.csv";
const GIR_CSV: &str = include_str!("../data/apa_dom_age_gir_2022.csv");

/// First and last year whose legal figures are known.
pub(crate) const FIRST_YEAR: i32 = 2024;
pub(crate) const LAST_YEAR: i32 = 2026;

/// One row of `dept_2020.csv`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeptRecord {
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) apa_domicile: i64,
    pub(crate) pch: i64,
    pub(crate) pop_total: i64,
    pub(crate) pop_60_plus: i64,
    pub(crate) pop_75_plus: i64,
}

/// Splits a CSV line on commas outside double quotes (the files have no escaped quotes).
fn split_csv(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                fields.push(line[start..i].trim_matches('"'));
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(line[start..].trim_matches('"'));
    fields
}

fn int(file: &'static str, line: usize, column: &str, value: &str) -> Result<i64, GenerateError> {
    value
        .trim()
        .parse()
        .map_err(|_| GenerateError::ReferenceData {
            file,
            line,
            message: format!("column {column}: {value:?} is not an integer"),
        })
}

/// The 99 départemental units of `dept_2020.csv`, in file order.
pub(crate) fn departements() -> Result<Vec<DeptRecord>, GenerateError> {
    let mut out = Vec::with_capacity(100);
    for (i, line) in DEPT_CSV.lines().enumerate().skip(1) {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line);
        if f.len() != 8 {
            return Err(GenerateError::ReferenceData {
                file: DEPT_FILE,
                line: n,
                message: format!("expected 8 fields, found {}", f.len()),
            });
        }
        out.push(DeptRecord {
            code: f[0].to_owned(),
            name: f[1].to_owned(),
            apa_domicile: int(DEPT_FILE, n, "apa_domicile_dec2020", f[2])?,
            pch: int(DEPT_FILE, n, "pch_31dec2020", f[4])?,
            pop_total: int(DEPT_FILE, n, "pop_total_1jan2020", f[5])?,
            pop_60_plus: int(DEPT_FILE, n, "pop_60plus_1jan2020", f[6])?,
            pop_75_plus: int(DEPT_FILE, n, "pop_75plus_1jan2020", f[7])?,
        });
    }
    Ok(out)
}

/// Shares of GIR 1–4 among APA beneficiaries at home (end 2022), summed over age bands:
/// ≈ 2.4 / 17.6 / 22.0 / 58.0 %, the 2/18/22/58 % of DOMAIN.md §7.
pub(crate) fn apa_gir_mix() -> Result<[f64; 4], GenerateError> {
    let mut counts = [0_i64; 4];
    for (i, line) in GIR_CSV.lines().enumerate().skip(1) {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line);
        if f.len() != 5 {
            return Err(GenerateError::ReferenceData {
                file: GIR_FILE,
                line: n,
                message: format!("expected 5 fields, found {}", f.len()),
            });
        }
        let gir = match f[0] {
            "GIR1" => 0,
            "GIR2" => 1,
            "GIR3" => 2,
            "GIR4" => 3,
            other => {
                return Err(GenerateError::ReferenceData {
                    file: GIR_FILE,
                    line: n,
                    message: format!("column gir: unknown value {other:?}"),
                });
            }
        };
        counts[gir] += int(GIR_FILE, n, "n_beneficiaires", f[2])?;
    }
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return Err(GenerateError::ReferenceData {
            file: GIR_FILE,
            line: 1,
            message: "no beneficiaries".to_owned(),
        });
    }
    Ok(counts.map(|c| c as f64 / total as f64))
}

/// The legal figures of one year (DOMAIN.md §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegalYear {
    /// The year.
    pub year: i32,
    /// MTP (majoration pour tierce personne) used for the year, €/month.
    pub mtp: f64,
    /// National floor tariff (tarif plancher), €/h.
    pub floor_tariff: f64,
    /// Dotation complémentaire cap rate, € per APA+PCH hour delivered.
    pub dc_rate_cap: f64,
    /// APA monthly plan ceilings GIR 1–4, € (1.615 / 1.306 / 0.944 / 0.630 × MTP).
    pub apa_ceilings: [f64; 4],
}

impl LegalYear {
    /// The figures of `year`: MTP 1,210.90 / 1,266.60 / 1,288.13 €, floor 23.50 / 24.58 /
    /// 25.00 €/h for 2024 / 2025 / 2026; dotation complémentaire rate 3.311 €/h (2024, also
    /// used for 2025) and 3.383 €/h (2026, Saône-et-Loire).
    pub(crate) fn of(year: i32) -> Result<Self, GenerateError> {
        let (mtp, floor_tariff, dc_rate_cap) = match year {
            2024 => (1_210.90, 23.50, 3.311),
            2025 => (1_266.60, 24.58, 3.311),
            2026 => (1_288.13, 25.00, 3.383),
            _ => {
                return Err(GenerateError::UnsupportedYear {
                    year,
                    first: FIRST_YEAR,
                    last: LAST_YEAR,
                });
            }
        };
        let apa_ceilings =
            crate::model::APA_CEILING_MTP.map(|k| (k * mtp * 100.0_f64).round() / 100.0);
        Ok(Self {
            year,
            mtp,
            floor_tariff,
            dc_rate_cap,
            apa_ceilings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departements_table() {
        let d = departements().unwrap();
        assert_eq!(d.len(), 99);
        assert_eq!(d[0].code, "01");
        assert_eq!(d[0].name, "Ain");
        assert_eq!(d[0].apa_domicile, 5_556);
        assert_eq!(d[0].pch, 3_828);
        assert!(d.iter().any(|r| r.code == "974"));
        let mut codes: Vec<&str> = d.iter().map(|r| r.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 99);
    }

    #[test]
    fn gir_mix_matches_domain_figures() {
        let mix = apa_gir_mix().unwrap();
        for (share, target) in mix.iter().zip([0.02, 0.18, 0.22, 0.58]) {
            assert!((share - target).abs() < 0.006, "{mix:?}");
        }
    }

    #[test]
    fn legal_figures() {
        // 2025 ceilings quoted in DOMAIN.md §3.
        let l = LegalYear::of(2025).unwrap();
        assert_eq!(l.apa_ceilings, [2_045.56, 1_654.18, 1_195.67, 797.96]);
        assert!(LegalYear::of(2023).is_err());
    }

    #[test]
    fn quoted_fields() {
        assert_eq!(
            split_csv(r#"GIR1,"[60,65)",109"#),
            vec!["GIR1", "[60,65)", "109"]
        );
    }
}
