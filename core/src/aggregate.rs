//! Aggregation of visits and users into the drivers of cost, per service and per user.
//!
//! Visits are never held whole: they arrive in record batches (validated and resolved to
//! [`Visits`] by [`crate::validate`]) and are folded into a mergeable state,
//! [`VisitSums`] — [`VISIT_DRIVERS`] sums per service and per user, the visit count and
//! the first and last start — whose size depends on the number of services and users,
//! never on the number of visits. [`VisitAggregator`] does the folding.
//!
//! The order of every floating-point addition is fixed by the global row numbers of the
//! visits, not by batch boundaries or threads: the visits are cut into fixed chunks of
//! [`CHUNK_ROWS`] global rows; each chunk's sums per group are taken in row order (one
//! definition, `contribution`, gives a visit's row of drivers, added to its service's and
//! its user's), and the chunks' partial sums are added to the totals in chunk order. Chunks are summed in
//! parallel, and a chunk may span several batches. So results are bit-identical whatever
//! the batch sizes of the file, the number of threads, or the instruction set.
//!
//! User-months are counted per service and per cell of allowance × GIR × entourage × zone ×
//! PCH band, the crossings from which formula groups are built.

use std::sync::Mutex;

use rayon::prelude::*;

use crate::tables::{Allowance, Code, Microdata, Qualification, Slot, Visits, Zone};

/// Visits per chunk: the unit of the order of additions. Fixed: the chunking defines the
/// result's bits, so it must not depend on the machine or the input's batches.
pub const CHUNK_ROWS: usize = 1 << 16;

/// Complete chunks gathered before they are summed in parallel.
const CHUNKS_IN_FLIGHT: usize = 8;

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

/// Visit `i`'s contribution to its group's row of `D` accumulators. The one place where
/// a visit's contribution to the drivers is defined. Columns a visit does not touch get
/// `+0.0`, which leaves every (non-negative) sum unchanged bit for bit.
#[inline(always)]
fn contribution(v: &Visits, i: usize) -> [f64; D] {
    let h = v.duration_min[i] / 60.0;
    let carers = v.carers[i];
    let (slot, q) = (v.slot[i] as u8, v.qualification[i] as u8);
    // Static indices only (one-hot by comparison): the row stays in vector registers
    // instead of being stored piecewise and reloaded whole.
    let on = |hit: bool| if hit { h } else { 0.0 };
    [
        1.0,
        h,
        on(slot == 0),
        on(slot == 1),
        on(slot == 2),
        on(slot == 3),
        h * f64::from(carers),
        on(carers == 2),
        on(q == 0),
        on(q == 1),
        on(q == 2),
        v.travel_min[i],
        v.travel_km[i],
    ]
}

/// Adds a contribution to a row, column by column (the order of additions of each column
/// is the order of the calls, whatever the vector width).
#[inline(always)]
fn add_row(row: &mut [f64; D], c: &[f64; D]) {
    for j in 0..D {
        row[j] += c[j];
    }
}

/// The visit drivers of a set of visits: the mergeable state of the aggregation. Its
/// size is `(services + users) × D`, whatever the number of visits.
#[derive(Clone, Debug, PartialEq)]
pub struct VisitSums {
    /// Visit drivers per service, `services × D`, row-major.
    pub service: Vec<f64>,
    /// Visit drivers per user, `users × D`, row-major.
    pub user: Vec<f64>,
    /// Visits folded.
    pub visits: u64,
    /// Earliest start, µs (`i64::MAX` when there is no visit).
    pub first_start: i64,
    /// Latest start, µs (`i64::MIN` when there is no visit).
    pub last_start: i64,
}

impl VisitSums {
    /// The state of no visit, for `services` services and `users` users.
    pub fn new(services: usize, users: usize) -> VisitSums {
        VisitSums {
            service: vec![0.0; services * D],
            user: vec![0.0; users * D],
            visits: 0,
            first_start: i64::MAX,
            last_start: i64::MIN,
        }
    }

    /// Adds the partial sums of the next chunk (chunks must come in chunk order).
    fn merge_chunk(&mut self, p: &ChunkPartial) {
        for (total, part) in [(&mut self.service, &p.services), (&mut self.user, &p.users)] {
            for (&k, sums) in part.keys.iter().zip(&part.sums) {
                let row: &mut [f64; D] = (&mut total[k as usize * D..(k as usize + 1) * D])
                    .try_into()
                    .expect("D columns");
                add_row(row, sums);
            }
        }
        self.visits += p.visits;
        self.first_start = self.first_start.min(p.first_start);
        self.last_start = self.last_start.max(p.last_start);
    }

    /// Length of the observation period, in weeks: whole days from the first to the last
    /// visit, divided by 7 (0 when there is no visit).
    pub fn weeks(&self) -> f64 {
        const DAY_US: i64 = 86_400_000_000;
        if self.first_start > self.last_start {
            return 0.0;
        }
        let days = self.last_start.div_euclid(DAY_US) - self.first_start.div_euclid(DAY_US) + 1;
        days as f64 / 7.0
    }
}

/// Sums per group touched by one chunk, in the order the groups were first touched.
#[derive(Debug, Default)]
struct Sparse {
    keys: Vec<u32>,
    sums: Vec<[f64; D]>,
}

/// What one chunk adds to the totals.
#[derive(Debug)]
struct ChunkPartial {
    services: Sparse,
    users: Sparse,
    visits: u64,
    first_start: i64,
    last_start: i64,
}

/// A group → row-of-the-partial map, reused from chunk to chunk (reset after each).
#[derive(Debug)]
struct SlotMap {
    slot: Vec<u32>,
}

impl SlotMap {
    fn new(groups: usize) -> SlotMap {
        SlotMap {
            slot: vec![u32::MAX; groups],
        }
    }

    /// The partial's row of group `k`, created at zero on first touch.
    #[inline(always)]
    fn row(&mut self, part: &mut Sparse, k: u32) -> usize {
        let s = &mut self.slot[k as usize];
        if *s == u32::MAX {
            *s = part.keys.len() as u32;
            part.keys.push(k);
            part.sums.push([0.0; D]);
        }
        *s as usize
    }

    fn reset(&mut self, part: &Sparse) {
        for &k in &part.keys {
            self.slot[k as usize] = u32::MAX;
        }
    }
}

/// The per-thread scratch of the chunk kernel.
#[derive(Debug)]
struct Scratch {
    services: SlotMap,
    users: SlotMap,
}

/// Sums one chunk, given as consecutive pieces of resolved visits, in row order. Runs
/// the kernel compiled for the best instruction set of the CPU ([`crate::simd::Isa`]):
/// the same additions in the same order on every path.
fn sum_chunk(pieces: &[(&Visits, std::ops::Range<usize>)], scratch: &mut Scratch) -> ChunkPartial {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::Isa::detect() == crate::simd::Isa::Avx2 {
        // SAFETY: the CPU supports AVX2 (checked by `Isa::detect`).
        return unsafe { sum_chunk_avx2(pieces, scratch) };
    }
    sum_chunk_kernel(pieces, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_chunk_avx2(
    pieces: &[(&Visits, std::ops::Range<usize>)],
    scratch: &mut Scratch,
) -> ChunkPartial {
    sum_chunk_kernel(pieces, scratch)
}

#[inline(always)]
fn sum_chunk_kernel(
    pieces: &[(&Visits, std::ops::Range<usize>)],
    scratch: &mut Scratch,
) -> ChunkPartial {
    let mut p = ChunkPartial {
        services: Sparse::default(),
        users: Sparse::default(),
        visits: 0,
        first_start: i64::MAX,
        last_start: i64::MIN,
    };
    // Visits usually come grouped by user: each run of visits of one user (and service)
    // is summed in registers, from and back to its rows of the partial. The additions of
    // every group are those of the row order, so the bits are the same as one by one.
    for (v, rows) in pieces {
        let mut i = rows.start;
        while i < rows.end {
            let (s, u) = (v.service[i], v.user[i]);
            let mut j = i + 1;
            while j < rows.end && v.user[j] == u && v.service[j] == s {
                j += 1;
            }
            let rs = scratch.services.row(&mut p.services, s);
            let ru = scratch.users.row(&mut p.users, u);
            let (mut acc_s, mut acc_u) = (p.services.sums[rs], p.users.sums[ru]);
            for k in i..j {
                let c = contribution(v, k);
                add_row(&mut acc_s, &c);
                add_row(&mut acc_u, &c);
            }
            p.services.sums[rs] = acc_s;
            p.users.sums[ru] = acc_u;
            i = j;
        }
        let (first, last) = crate::simd::min_max(&v.start[rows.clone()]);
        p.first_start = p.first_start.min(first);
        p.last_start = p.last_start.max(last);
        p.visits += rows.len() as u64;
    }
    scratch.services.reset(&p.services);
    scratch.users.reset(&p.users);
    p
}

/// Folds resolved visits, given in global row order in pieces of any size, into
/// [`VisitSums`]. Holds at most a few chunks of visits at a time.
#[derive(Debug)]
pub struct VisitAggregator {
    sums: VisitSums,
    services: usize,
    users: usize,
    /// Visits received but not yet summed; the first `consumed` rows of `pending[0]`
    /// are already summed.
    pending: Vec<Visits>,
    consumed: usize,
    pending_rows: usize,
    scratch: Mutex<Vec<Scratch>>,
}

impl VisitAggregator {
    /// An aggregator for `services` services and `users` users (the ranges of the
    /// resolved indices).
    pub fn new(services: usize, users: usize) -> VisitAggregator {
        VisitAggregator {
            sums: VisitSums::new(services, users),
            services,
            users,
            pending: Vec::new(),
            consumed: 0,
            pending_rows: 0,
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// Adds the next visits (in row order after those already pushed).
    pub fn push(&mut self, visits: Visits) {
        if visits.is_empty() {
            return;
        }
        self.pending_rows += visits.len();
        self.pending.push(visits);
        if self.pending_rows >= CHUNKS_IN_FLIGHT * CHUNK_ROWS {
            self.sum_pending(false);
        }
    }

    /// Sums what is pending and returns the totals.
    pub fn finish(mut self) -> VisitSums {
        self.sum_pending(true);
        self.sums
    }

    /// Sums the complete chunks pending (and the last, incomplete one when `all`).
    fn sum_pending(&mut self, all: bool) {
        let full = self.pending_rows / CHUNK_ROWS;
        let chunks = if all {
            self.pending_rows.div_ceil(CHUNK_ROWS)
        } else {
            full
        };
        if chunks == 0 {
            return;
        }
        // Cut the pending pieces into chunks.
        let mut plan: Vec<Vec<(&Visits, std::ops::Range<usize>)>> = Vec::with_capacity(chunks);
        let (mut part, mut at) = (0usize, self.consumed);
        for _ in 0..chunks {
            let mut need = CHUNK_ROWS;
            let mut pieces = Vec::new();
            while need > 0 && part < self.pending.len() {
                let v = &self.pending[part];
                let take = need.min(v.len() - at);
                pieces.push((v, at..at + take));
                need -= take;
                at += take;
                if at == v.len() {
                    part += 1;
                    at = 0;
                }
            }
            plan.push(pieces);
        }
        let pool = &self.scratch;
        let (services, users) = (self.services, self.users);
        let partials: Vec<ChunkPartial> = plan
            .par_iter()
            .map(|pieces| {
                let mut scratch =
                    pool.lock()
                        .expect("scratch pool")
                        .pop()
                        .unwrap_or_else(|| Scratch {
                            services: SlotMap::new(services),
                            users: SlotMap::new(users),
                        });
                let p = sum_chunk(pieces, &mut scratch);
                pool.lock().expect("scratch pool").push(scratch);
                p
            })
            .collect();
        drop(plan);
        for p in &partials {
            self.sums.merge_chunk(p);
        }
        // Drop what was summed.
        if all {
            self.pending.clear();
            self.consumed = 0;
            self.pending_rows = 0;
        } else {
            self.pending.drain(..part);
            self.consumed = at;
            self.pending_rows -= chunks * CHUNK_ROWS;
        }
    }
}

/// The plain, sequential definition of the visit sums (fixed chunks of global rows, each
/// summed per group in row order into a dense partial, partials added in chunk order),
/// for tests of [`VisitAggregator`].
pub fn visit_sums_reference(v: &Visits, services: usize, users: usize) -> VisitSums {
    let mut sums = VisitSums::new(services, users);
    let mut start = 0;
    while start < v.len() {
        let end = (start + CHUNK_ROWS).min(v.len());
        let mut ps = vec![0.0; services * D];
        let mut pu = vec![0.0; users * D];
        let mut touched_s = vec![false; services];
        let mut touched_u = vec![false; users];
        for i in start..end {
            let (s, u) = (v.service[i] as usize, v.user[i] as usize);
            let c = contribution(v, i);
            for j in 0..D {
                ps[s * D + j] += c[j];
                pu[u * D + j] += c[j];
            }
            touched_s[s] = true;
            touched_u[u] = true;
            sums.first_start = sums.first_start.min(v.start[i]);
            sums.last_start = sums.last_start.max(v.start[i]);
        }
        for (total, part, touched) in [
            (&mut sums.service, &ps, &touched_s),
            (&mut sums.user, &pu, &touched_u),
        ] {
            for (g, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
                for j in 0..D {
                    total[g * D + j] += part[g * D + j];
                }
            }
        }
        sums.visits += (end - start) as u64;
        start = end;
    }
    sums
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

/// The cost drivers of every service and every user.
#[derive(Clone, Debug)]
pub struct Drivers {
    /// Visit drivers per service, `services × D`, row-major (zeros without visits).
    pub service_visits: Vec<f64>,
    /// Visit drivers per user, `users × D`, row-major (zeros without visits).
    pub user_visits: Vec<f64>,
    /// Visits aggregated; `None` when the dataset has no visits table (census data), so
    /// that nothing is computed from visit drivers that do not exist.
    pub visits: Option<u64>,
    /// Users with at least one visit, per service.
    pub users_with_visits: Vec<u32>,
    /// User-months per service and cell.
    pub user_cells: Vec<UserCell>,
    /// Weeks covered by the visits.
    pub weeks: f64,
}

impl Drivers {
    /// The drivers of validated microdata from the sums of its visits (`None` for a
    /// dataset without visits).
    pub fn new(m: &Microdata, sums: Option<VisitSums>) -> Drivers {
        let n_services = m.services.len();
        let n_users = m.users.len();
        let (sums, visits) = match sums {
            Some(s) => {
                let n = s.visits;
                (s, Some(n))
            }
            None => (VisitSums::new(n_services, n_users), None),
        };
        assert_eq!(sums.service.len(), n_services * D, "sums of these services");
        assert_eq!(sums.user.len(), n_users * D, "sums of these users");
        let weeks = sums.weeks();
        let mut users_with_visits = vec![0u32; n_services];
        for (u, acc) in sums.user.chunks_exact(D).enumerate() {
            if acc[VisitDriver::Visits as usize] > 0.0 {
                users_with_visits[m.users.service[u] as usize] += 1;
            }
        }
        Drivers {
            service_visits: sums.service,
            user_visits: sums.user,
            visits,
            users_with_visits,
            user_cells: user_cells(m),
            weeks,
        }
    }

    /// Whether the dataset had a visits table.
    pub fn has_visits(&self) -> bool {
        self.visits.is_some()
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
