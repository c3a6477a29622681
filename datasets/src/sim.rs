//! Simulation of one service: its users (allowance, GIR, plan, resources, entourage, zone,
//! months served), each user's weekly visit pattern, the exact annual drivers that pattern
//! implies over the user's served days, and the service's hours, cost (the
//! data-generating process), tariff, dotation complémentaire and staff.
//!
//! Every draw of service `i` comes from its own ChaCha8 stream (seed, 2³² + i), so a
//! service is the same whatever else is generated and whatever the thread count.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::calendar::{YearCalendar, slot_for};
use crate::frame::{
    Frame, FrameService, SERVICE_STREAM_BASE, Selected, categorical, normal, round_to, stream_rng,
    uniform,
};
use crate::model::{
    APA_PLAN_AMOUNT, APA_PLAN_HOURS, Allowance, COUPLE_FACTOR, COUPLE_SHARE, DC_CAP_USE, DC_SHARE,
    DURATION_MIX, DURATIONS, DgpParameters, ENTOURAGE_HIGH, ENTOURAGE_HOURS, ENTOURAGE_LOW,
    FTE_HOURS, FULL_USE_SHARE, FULL_YEAR_SHARE, GirBand, MAIN_ZONE_SHARE, MAX_WEEKLY_VISITS,
    MIN_SERVED_DAYS, OTHER_HOURS_CAP, OTHER_HOURS_MEAN, OTHER_HOURS_SIGMA, OTHER_NON_INTERVENTION,
    P_DOUBLE, P_EVENING, P_NIGHT, P_SUNDAY, PARTIAL_USE, PCH_HOURS_CAP, PCH_HOURS_MEAN,
    PCH_HOURS_SIGMA, PLAN_AMOUNT_HOURS_CORRELATION, PLAN_AMOUNT_SIGMA, PLAN_HOURS_SIGMA,
    RESOURCES_MEDIAN_2026, RESOURCES_SIGMA, SOCIAL_AID_HOURS_CAP, SOCIAL_AID_HOURS_MEAN,
    SOCIAL_AID_HOURS_SIGMA, SUPPORT_FTE_BASE, SUPPORT_FTE_SHARE, Slot, TRAVEL_FIXED_MIN,
    TRAVEL_KM_MEDIAN, TRAVEL_KM_SIGMA, TRAVEL_SPEED_KMH, UserGroup, Zone, profile_index,
};
use crate::reference::LegalYear;

/// Day anchors (minute of the day) where a visit may start, before a jitter of 0, 15 or
/// 30 minutes that keeps the visit within the two hours after its anchor: one early
/// evening round, six day rounds, one late evening round, two night rounds. Anchors two
/// hours apart cannot overlap.
const ANCHORS: [u16; 10] = [360, 480, 600, 720, 840, 960, 1_080, 1_200, 1_320, 120];
const EVENING_ANCHORS: [usize; 2] = [0, 7];
const DAY_ANCHORS: [usize; 6] = [1, 2, 3, 4, 5, 6];
const NIGHT_ANCHORS: [usize; 2] = [8, 9];
const SUNDAY: u8 = 6;

/// What the model knows when it simulates a service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) frame: &'a Frame,
    pub(crate) calendar: &'a YearCalendar,
    pub(crate) legal: &'a LegalYear,
    pub(crate) dgp: &'a DgpParameters,
    pub(crate) seed: u64,
}

/// Who a user is, before the plan is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) allowance: Allowance,
    pub(crate) gir: Option<u8>,
    pub(crate) entourage: u8,
}

fn draw_non_apa_gir(rng: &mut ChaCha8Rng, allowance: Allowance) -> Option<u8> {
    match allowance {
        Allowance::Apa | Allowance::Pch => None,
        // Aide ménagère goes to GIR 5–6.
        Allowance::SocialAid => Some(if rng.random::<f64>() < 0.6 { 5 } else { 6 }),
        // Pension funds' users are GIR 5–6; private customers have no GIR.
        Allowance::Other => match categorical(rng, &[0.3, 0.3, 0.4]) {
            0 => Some(5),
            1 => Some(6),
            _ => None,
        },
    }
}

/// An entourage level within its band.
fn draw_entourage(rng: &mut ChaCha8Rng, high: bool) -> u8 {
    if high {
        2 + categorical(rng, &ENTOURAGE_HIGH) as u8
    } else {
        categorical(rng, &ENTOURAGE_LOW) as u8
    }
}

/// A user's profile drawn from the service's allowance, GIR and entourage mixes.
pub(crate) fn draw_profile(rng: &mut ChaCha8Rng, service: &FrameService) -> Profile {
    let allowance = Allowance::ALL[categorical(rng, &service.allowance_mix)];
    let gir = if allowance == Allowance::Apa {
        Some(categorical(rng, &service.gir_mix) as u8 + 1)
    } else {
        draw_non_apa_gir(rng, allowance)
    };
    let high = rng.random::<f64>() < service.high_entourage;
    let entourage = draw_entourage(rng, high);
    Profile {
        allowance,
        gir,
        entourage,
    }
}

/// The probability that a user of `service` falls in `group`.
pub(crate) fn group_probability(service: &FrameService, group: UserGroup) -> f64 {
    let band = match group.gir_band {
        GirBand::Gir12 => service.gir_mix[0] + service.gir_mix[1],
        GirBand::Gir34 => service.gir_mix[2] + service.gir_mix[3],
        GirBand::Other => 1.0,
    };
    let entourage = if group.high_entourage {
        service.high_entourage
    } else {
        1.0 - service.high_entourage
    };
    service.allowance_mix[group.allowance.index()] * band * entourage
}

/// A user's profile drawn in `service` conditionally on its DGP group.
pub(crate) fn draw_profile_in_group(
    rng: &mut ChaCha8Rng,
    service: &FrameService,
    group: UserGroup,
) -> Profile {
    let gir = match group.gir_band {
        GirBand::Gir12 => Some(categorical(rng, &service.gir_mix[..2]) as u8 + 1),
        GirBand::Gir34 => Some(categorical(rng, &service.gir_mix[2..]) as u8 + 3),
        GirBand::Other => draw_non_apa_gir(rng, group.allowance),
    };
    Profile {
        allowance: group.allowance,
        gir,
        entourage: draw_entourage(rng, group.high_entourage),
    }
}

/// One visit of a user's weekly pattern; it recurs every week on its weekday.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PatternVisit {
    /// Monday = 0 … Sunday = 6.
    pub(crate) weekday: u8,
    /// Start, minutes after midnight.
    pub(crate) minute: u16,
    /// Minutes at the user's home.
    pub(crate) duration: u16,
    /// 1, or 2 for a double-staffed visit.
    pub(crate) carers: u8,
    /// 0, 1, 2 for A, B, C.
    pub(crate) qualification: u8,
    pub(crate) travel_min: f64,
    pub(crate) travel_km: f64,
}

/// A user's annual cost drivers, exact sums over the served days.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Annual {
    /// Hours delivered (billed): visit duration, whatever the number of carers.
    pub(crate) hours: f64,
    /// Carer-hours (duration × carers) by slot and qualification.
    pub(crate) carer_hours: [[f64; 3]; 4],
    /// Carer travel hours (travel time × carers).
    pub(crate) travel_hours: f64,
    /// Carer km (km × carers).
    pub(crate) km: f64,
    /// Visits in the year.
    pub(crate) visits: f64,
}

impl Annual {
    /// Carer-hours at homes, all slots and qualifications.
    pub(crate) fn total_carer_hours(&self) -> f64 {
        self.carer_hours.iter().flatten().sum()
    }

    /// Carer-hours by slot.
    pub(crate) fn carer_hours_by_slot(&self) -> [f64; 4] {
        self.carer_hours.map(|q| q.iter().sum())
    }
}

/// A simulated user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserSim {
    pub(crate) profile: Profile,
    pub(crate) zone: Zone,
    pub(crate) plan_hours: f64,
    pub(crate) plan_amount: f64,
    pub(crate) pch_hours: Option<f64>,
    pub(crate) resources: f64,
    pub(crate) couple: bool,
    /// First served day of the year (0-based) and the day after the last.
    pub(crate) served_from: u16,
    pub(crate) served_to: u16,
    pub(crate) months_served: f64,
    /// Weekly pattern sorted by weekday then start.
    pub(crate) pattern: Vec<PatternVisit>,
    /// `pattern[by_weekday[w]..by_weekday[w + 1]]` are the visits of weekday `w`.
    pub(crate) by_weekday: [u8; 8],
    pub(crate) annual: Annual,
}

impl UserSim {
    /// The DGP group of the user.
    pub(crate) fn group(&self) -> usize {
        UserGroup::index_of(
            self.profile.allowance,
            self.profile.gir,
            self.profile.entourage,
        )
    }

    /// Calls `f(day, visit)` for every visit on the served days within `from..to`, in
    /// chronological order.
    pub(crate) fn for_each_visit(
        &self,
        calendar: &YearCalendar,
        from: u16,
        to: u16,
        mut f: impl FnMut(u16, &PatternVisit),
    ) {
        let lo = from.max(self.served_from);
        let hi = to.min(self.served_to);
        for day in lo..hi {
            let w = usize::from(calendar.weekday(day));
            let range = usize::from(self.by_weekday[w])..usize::from(self.by_weekday[w + 1]);
            for v in &self.pattern[range] {
                f(day, v);
            }
        }
    }
}

fn lognormal(rng: &mut ChaCha8Rng, mean: f64, sigma: f64) -> f64 {
    (mean.ln() - sigma * sigma / 2.0 + sigma * normal(rng)).exp()
}

/// The visit class of the anchors it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Day,
    Evening,
    Night,
}

impl Class {
    fn anchors(self) -> &'static [usize] {
        match self {
            Class::Day => &DAY_ANCHORS,
            Class::Evening => &EVENING_ANCHORS,
            Class::Night => &NIGHT_ANCHORS,
        }
    }
}

/// Finds a free anchor of `class` on one of `days` (tried in order), marks it used.
fn place(occupied: &mut [u16; 7], days: &[u8], class: Class, offset: usize) -> Option<(u8, usize)> {
    let anchors = class.anchors();
    for &d in days {
        for k in 0..anchors.len() {
            let a = anchors[(k + offset) % anchors.len()];
            if occupied[usize::from(d)] & (1 << a) == 0 {
                occupied[usize::from(d)] |= 1 << a;
                return Some((d, a));
            }
        }
    }
    None
}

/// Draws one user of a service.
pub(crate) fn draw_user(
    rng: &mut ChaCha8Rng,
    env: &Env<'_>,
    service: &FrameService,
    profile: Profile,
) -> UserSim {
    let dept = &env.frame.depts[service.dept];
    let calendar = env.calendar;
    let zone = if rng.random::<f64>() < MAIN_ZONE_SHARE {
        service.main_zone
    } else {
        Zone::ALL[categorical(rng, &dept.zone_mix)]
    };
    let p = profile_index(profile.allowance, profile.gir);
    let ent = ENTOURAGE_HOURS[usize::from(profile.entourage)];

    // The plan.
    let z_hours = normal(rng);
    let hours_of = |mean: f64, sigma: f64, cap: f64| -> f64 {
        let h = (mean.ln() - sigma * sigma / 2.0 + sigma * z_hours).exp();
        round_to(h.min(cap), 0.5).max(2.0)
    };
    let (plan_hours, plan_amount, pch_hours) = match profile.allowance {
        Allowance::Apa => {
            let g = usize::from(profile.gir.unwrap_or(4)) - 1;
            let hours = hours_of(APA_PLAN_HOURS[g] * ent, PLAN_HOURS_SIGMA, f64::INFINITY);
            let rho = PLAN_AMOUNT_HOURS_CORRELATION;
            let z = rho * z_hours + (1.0 - rho * rho).sqrt() * normal(rng);
            let s = PLAN_AMOUNT_SIGMA;
            let amount = (APA_PLAN_AMOUNT[g].ln() - s * s / 2.0 + s * z).exp();
            let amount = round_to(amount.min(env.legal.apa_ceilings[g]), 0.01);
            (hours, amount, None)
        }
        Allowance::Pch => {
            let hours = hours_of(PCH_HOURS_MEAN * ent, PCH_HOURS_SIGMA, PCH_HOURS_CAP);
            (
                hours,
                round_to(hours * dept.tarif_reference, 0.01),
                Some(hours),
            )
        }
        Allowance::SocialAid => {
            let hours = hours_of(
                SOCIAL_AID_HOURS_MEAN * ent,
                SOCIAL_AID_HOURS_SIGMA,
                SOCIAL_AID_HOURS_CAP,
            );
            (hours, round_to(hours * dept.tarif_reference, 0.01), None)
        }
        Allowance::Other => {
            let hours = hours_of(OTHER_HOURS_MEAN * ent, OTHER_HOURS_SIGMA, OTHER_HOURS_CAP);
            (hours, round_to(hours * dept.tarif_reference, 0.01), None)
        }
    };
    let usage = if rng.random::<f64>() < FULL_USE_SHARE {
        1.0
    } else {
        uniform(rng, PARTIAL_USE)
    };

    // Resources.
    let median = RESOURCES_MEDIAN_2026 * env.legal.mtp / 1_288.13;
    let person =
        lognormal(rng, median, RESOURCES_SIGMA) * (RESOURCES_SIGMA * RESOURCES_SIGMA / 2.0).exp();
    let couple = rng.random::<f64>() < COUPLE_SHARE;
    let resources = (person * if couple { COUPLE_FACTOR } else { 1.0 }).round();

    // Served days.
    let days = calendar.days;
    let (served_from, served_to) = if rng.random::<f64>() < FULL_YEAR_SHARE {
        (0, days)
    } else {
        let length = rng.random_range(MIN_SERVED_DAYS..days);
        let start = rng.random_range(0..=days - length);
        (start, start + length)
    };
    let months_served = f64::from(served_to - served_from) * 12.0 / f64::from(days);

    // The weekly pattern: durations until the weekly minutes of the used plan are reached.
    let weeks_per_month = f64::from(days) / 7.0 / 12.0;
    let target = plan_hours * usage / weeks_per_month * 60.0;
    let mix = match profile.allowance {
        Allowance::Apa if profile.gir.is_some_and(|g| g <= 2) => &DURATION_MIX[0],
        Allowance::Apa => &DURATION_MIX[1],
        Allowance::Pch => &DURATION_MIX[2],
        _ => &DURATION_MIX[3],
    };
    let mut durations: Vec<u16> = Vec::with_capacity(16);
    let mut total = 0.0;
    loop {
        let d = DURATIONS[categorical(rng, mix)];
        if !durations.is_empty() && target - total < f64::from(d) / 2.0 {
            break;
        }
        durations.push(d);
        total += f64::from(d);
        if durations.len() == MAX_WEEKLY_VISITS {
            break;
        }
    }
    let classes: Vec<Class> = durations
        .iter()
        .map(|_| {
            let u = rng.random::<f64>();
            if u < P_NIGHT[p] {
                Class::Night
            } else if u < P_NIGHT[p] + P_EVENING[p] {
                Class::Evening
            } else {
                Class::Day
            }
        })
        .collect();
    let n = durations.len();
    let sunday_visits = if n >= 3 && rng.random::<f64>() < P_SUNDAY[p] {
        ((n as f64 / 7.0).round() as usize).max(1)
    } else {
        0
    };
    let weekdays = n - sunday_visits;
    let mut days_order: [u8; 6] = [0, 1, 2, 3, 4, 5];
    for i in 0..6 {
        let j = rng.random_range(i..6);
        days_order.swap(i, j);
    }
    let active = weekdays.clamp(1, 6);
    let offset = rng.random_range(0..3_usize);
    let mut occupied = [0_u16; 7];
    let mut placed: Vec<(u8, usize, u16)> = Vec::with_capacity(n);
    for (i, (&d, &class)) in durations.iter().zip(&classes).enumerate() {
        // Days to try, in order: Sunday for a Sunday visit, else the active weekdays from
        // this visit's turn; then the inactive weekdays; then (Sunday visits) the active.
        let mut order = [0_u8; 7];
        let mut len = 0;
        if i >= weekdays {
            order[0] = SUNDAY;
            len = 1;
        } else {
            for k in 0..active {
                order[len] = days_order[(i % active + k) % active];
                len += 1;
            }
        }
        for &day in &days_order[active..] {
            order[len] = day;
            len += 1;
        }
        if i >= weekdays {
            for &day in &days_order[..active] {
                order[len] = day;
                len += 1;
            }
        }
        let order = &order[..len];
        let spot = place(&mut occupied, order, class, offset)
            .or_else(|| place(&mut occupied, order, Class::Day, offset));
        if let Some((day, anchor)) = spot {
            placed.push((day, anchor, d));
        }
    }
    let qualification = {
        let [a, b, c] = service.qualification_mix;
        if matches!(p, 0 | 1 | 4) {
            let c2 = (c * 1.6).min(0.85);
            let k = (1.0 - c2) / (a + b);
            [a * k, b * k, c2]
        } else {
            [a, b, c]
        }
    };
    let z = zone.index();
    let mut pattern: Vec<PatternVisit> = placed
        .into_iter()
        .map(|(weekday, anchor, duration)| {
            let room = (120 - duration) / 15 + 1;
            let jitter = 15 * rng.random_range(0..room.min(3));
            let carers = if rng.random::<f64>() < P_DOUBLE[p] {
                2
            } else {
                1
            };
            let qualification = categorical(rng, &qualification) as u8;
            let km = (TRAVEL_KM_MEDIAN[z] * (TRAVEL_KM_SIGMA * normal(rng)).exp()).max(0.2);
            let travel_km = round_to(km, 0.1);
            let travel_min = round_to(
                TRAVEL_FIXED_MIN + travel_km * 60.0 / TRAVEL_SPEED_KMH[z],
                0.1,
            );
            PatternVisit {
                weekday,
                minute: ANCHORS[anchor] + jitter,
                duration,
                carers,
                qualification,
                travel_min,
                travel_km,
            }
        })
        .collect();
    pattern.sort_by_key(|v| (v.weekday, v.minute));
    let mut by_weekday = [0_u8; 8];
    for w in 0..7 {
        by_weekday[w + 1] = by_weekday[w]
            + pattern
                .iter()
                .filter(|v| usize::from(v.weekday) == w)
                .count() as u8;
    }

    // Exact annual drivers: each pattern visit times its occurrences in the served days.
    let mut annual = Annual::default();
    for v in &pattern {
        let (normal_days, holidays) = calendar.occurrences(v.weekday, served_from, served_to);
        for (count, holiday) in [(normal_days, false), (holidays, true)] {
            if count == 0 {
                continue;
            }
            let count = f64::from(count);
            let slot = slot_for(v.weekday, v.minute, holiday);
            let hours = f64::from(v.duration) / 60.0 * count;
            let carers = f64::from(v.carers);
            annual.hours += hours;
            annual.carer_hours[slot.index()][usize::from(v.qualification)] += hours * carers;
            annual.travel_hours += v.travel_min / 60.0 * carers * count;
            annual.km += v.travel_km * carers * count;
            annual.visits += count;
        }
    }

    UserSim {
        profile,
        zone,
        plan_hours,
        plan_amount,
        pch_hours,
        resources,
        couple,
        served_from,
        served_to,
        months_served,
        pattern,
        by_weekday,
        annual,
    }
}

/// The DGP's direct cost of one user (before overhead and the service random effect),
/// and its km part (cost group G1).
pub(crate) fn direct_cost(user: &UserSim, dgp: &DgpParameters) -> (f64, f64) {
    let a = &user.annual;
    let mut care = 0.0;
    for slot in Slot::ALL {
        let uplift = 1.0 + dgp.slot_uplift[slot.index()];
        for q in 0..3 {
            care += a.carer_hours[slot.index()][q] * dgp.wage_per_carer_hour[q] * uplift;
        }
    }
    let km = a.km * dgp.cost_per_km;
    let direct = user.months_served * dgp.coordination_per_user_month[user.group()]
        + care
        + a.travel_hours * dgp.travel_cost_per_hour
        + km;
    (direct, km)
}

/// A service's row of the `services` table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceRow {
    pub(crate) selected: Selected,
    /// Hours delivered in the year by allowance (APA, PCH, social aid, other).
    pub(crate) hours: [f64; 4],
    pub(crate) tariff_hourly: Option<f64>,
    pub(crate) price_billed: Option<f64>,
    pub(crate) dotation_complementaire: f64,
    /// G1, G2, G3.
    pub(crate) cost_groups: [f64; 3],
    pub(crate) cost_total: f64,
    pub(crate) fte_carers: f64,
    pub(crate) fte_support: f64,
    pub(crate) users: usize,
    /// Annual visits of all users.
    pub(crate) annual_visits: f64,
}

/// A simulated service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSim {
    pub(crate) users: Vec<UserSim>,
    pub(crate) row: ServiceRow,
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Simulates one service of the frame from its own stream.
pub(crate) fn simulate_service(env: &Env<'_>, selected: Selected) -> ServiceSim {
    let service = &env.frame.services[selected.index];
    let mut rng = stream_rng(env.seed, SERVICE_STREAM_BASE + selected.index as u64);
    let users: Vec<UserSim> = (0..service.users)
        .map(|_| {
            let profile = draw_profile(&mut rng, service);
            draw_user(&mut rng, env, service, profile)
        })
        .collect();

    let dgp = env.dgp;
    let mut hours = [0.0; 4];
    let mut direct = 0.0;
    let mut km_cost = 0.0;
    let mut carer_hours = 0.0;
    let mut travel_hours = 0.0;
    let mut annual_visits = 0.0;
    for u in &users {
        hours[u.profile.allowance.index()] += u.annual.hours;
        let (d, k) = direct_cost(u, dgp);
        direct += d;
        km_cost += k;
        carer_hours += u.annual.total_carer_hours();
        travel_hours += u.annual.travel_hours;
        annual_visits += u.annual.visits;
    }

    let sigma = dgp.random_effect_sigma;
    let effect = (sigma * normal(&mut rng) - sigma * sigma / 2.0).exp();
    let cost_total = round_to(effect * (1.0 + dgp.overhead_share) * direct, 0.01);
    let g1 = round_to(effect * km_cost, 0.01);
    let g3 = round_to(effect * dgp.overhead_share * direct, 0.01);
    let g2 = round_to(cost_total - g1 - g3, 0.01);

    let other_non_intervention = uniform(&mut rng, OTHER_NON_INTERVENTION);
    let support_share = uniform(&mut rng, SUPPORT_FTE_SHARE);
    let paid = (carer_hours + travel_hours) / (1.0 - other_non_intervention);
    let fte_carers = round_to(paid / FTE_HOURS, 0.01);
    let fte_support = round_to(SUPPORT_FTE_BASE + fte_carers * support_share, 0.01);

    let all_hours: f64 = hours.iter().sum();
    let cost_per_hour = if all_hours > 0.0 {
        cost_total / all_hours
    } else {
        30.0
    };
    let z = normal(&mut rng);
    let (tariff_hourly, price_billed) = if service.habilitated {
        let t = 24.0 + 6.0 * logistic((0.91 * cost_per_hour - 27.0) / 2.0 + 0.3 * z);
        (Some(round_to(t, 0.01)), None)
    } else {
        let p = 25.0 + 7.0 * logistic((cost_per_hour - 30.0) / 2.5 + 0.5 * z);
        (None, Some(round_to(p, 0.01)))
    };
    let has_dc = rng.random::<f64>() < DC_SHARE[usize::from(!service.habilitated)];
    let dc_use = uniform(&mut rng, DC_CAP_USE);
    let dotation_complementaire = if has_dc {
        ((hours[0] + hours[1]) * env.legal.dc_rate_cap * dc_use).floor()
    } else {
        0.0
    };

    let row = ServiceRow {
        selected,
        hours,
        tariff_hourly,
        price_billed,
        dotation_complementaire,
        cost_groups: [g1, g2, g3],
        cost_total,
        fte_carers,
        fte_support,
        users: users.len(),
        annual_visits,
    };
    ServiceSim { users, row }
}
