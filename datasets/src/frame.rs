//! The national frame of services and the survey's sampling design.
//!
//! The frame holds 6,314 services spread over the départements in proportion to their
//! APA-at-home + PCH beneficiaries, each with a status, habilitation, SAD-mixte flag,
//! disability specialisation, a heavy-tailed number of users, a main zone, a qualification
//! mix and an allowance mix. The sample is a stratified simple random sample of 437
//! services by status × size class, oversampling large services; the census design keeps
//! every service with weight 1.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::model::{
    ALLOWANCE_MIX_CONCENTRATION, DECLARED_DISABILITY_FACTOR, DECLARED_HOURS_PER_USER,
    DISABILITY_SHARE, DISABILITY_SIZE, FRAME_SERVICES, GIR_MIX_CONCENTRATION, HAS_SHARE,
    HIGH_ENTOURAGE_BETA, MIX_DISABILITY, MIX_HAS, MIX_NHAS, MIXED_SHARE, SAMPLE_SERVICES,
    SAMPLING_FRACTION, STATUS_SHARES, SizeClass, Status, USERS_MAX, USERS_MEAN, USERS_MIN,
    USERS_SIGMA, Zone,
};
use crate::reference::{DeptRecord, LegalYear};

/// RNG stream of the frame draws.
const FRAME_STREAM: u64 = 0;
/// RNG stream of the sample selection.
const SAMPLE_STREAM: u64 = 1;
/// RNG stream of service `i` is `SERVICE_STREAM_BASE + i`.
pub(crate) const SERVICE_STREAM_BASE: u64 = 1 << 32;

/// Départements with a large mountain area (share of users in mountain zones 30 %).
const MOUNTAIN_STRONG: [&str; 11] = [
    "04", "05", "09", "15", "20", "48", "65", "66", "73", "74", "974",
];
/// Départements with some mountain area (share 12 %).
const MOUNTAIN_SOME: [&str; 19] = [
    "01", "06", "07", "11", "12", "19", "23", "25", "26", "38", "39", "43", "63", "64", "68", "88",
    "90", "971", "972",
];

/// A seeded ChaCha8 generator on one stream.
pub(crate) fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Draws an index from a discrete distribution (weights need not sum to 1).
pub(crate) fn categorical(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    // Rounding: the last category with positive weight.
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

pub(crate) fn uniform(rng: &mut ChaCha8Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// A Gamma(shape, 1) draw; a non-positive shape gives 0.
fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    match Gamma::new(shape, 1.0) {
        Ok(g) if shape > 0.0 => g.sample(rng),
        _ => 0.0,
    }
}

/// A Dirichlet draw with mean `mean` and concentration `k` (zero shares stay zero).
pub(crate) fn dirichlet<const N: usize>(rng: &mut ChaCha8Rng, mean: &[f64; N], k: f64) -> [f64; N] {
    let draws = mean.map(|m| gamma(rng, k * m));
    let total: f64 = draws.iter().sum();
    if total > 0.0 {
        draws.map(|x| x / total)
    } else {
        *mean
    }
}

/// A Beta(a, b) draw.
fn beta(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    if x + y > 0.0 { x / (x + y) } else { 0.5 }
}

pub(crate) fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// A département with its synthetic attributes.
#[derive(Debug, Clone)]
pub(crate) struct DeptInfo {
    pub(crate) record: DeptRecord,
    /// €/h paid for an NHAS hour.
    pub(crate) tarif_reference: f64,
    /// Share of users by zone (urban, periurban, rural, mountain).
    pub(crate) zone_mix: [f64; 4],
}

/// The zone mix of a département. Rurality is a modelling proxy, as the reference table has
/// no area: it grows with the share of people aged 75+ and falls with the population;
/// Paris and the inner suburbs are urban; mountain shares follow the massifs.
pub(crate) fn zone_mix(record: &DeptRecord) -> [f64; 4] {
    match record.code.as_str() {
        "75" => return [0.95, 0.05, 0.0, 0.0],
        "92" | "93" | "94" => return [0.90, 0.10, 0.0, 0.0],
        _ => {}
    }
    let share75 = record.pop_75_plus as f64 / record.pop_total as f64;
    let rural = (4.5 * (share75 - 0.055) - 0.08 * (record.pop_total as f64 / 500_000.0).ln())
        .clamp(0.03, 0.6);
    let mountain = if MOUNTAIN_STRONG.contains(&record.code.as_str()) {
        0.30
    } else if MOUNTAIN_SOME.contains(&record.code.as_str()) {
        0.12
    } else {
        0.0
    };
    let mut rest = [0.30, rural, mountain];
    let sum: f64 = rest.iter().sum();
    if sum > 0.9 {
        rest = rest.map(|x| x * 0.9 / sum);
    }
    let urban = 1.0 - rest.iter().sum::<f64>();
    [urban, rest[0], rest[1], rest[2]]
}

/// One service of the national frame.
#[derive(Debug, Clone)]
pub(crate) struct FrameService {
    /// `SAD-<département>-<nnn>`.
    pub(crate) id: String,
    /// Index into `Frame::depts`.
    pub(crate) dept: usize,
    pub(crate) status: Status,
    pub(crate) habilitated: bool,
    pub(crate) mixed: bool,
    pub(crate) disability: bool,
    /// Users served over the year.
    pub(crate) users: u32,
    /// The register's APA+PCH hours: the stratification size measure.
    pub(crate) declared_hours: f64,
    pub(crate) size: SizeClass,
    pub(crate) main_zone: Zone,
    /// Share of carer time by qualification A, B, C.
    pub(crate) qualification_mix: [f64; 3],
    /// Share of users by allowance APA, PCH, social aid, other.
    pub(crate) allowance_mix: [f64; 4],
    /// Share of APA users by GIR 1–4.
    pub(crate) gir_mix: [f64; 4],
    /// Share of users with entourage 2–3.
    pub(crate) high_entourage: f64,
}

/// The national frame.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) depts: Vec<DeptInfo>,
    pub(crate) services: Vec<FrameService>,
}

/// Splits `total` in proportion to `weights` (largest remainder, ties to the first).
fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut out: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut left = total - out.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// Builds the frame from the seed (stream 0).
pub(crate) fn build_frame(
    seed: u64,
    legal: &LegalYear,
    records: Vec<DeptRecord>,
    gir_mix: &[f64; 4],
) -> Frame {
    let mut rng = stream_rng(seed, FRAME_STREAM);
    let depts: Vec<DeptInfo> = records
        .into_iter()
        .map(|record| {
            let floor = legal.floor_tariff;
            let drawn = floor * (1.005 + 0.025 * normal(&mut rng));
            let mut tarif = round_to(drawn.clamp(floor - 1.5, floor + 2.0), 0.01);
            if record.code == "71" && legal.year == 2026 {
                // Saône-et-Loire's published 2026 reference tariff (DOMAIN.md §3).
                tarif = 24.58;
            }
            let zone_mix = zone_mix(&record);
            DeptInfo {
                record,
                tarif_reference: tarif,
                zone_mix,
            }
        })
        .collect();
    let weights: Vec<f64> = depts
        .iter()
        .map(|d| (d.record.apa_domicile + d.record.pch) as f64)
        .collect();
    let counts = apportion(FRAME_SERVICES, &weights);
    let mut services = Vec::with_capacity(FRAME_SERVICES);
    for (dept, (info, &count)) in depts.iter().zip(&counts).enumerate() {
        for k in 0..count {
            let status = Status::ALL[categorical(&mut rng, &STATUS_SHARES)];
            let s = status.index();
            let habilitated = rng.random::<f64>() < HAS_SHARE[s];
            let mixed = rng.random::<f64>() < MIXED_SHARE[s];
            let disability = rng.random::<f64>() < DISABILITY_SHARE[s];
            let mean = USERS_MEAN[s] * if disability { DISABILITY_SIZE } else { 1.0 };
            let mu = mean.ln() - USERS_SIGMA * USERS_SIGMA / 2.0;
            let users = (mu + USERS_SIGMA * normal(&mut rng))
                .exp()
                .round()
                .clamp(USERS_MIN, USERS_MAX) as u32;
            let declared_hours = f64::from(users)
                * DECLARED_HOURS_PER_USER
                * if disability {
                    DECLARED_DISABILITY_FACTOR
                } else {
                    1.0
                };
            let main_zone = Zone::ALL[categorical(&mut rng, &info.zone_mix)];
            let bonus = if status == Status::PriveLucratif {
                0.0
            } else {
                0.05
            };
            let c = uniform(&mut rng, (0.20, 0.45)) + bonus;
            let b = uniform(&mut rng, (0.20, 0.35));
            let type_mix = match (disability, habilitated) {
                (true, true) => MIX_DISABILITY,
                (true, false) => {
                    let mut m = MIX_DISABILITY;
                    m[3] += m[2];
                    m[2] = 0.0;
                    m
                }
                (false, true) => MIX_HAS,
                (false, false) => MIX_NHAS,
            };
            let allowance_mix = dirichlet(&mut rng, &type_mix, ALLOWANCE_MIX_CONCENTRATION);
            let service_gir_mix = dirichlet(&mut rng, gir_mix, GIR_MIX_CONCENTRATION);
            let high_entourage = beta(&mut rng, HIGH_ENTOURAGE_BETA, HIGH_ENTOURAGE_BETA);
            services.push(FrameService {
                id: format!("SAD-{}-{:03}", info.record.code, k + 1),
                dept,
                status,
                habilitated,
                mixed,
                disability,
                users,
                declared_hours,
                size: SizeClass::of(declared_hours),
                main_zone,
                qualification_mix: [1.0 - b - c, b, c],
                allowance_mix,
                gir_mix: service_gir_mix,
                high_entourage,
            });
        }
    }
    Frame { depts, services }
}

/// One stratum of the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stratum {
    /// `"<status>/<size class>"`, the `services.stratum` value.
    pub stratum: String,
    /// `associatif`, `public` or `prive_lucratif`.
    pub status: String,
    /// `small` (< 12,000 declared APA+PCH hours a year), `medium` (< 36,000), `large`
    /// (< 96,000) or `xlarge`.
    pub size_class: String,
    /// Services in the frame, N_h.
    pub frame_services: usize,
    /// Services drawn, n_h.
    pub sample_services: usize,
    /// N_h / n_h (0 when nothing is drawn).
    pub design_weight: f64,
    /// Declared APA+PCH hours of the frame's services in the stratum.
    pub frame_declared_hours: f64,
}

/// A selected service: its frame index, weight and stratum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Selected {
    pub(crate) index: usize,
    pub(crate) weight: f64,
    pub(crate) stratum: usize,
}

/// A design: the selected services in frame order and the strata.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    pub(crate) selected: Vec<Selected>,
    pub(crate) strata: Vec<Stratum>,
}

fn stratum_of(service: &FrameService) -> usize {
    service.status.index() * SizeClass::ALL.len() + service.size.index()
}

fn empty_strata(frame: &Frame) -> (Vec<Stratum>, Vec<Vec<usize>>) {
    let mut strata = Vec::new();
    for status in Status::ALL {
        for size in SizeClass::ALL {
            strata.push(Stratum {
                stratum: format!("{}/{}", status.as_str(), size.as_str()),
                status: status.as_str().to_owned(),
                size_class: size.as_str().to_owned(),
                frame_services: 0,
                sample_services: 0,
                design_weight: 0.0,
                frame_declared_hours: 0.0,
            });
        }
    }
    let mut members = vec![Vec::new(); strata.len()];
    for (i, s) in frame.services.iter().enumerate() {
        let h = stratum_of(s);
        strata[h].frame_services += 1;
        strata[h].frame_declared_hours += s.declared_hours;
        members[h].push(i);
    }
    (strata, members)
}

/// Sample sizes n_h: proportional to f_c × N_h for the size class c, rescaled so that
/// they sum to `n`, with at least 2 services per non-empty stratum (1 when N_h = 1) and
/// at most N_h.
fn allocate(n: usize, frame_counts: &[usize], fractions: &[f64]) -> Vec<usize> {
    let low: Vec<f64> = frame_counts.iter().map(|&c| c.min(2) as f64).collect();
    let high: Vec<f64> = frame_counts.iter().map(|&c| c as f64).collect();
    let raw: Vec<f64> = frame_counts
        .iter()
        .zip(fractions)
        .map(|(&c, f)| c as f64 * f)
        .collect();
    let target = n.min(frame_counts.iter().sum()) as f64;
    let sized = |k: f64| -> Vec<f64> {
        raw.iter()
            .enumerate()
            .map(|(h, r)| (r * k).clamp(low[h], high[h]))
            .collect()
    };
    // Bisection on the scale factor k.
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while sized(hi).iter().sum::<f64>() < target && hi < 1e9 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if sized(mid).iter().sum::<f64>() < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let exact = sized(hi);
    let mut out: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut total: usize = out.iter().sum();
    let n = target as usize;
    for &h in order.iter().cycle().take(4 * order.len()) {
        if total >= n {
            break;
        }
        if out[h] < frame_counts[h] {
            out[h] += 1;
            total += 1;
        }
    }
    for &h in order.iter().rev().cycle().take(4 * order.len()) {
        if total <= n {
            break;
        }
        if out[h] > low[h] as usize {
            out[h] -= 1;
            total -= 1;
        }
    }
    out
}

/// The ENC-like design: 437 services, stratified by status × size class.
pub(crate) fn survey_design(frame: &Frame, seed: u64) -> Design {
    let (mut strata, members) = empty_strata(frame);
    let counts: Vec<usize> = strata.iter().map(|s| s.frame_services).collect();
    let fractions: Vec<f64> = (0..strata.len())
        .map(|h| SAMPLING_FRACTION[h % SizeClass::ALL.len()])
        .collect();
    let sizes = allocate(SAMPLE_SERVICES, &counts, &fractions);
    let mut rng = stream_rng(seed, SAMPLE_STREAM);
    let mut selected = Vec::with_capacity(SAMPLE_SERVICES);
    for (h, mut pool) in members.into_iter().enumerate() {
        let n_h = sizes[h];
        // Partial Fisher–Yates: the first n_h entries are a simple random sample.
        for i in 0..n_h {
            let j = rng.random_range(i..pool.len());
            pool.swap(i, j);
        }
        let weight = if n_h > 0 {
            pool.len() as f64 / n_h as f64
        } else {
            0.0
        };
        strata[h].sample_services = n_h;
        strata[h].design_weight = weight;
        selected.extend(pool[..n_h].iter().map(|&index| Selected {
            index,
            weight,
            stratum: h,
        }));
    }
    selected.sort_by_key(|s| s.index);
    Design { selected, strata }
}

/// The census: every service, weight 1.
pub(crate) fn census_design(frame: &Frame) -> Design {
    let (mut strata, _) = empty_strata(frame);
    for s in &mut strata {
        s.sample_services = s.frame_services;
        s.design_weight = if s.frame_services > 0 { 1.0 } else { 0.0 };
    }
    let selected = frame
        .services
        .iter()
        .enumerate()
        .map(|(index, s)| Selected {
            index,
            weight: 1.0,
            stratum: stratum_of(s),
        })
        .collect();
    Design { selected, strata }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0.5, 0.25, 0.25]).iter().sum::<usize>(), 7);
    }

    #[test]
    fn allocation_hits_the_total() {
        let counts = [100, 50, 10, 1, 0, 3];
        let fractions = [0.02, 0.05, 0.14, 0.40, 0.4, 0.4];
        let n = allocate(20, &counts, &fractions);
        assert_eq!(n.iter().sum::<usize>(), 20);
        for (k, c) in n.iter().zip(counts) {
            assert!(*k <= c && *k >= c.min(2));
        }
    }
}
