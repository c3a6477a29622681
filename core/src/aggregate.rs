//! Aggregation of visits and users into the drivers of cost, per service and per user.
//!
//! The visit table is read once, column by column, by one fused kernel that adds each
//! visit's contribution to a row of [`VISIT_DRIVERS`] accumulators of its service (or
//! user). Two strategies share that kernel, chosen by the number of groups:
//!
//! - **few groups** (services): fixed chunks of [`CHUNK_ROWS`] visits are summed into
//!   private dense partials in parallel, then the partials are added in chunk order;
//! - **many groups** (users): a counting sort builds each group's list of rows in row
//!   order, then groups are summed in parallel, each sequentially in row order.
//!
//! In both, the order of every floating-point addition depends only on the row order of
//! the visits — never on the number of threads or on how the input was split into record
//! batches — so results are bit-identical from run to run.
//!
//! User-months are counted per service and per cell of allowance × GIR × entourage × zone ×
//! PCH band, the crossings from which formula groups are built.

use rayon::prelude::*;

use crate::tables::{Allowance, Code, Microdata, Qualification, Slot, Visits, Zone};

/// Visits per chunk of the dense strategy. Fixed: the chunking defines the order of
/// additions, so it must not depend on the machine.
pub const CHUNK_ROWS: usize = 1 << 16;

/// Chunks summed in parallel before their partials are folded into the total.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Above this many accumulators (groups × drivers), the counting-sort strategy is used.
const DENSE_LIMIT: usize = 1 << 18;

/// The visit drivers accumulated per group, in the order of the accumulator rows.
pub const VISIT_DRIVERS: [&str; 13] = [
    "visits",
    "hours",
    "hours_weekday",
    "hours_evening",
    "hours_sunday_holiday",
    "hours_night",
    "carer_hours",
    "double_staffed_hours",
    "hours_qualification_a",
    "hours_qualification_b",
    "hours_qualification_c",
    "travel_min",
    "travel_km",
];

/// Number of visit drivers.
pub const D: usize = VISIT_DRIVERS.len();

/// Position of each visit driver in an accumulator row.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub enum VisitDriver {
    /// Number of visits.
    Visits = 0,
    /// Hours at the user's home.
    Hours = 1,
    /// Hours on weekdays (first of the four slot columns).
    HoursWeekday = 2,
    /// Carer-hours: hours × carers present.
    CarerHours = 6,
    /// Hours of double-staffed visits.
    DoubleStaffedHours = 7,
    /// Hours of category A carers (first of the three qualification columns).
    HoursQualificationA = 8,
    /// Travel minutes.
    TravelMin = 11,
    /// Travel kilometres.
    TravelKm = 12,
}

/// Column of the hours of a slot.
pub fn slot_column(slot: Slot) -> usize {
    VisitDriver::HoursWeekday as usize + slot.ordinal()
}

/// Column of the hours of a qualification.
pub fn qualification_column(q: Qualification) -> usize {
    VisitDriver::HoursQualificationA as usize + q.ordinal()
}

/// Adds visit `i`'s contribution to one row of `D` accumulators. The one place where a
/// visit's contribution to the drivers is defined.
#[inline(always)]
fn add_visit(v: &Visits, i: usize, row: &mut [f64]) {
    let h = v.duration_min[i] / 60.0;
    let carers = f64::from(v.carers[i]);
    row[0] += 1.0;
    row[1] += h;
    row[2 + v.slot[i] as usize] += h;
    row[6] += h * carers;
    row[7] += if v.carers[i] == 2 { h } else { 0.0 };
    row[8 + v.qualification[i] as usize] += h;
    row[11] += v.travel_min[i];
    row[12] += v.travel_km[i];
}

/// Adds visits `rows` of `v` into `acc`, a row of `D` accumulators per group, the group of
/// visit `i` being `key[i]`.
#[inline]
fn accumulate(v: &Visits, key: &[u32], rows: std::ops::Range<usize>, acc: &mut [f64]) {
    for i in rows {
        let base = key[i] as usize * D;
        add_visit(v, i, &mut acc[base..base + D]);
    }
}

/// Sums the visit drivers per group, `key[i]` being visit `i`'s group, `n_groups` groups.
/// Returns `n_groups × D` accumulators, row-major. Bit-identical whatever the thread count.
pub fn visit_sums(v: &Visits, key: &[u32], n_groups: usize) -> Vec<f64> {
    assert_eq!(key.len(), v.len(), "one key per visit");
    if n_groups * D <= DENSE_LIMIT {
        dense_sums(v, key, n_groups)
    } else {
        sorted_sums(v, key, n_groups)
    }
}

/// The few-groups strategy: private dense partials per fixed chunk, folded in chunk order.
fn dense_sums(v: &Visits, key: &[u32], n_groups: usize) -> Vec<f64> {
    let width = n_groups * D;
    let mut total = vec![0.0; width];
    let n = v.len();
    let chunks = n.div_ceil(CHUNK_ROWS);
    if chunks <= 1 {
        accumulate(v, key, 0..n, &mut total);
        return total;
    }
    let mut partials = vec![vec![0.0; width]; CHUNKS_IN_FLIGHT.min(chunks)];
    let mut first = 0;
    while first < chunks {
        let in_flight = CHUNKS_IN_FLIGHT.min(chunks - first);
        partials[..in_flight]
            .par_iter_mut()
            .enumerate()
            .for_each(|(j, partial)| {
                partial.fill(0.0);
                let c = first + j;
                let rows = c * CHUNK_ROWS..((c + 1) * CHUNK_ROWS).min(n);
                accumulate(v, key, rows, partial);
            });
        for partial in &partials[..in_flight] {
            for (t, p) in total.iter_mut().zip(partial) {
                *t += p;
            }
        }
        first += in_flight;
    }
    total
}

/// Rows of each group, in row order: `rows[offsets[g]..offsets[g + 1]]`.
#[derive(Clone, Debug)]
pub struct GroupRows {
    /// Start of each group's rows in `rows`; `n_groups + 1` entries.
    pub offsets: Vec<usize>,
    /// Row indices, grouped, in row order within a group.
    pub rows: Vec<u32>,
}

impl GroupRows {
    /// Counting sort of `key` (each below `n_groups`).
    pub fn new(key: &[u32], n_groups: usize) -> GroupRows {
        let mut offsets = vec![0usize; n_groups + 1];
        for &k in key {
            offsets[k as usize + 1] += 1;
        }
        for g in 0..n_groups {
            offsets[g + 1] += offsets[g];
        }
        let mut next = offsets[..n_groups].to_vec();
        let mut rows = vec![0u32; key.len()];
        for (i, &k) in key.iter().enumerate() {
            rows[next[k as usize]] = i as u32;
            next[k as usize] += 1;
        }
        GroupRows { offsets, rows }
    }

    /// The rows of group `g`.
    pub fn of(&self, g: usize) -> &[u32] {
        &self.rows[self.offsets[g]..self.offsets[g + 1]]
    }
}

/// The many-groups strategy: counting sort, then each group summed in row order.
fn sorted_sums(v: &Visits, key: &[u32], n_groups: usize) -> Vec<f64> {
    let groups = GroupRows::new(key, n_groups);
    let mut total = vec![0.0; n_groups * D];
    // Groups are independent: any split over threads gives the same bits.
    total
        .par_chunks_mut(D * 1024)
        .enumerate()
        .for_each(|(c, out)| {
            let g0 = c * 1024;
            for (j, acc) in out.chunks_mut(D).enumerate() {
                for &r in groups.of(g0 + j) {
                    add_visit(v, r as usize, acc);
                }
            }
        });
    total
}

/// PCH bands of human-aid hours per month (the thresholds of 70 and 90 h are those of the
/// dotation complémentaire's first objective).
pub const PCH_BANDS: [&str; 5] = ["none", "0-29", "30-69", "70-89", "90+"];

/// The PCH band of a user: 0 when the user has no PCH hours.
pub fn pch_band(pch_hours_month: Option<f64>) -> u8 {
    match pch_hours_month {
        None => 0,
        Some(h) if h < 30.0 => 1,
        Some(h) if h < 70.0 => 2,
        Some(h) if h < 90.0 => 3,
        Some(_) => 4,
    }
}

/// A cell of users: one service, one crossing of user attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UserCell {
    /// Service index.
    pub service: u32,
    /// Allowance.
    pub allowance: Allowance,
    /// GIR 1–6, 0 when unknown.
    pub gir: u8,
    /// Entourage 0–3.
    pub entourage: u8,
    /// Zone.
    pub zone: Zone,
    /// PCH band (index in [`PCH_BANDS`]).
    pub pch_band: u8,
    /// Users in the cell.
    pub users: u32,
    /// Months served, summed over the cell's users.
    pub user_months: f64,
}

const N_GIR: u64 = 7;
const N_ENTOURAGE: u64 = 4;
const N_ZONE: u64 = 4;
const N_PCH: u64 = 5;

/// User-months per service and cell, sorted by service then cell.
pub fn user_cells(m: &Microdata) -> Vec<UserCell> {
    let u = &m.users;
    let cells_per_service = 4 * N_GIR * N_ENTOURAGE * N_ZONE * N_PCH;
    let mut keyed: Vec<(u64, u32)> = (0..u.len())
        .map(|i| {
            let cell = (((u.allowance[i] as u64 * N_GIR + u64::from(u.gir[i])) * N_ENTOURAGE
                + u64::from(u.entourage[i]))
                * N_ZONE
                + u.zone[i] as u64)
                * N_PCH
                + u64::from(pch_band(u.pch_hours_month[i]));
            (u64::from(u.service[i]) * cells_per_service + cell, i as u32)
        })
        .collect();
    // Stable: users of a cell keep their row order, which fixes the order of additions.
    keyed.par_sort_by_key(|&(k, _)| k);
    let mut out: Vec<UserCell> = Vec::new();
    let mut last = u64::MAX;
    for (k, i) in keyed {
        let i = i as usize;
        if k != last {
            last = k;
            out.push(UserCell {
                service: u.service[i],
                allowance: u.allowance[i],
                gir: u.gir[i],
                entourage: u.entourage[i],
                zone: u.zone[i],
                pch_band: pch_band(u.pch_hours_month[i]),
                users: 0,
                user_months: 0.0,
            });
        }
        let c = out.last_mut().expect("a cell was pushed");
        c.users += 1;
        c.user_months += u.months_served[i];
    }
    out
}

/// Length of the observation period of the visits, in weeks: whole days from the first to
/// the last visit, divided by 7 (0 when there is no visit).
pub fn observed_weeks(v: &Visits) -> f64 {
    const DAY_US: i64 = 86_400_000_000;
    let (lo, hi) = v
        .start
        .par_iter()
        .fold(
            || (i64::MAX, i64::MIN),
            |(lo, hi), &t| (lo.min(t), hi.max(t)),
        )
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    if lo > hi {
        return 0.0;
    }
    let days = hi.div_euclid(DAY_US) - lo.div_euclid(DAY_US) + 1;
    days as f64 / 7.0
}

/// The cost drivers of every service and every user.
#[derive(Clone, Debug)]
pub struct Drivers {
    /// Visit drivers per service, `services × D`, row-major.
    pub service_visits: Vec<f64>,
    /// Visit drivers per user, `users × D`, row-major.
    pub user_visits: Vec<f64>,
    /// Users with at least one visit, per service.
    pub users_with_visits: Vec<u32>,
    /// User-months per service and cell.
    pub user_cells: Vec<UserCell>,
    /// Weeks covered by the visits.
    pub weeks: f64,
}

impl Drivers {
    /// Aggregates visits and users of validated microdata.
    pub fn compute(m: &Microdata) -> Drivers {
        let n_services = m.services.len();
        let n_users = m.users.len();
        let (service_visits, (user_visits, (user_cells, weeks))) = rayon::join(
            || visit_sums(&m.visits, &m.visits.service, n_services),
            || {
                rayon::join(
                    || visit_sums(&m.visits, &m.visits.user, n_users),
                    || rayon::join(|| user_cells(m), || observed_weeks(&m.visits)),
                )
            },
        );
        let mut users_with_visits = vec![0u32; n_services];
        for (u, acc) in user_visits.chunks_exact(D).enumerate() {
            if acc[VisitDriver::Visits as usize] > 0.0 {
                users_with_visits[m.users.service[u] as usize] += 1;
            }
        }
        Drivers {
            service_visits,
            user_visits,
            users_with_visits,
            user_cells,
            weeks,
        }
    }

    /// The visit drivers of service `s`.
    pub fn service(&self, s: usize) -> &[f64] {
        &self.service_visits[s * D..(s + 1) * D]
    }

    /// The visit drivers of user `u`.
    pub fn user(&self, u: usize) -> &[f64] {
        &self.user_visits[u * D..(u + 1) * D]
    }

    /// Derived ratios of service `s` (zero where the denominator is zero).
    pub fn ratios(&self, s: usize) -> ServiceRatios {
        let a = self.service(s);
        let hours = a[VisitDriver::Hours as usize];
        let per_hour = |x: f64| if hours > 0.0 { x / hours } else { 0.0 };
        let user_weeks = f64::from(self.users_with_visits[s]) * self.weeks;
        ServiceRatios {
            travel_min_per_hour: per_hour(a[VisitDriver::TravelMin as usize]),
            km_per_hour: per_hour(a[VisitDriver::TravelKm as usize]),
            visits_per_user_week: if user_weeks > 0.0 {
                a[VisitDriver::Visits as usize] / user_weeks
            } else {
                0.0
            },
            double_staffed_share: per_hour(a[VisitDriver::DoubleStaffedHours as usize]),
            slot_share: std::array::from_fn(|k| per_hour(a[slot_column(Slot::ALL[k])])),
            qualification_share: std::array::from_fn(|k| {
                per_hour(a[qualification_column(Qualification::ALL[k])])
            }),
        }
    }
}

/// Ratios of a service's visit drivers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceRatios {
    /// Travel minutes per hour delivered.
    pub travel_min_per_hour: f64,
    /// Travel km per hour delivered.
    pub km_per_hour: f64,
    /// Visits per user-week (users with visits × weeks observed).
    pub visits_per_user_week: f64,
    /// Share of hours delivered by two carers.
    pub double_staffed_share: f64,
    /// Share of hours by slot, in [`Slot::ALL`] order.
    pub slot_share: [f64; 4],
    /// Share of hours by carer category, in [`Qualification::ALL`] order.
    pub qualification_share: [f64; 3],
}

/// The plain, sequential definition of [`visit_sums`], for tests of the parallel kernels.
pub fn visit_sums_reference(v: &Visits, key: &[u32], n_groups: usize) -> Vec<f64> {
    let mut acc = vec![0.0; n_groups * D];
    accumulate(v, key, 0..v.len(), &mut acc);
    acc
}
