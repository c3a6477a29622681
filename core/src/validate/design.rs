//! The survey design columns of `services`: `stratum` and `fpc`, both optional. Given,
//! they must be given on every row; `fpc`, the population size of the stratum, must be the
//! same on every row of a stratum and at least the number of its services in the table.

use super::columns::Block;
use super::problems::{Ctx, Problems, Rule};
use crate::tables::SurveyDesign;

/// Appends a block's `stratum` and `fpc` values (`None` where the block has no such
/// column or the value is null).
pub(super) fn collect(b: &Block, strata: &mut Vec<Option<String>>, fpc: &mut Vec<Option<f64>>) {
    if b.has("stratum") {
        let a = b.text("stratum");
        strata.extend(a.iter().map(|v| v.map(str::to_string)));
    } else {
        strata.extend(std::iter::repeat_n(None, b.len));
    }
    if b.has("fpc") {
        fpc.extend(b.f64("fpc").iter());
    } else {
        fpc.extend(std::iter::repeat_n(None, b.len));
    }
}

/// The design of the services (rows numbered from 1), recording a problem for a column
/// given on some rows only, an `fpc` that varies within a stratum, or one below the
/// stratum's services.
pub(super) fn survey_design(
    ctx: &Ctx<'_>,
    strata: &[Option<String>],
    fpc: &[Option<f64>],
    p: &mut Problems,
) -> SurveyDesign {
    let n = strata.len();
    let partial = |column: &str, present: &dyn Fn(usize) -> bool, p: &mut Problems| {
        let given = (0..n).filter(|&i| present(i)).count();
        if given > 0 && given < n {
            let row = (0..n).find(|&i| !present(i)).expect("a row without");
            p.push(ctx.problem(
                Some(row as u64 + 1),
                Some(column),
                None,
                Rule::Conditional {
                    rule: format!(
                        "{column} must be given for every service or for none ({given} of {n} rows have one)"
                    ),
                },
            ));
        }
        given == n && n > 0
    };
    let stratified = partial("stratum", &|i| strata[i].is_some(), p);
    let corrected = partial("fpc", &|i| fpc[i].is_some(), p);
    let mut design = SurveyDesign::default();
    let mut index: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for s in strata {
        let name = match (stratified, s) {
            (true, Some(s)) => s.as_str(),
            _ => "all",
        };
        let h = *index.entry(name).or_insert_with(|| {
            design.strata.push(name.to_string());
            design.strata.len() as u32 - 1
        });
        design.stratum.push(h);
    }
    if !corrected {
        return design;
    }
    // The population of each stratum: its first row's fpc, the others must agree.
    let mut population: Vec<Option<(f64, usize)>> = vec![None; design.strata.len()];
    for (i, (&h, v)) in design.stratum.iter().zip(fpc).enumerate() {
        let v = v.expect("fpc on every row");
        match population[h as usize] {
            None => population[h as usize] = Some((v, i)),
            Some((first, row)) if first != v => p.push(ctx.problem(
                Some(i as u64 + 1),
                Some("fpc"),
                Some(v.to_string()),
                Rule::Conditional {
                    rule: format!(
                        "fpc must be the same for every service of a stratum: stratum {} has fpc {first} on row {}",
                        design.strata[h as usize],
                        row + 1
                    ),
                },
            )),
            Some(_) => {}
        }
    }
    let sizes = design.sample_sizes();
    for (h, pop) in population.iter().enumerate() {
        if let Some((v, row)) = *pop
            && v < sizes[h] as f64
        {
            p.push(ctx.problem(
                Some(row as u64 + 1),
                Some("fpc"),
                Some(v.to_string()),
                Rule::Range {
                    allowed: format!(
                        "at least the {} services of stratum {} in the table (fpc is the stratum's population size)",
                        sizes[h], design.strata[h]
                    ),
                },
            ));
        }
    }
    design.population = Some(
        population
            .into_iter()
            .map(|v| v.map_or(f64::NAN, |(v, _)| v))
            .collect(),
    );
    design
}
