//! The model's vocabulary (statuses, allowances, zones, slots, qualifications, user
//! groups) and every constant of the synthetic survey: the public targets it is shaped on
//! and the parameters of the cost data-generating process. Keeping them in one place lets
//! the crate documentation, the generator and `truth.json` quote the same numbers.

use serde::{Deserialize, Serialize};

/// Number of SAD authorised on 1 January 2024 (DOMAIN.md §1, §7): the frame size.
pub(crate) const FRAME_SERVICES: usize = 6_314;
/// Services retained by the ENC SAD (DOMAIN.md §1): the sample size.
pub(crate) const SAMPLE_SERVICES: usize = 437;

/// Status shares of the frame: associatif, public, privé lucratif (our choice, shaped on
/// the sector: private services are many but small).
pub(crate) const STATUS_SHARES: [f64; 3] = [0.45, 0.10, 0.45];
/// Mean number of users over the year of a service, by status (lognormal sizes): the frame
/// then holds ≈ 800,000 users (DOMAIN.md §7: 816,000 APA beneficiaries at home, 407,000 PCH,
/// not all served by a SAD).
pub(crate) const USERS_MEAN: [f64; 3] = [185.0, 155.0, 72.0];
/// Log-scale spread of service sizes (heavy tail).
pub(crate) const USERS_SIGMA: f64 = 1.0;
/// Bounds on the number of users of one service.
pub(crate) const USERS_MIN: f64 = 5.0;
pub(crate) const USERS_MAX: f64 = 6_000.0;
/// Probability of being habilitated to social aid (HAS), by status.
pub(crate) const HAS_SHARE: [f64; 3] = [0.75, 0.95, 0.05];
/// Probability of being a SAD mixte (also nursing care), by status: ≈ 20 % overall
/// (DOMAIN.md §1: 20 % of the sample is mixed).
pub(crate) const MIXED_SHARE: [f64; 3] = [0.28, 0.35, 0.10];
/// Probability of being specialised in disability (mostly PCH users), by status.
pub(crate) const DISABILITY_SHARE: [f64; 3] = [0.08, 0.02, 0.05];
/// Size factor of disability-specialised services (they are smaller).
pub(crate) const DISABILITY_SIZE: f64 = 0.5;

/// Nominal APA+PCH hours per user that the register records for a service (its declared
/// activity); only used as the size measure for stratification.
pub(crate) const DECLARED_HOURS_PER_USER: f64 = 240.0;
/// Declared hours factor of disability-specialised services (heavier plans).
pub(crate) const DECLARED_DISABILITY_FACTOR: f64 = 1.5;
/// Upper bounds (declared APA+PCH hours a year) of the size classes small, medium, large;
/// above the last is `xlarge`.
pub(crate) const SIZE_BOUNDS: [f64; 3] = [12_000.0, 36_000.0, 96_000.0];
/// Relative sampling fractions by size class (rescaled so that 437 services are drawn):
/// large services are oversampled so that the sample holds ≈ 17 % of the APA+PCH hours
/// with 7 % of the services (DOMAIN.md §1).
pub(crate) const SAMPLING_FRACTION: [f64; 4] = [0.02, 0.05, 0.14, 0.40];

/// Allowance mix (APA, PCH, social aid, other) of a HAS service.
pub(crate) const MIX_HAS: [f64; 4] = [0.70, 0.15, 0.10, 0.05];
/// Allowance mix of an NHAS service (no social-aid hours without habilitation).
pub(crate) const MIX_NHAS: [f64; 4] = [0.74, 0.15, 0.0, 0.11];
/// Allowance mix of a disability-specialised service (social aid only when HAS).
pub(crate) const MIX_DISABILITY: [f64; 4] = [0.25, 0.65, 0.05, 0.05];

/// Case-mix heterogeneity between services: each service's allowance mix is drawn from a
/// Dirichlet distribution centred on its type's mix with this concentration, its GIR mix
/// from a Dirichlet centred on the national mix, and its share of users with a high
/// entourage (2–3) from a Beta(2.5, 2.5). The national mixes are the means, and the
/// between-service variation is what lets a calibration tell the groups apart.
pub(crate) const ALLOWANCE_MIX_CONCENTRATION: f64 = 20.0;
pub(crate) const GIR_MIX_CONCENTRATION: f64 = 15.0;
pub(crate) const HIGH_ENTOURAGE_BETA: f64 = 2.5;
/// Entourage within its band: 0 or 1 (low) with 30 / 70 %, 2 or 3 (high) with 70 / 30 %;
/// nationally 15 / 35 / 35 / 15 %.
pub(crate) const ENTOURAGE_LOW: [f64; 2] = [0.3, 0.7];
pub(crate) const ENTOURAGE_HIGH: [f64; 2] = [0.7, 0.3];
/// Multiplier of the plan hours by entourage (a user without family help gets more hours);
/// its mean over the entourage distribution is 1.
pub(crate) const ENTOURAGE_HOURS: [f64; 4] = [1.20, 1.05, 0.95, 0.80];

/// Mean plan hours a month by GIR 1–4: ≈ 52 h for GIR 1–2 and ≈ 28 h for GIR 3–4
/// (2016 SAAD cost study, DOMAIN.md §4).
pub(crate) const APA_PLAN_HOURS: [f64; 4] = [58.0, 51.0, 33.0, 26.5];
/// Log-scale spread of plan hours.
pub(crate) const PLAN_HOURS_SIGMA: f64 = 0.45;
/// Mean APA plan amount a month by GIR 1–4 (2017 averages, DOMAIN.md §3), before the cap.
pub(crate) const APA_PLAN_AMOUNT: [f64; 4] = [1_250.0, 940.0, 650.0, 360.0];
/// Log-scale spread of plan amounts and their correlation with plan hours.
pub(crate) const PLAN_AMOUNT_SIGMA: f64 = 0.35;
pub(crate) const PLAN_AMOUNT_HOURS_CORRELATION: f64 = 0.6;
/// APA monthly plan ceilings as multiples of the MTP, GIR 1–4 (art. R.232-10 CASF).
pub(crate) const APA_CEILING_MTP: [f64; 4] = [1.615, 1.306, 0.944, 0.630];
/// PCH human-aid hours a month: mean, log spread, cap.
pub(crate) const PCH_HOURS_MEAN: f64 = 42.0;
pub(crate) const PCH_HOURS_SIGMA: f64 = 0.7;
pub(crate) const PCH_HOURS_CAP: f64 = 300.0;
/// Social aid (aide ménagère) hours a month: mean, log spread, legal cap of 30 h.
pub(crate) const SOCIAL_AID_HOURS_MEAN: f64 = 14.0;
pub(crate) const SOCIAL_AID_HOURS_SIGMA: f64 = 0.4;
pub(crate) const SOCIAL_AID_HOURS_CAP: f64 = 30.0;
/// Other users (pension funds, private customers): mean, log spread, cap.
pub(crate) const OTHER_HOURS_MEAN: f64 = 10.0;
pub(crate) const OTHER_HOURS_SIGMA: f64 = 0.6;
pub(crate) const OTHER_HOURS_CAP: f64 = 60.0;
/// Share of users who use their whole plan (DOMAIN.md §3: about half do not); the others
/// use a uniform share of it between the two bounds.
pub(crate) const FULL_USE_SHARE: f64 = 0.5;
pub(crate) const PARTIAL_USE: (f64, f64) = (0.35, 0.95);

/// Monthly resources of one person (couples: the household has 1.7 times this), median
/// in 2026 euros (scaled with the MTP for other years) and log spread: ≈ 14 % below
/// 0.725·MTP, ≈ 6 % above 2.67·MTP.
pub(crate) const RESOURCES_MEDIAN_2026: f64 = 1_650.0;
pub(crate) const RESOURCES_SIGMA: f64 = 0.5;
pub(crate) const COUPLE_SHARE: f64 = 0.3;
pub(crate) const COUPLE_FACTOR: f64 = 1.7;

/// Share of users served the whole year; the others are served a uniform number of days
/// (at least `MIN_SERVED_DAYS`) at a uniform place in the year.
pub(crate) const FULL_YEAR_SHARE: f64 = 0.62;
pub(crate) const MIN_SERVED_DAYS: u16 = 14;
/// Share of a service's users living in its main zone (the others follow the
/// département's zone mix).
pub(crate) const MAIN_ZONE_SHARE: f64 = 0.7;

/// Visit durations (minutes) and their distribution by visit profile: GIR 1–2, GIR 3–4,
/// PCH, social aid and other.
pub(crate) const DURATIONS: [u16; 5] = [30, 45, 60, 90, 120];
pub(crate) const DURATION_MIX: [[f64; 5]; 4] = [
    [0.12, 0.18, 0.35, 0.22, 0.13],
    [0.18, 0.25, 0.35, 0.16, 0.06],
    [0.08, 0.12, 0.30, 0.28, 0.22],
    [0.05, 0.10, 0.50, 0.25, 0.10],
];
/// Most pattern visits a user can have in a week (10 anchors a day).
pub(crate) const MAX_WEEKLY_VISITS: usize = 60;

/// Per-profile probabilities (GIR 1, GIR 2, GIR 3, GIR 4, PCH, social aid/other) of an
/// evening visit (06:00–08:00 or 19:00–22:00), a night visit (22:00–06:00), a Sunday
/// round, and a double-staffed visit.
pub(crate) const P_EVENING: [f64; 6] = [0.17, 0.13, 0.08, 0.05, 0.12, 0.01];
pub(crate) const P_NIGHT: [f64; 6] = [0.04, 0.015, 0.004, 0.001, 0.03, 0.0];
pub(crate) const P_SUNDAY: [f64; 6] = [0.80, 0.65, 0.40, 0.20, 0.45, 0.02];
pub(crate) const P_DOUBLE: [f64; 6] = [0.18, 0.09, 0.025, 0.006, 0.07, 0.0];

/// Travel to a visit by zone (urban, periurban, rural, mountain): median km, log spread,
/// mean speed (km/h) and a fixed 3 minutes (parking, access).
pub(crate) const TRAVEL_KM_MEDIAN: [f64; 4] = [1.6, 3.8, 6.5, 8.5];
pub(crate) const TRAVEL_KM_SIGMA: f64 = 0.5;
pub(crate) const TRAVEL_SPEED_KMH: [f64; 4] = [15.0, 28.0, 38.0, 30.0];
pub(crate) const TRAVEL_FIXED_MIN: f64 = 3.0;

/// Paid hours of one full-time equivalent (DOMAIN.md §4).
pub(crate) const FTE_HOURS: f64 = 1_607.0;
/// Non-intervention paid time other than travel (coordination, training, meetings), as a
/// share of paid hours: uniform between the bounds, service by service. With travel this
/// makes 20–25 % of paid hours (DOMAIN.md §4).
pub(crate) const OTHER_NON_INTERVENTION: (f64, f64) = (0.04, 0.08);
/// Support staff (management, planning, administration): a base FTE plus a uniform share
/// of carer FTE.
pub(crate) const SUPPORT_FTE_BASE: f64 = 0.5;
pub(crate) const SUPPORT_FTE_SHARE: (f64, f64) = (0.08, 0.15);

/// Probability of receiving a dotation complémentaire (HAS, NHAS) and the uniform share of
/// the legal cap (APA+PCH hours × the year's rate) received.
pub(crate) const DC_SHARE: [f64; 2] = [0.35, 0.15];
pub(crate) const DC_CAP_USE: (f64, f64) = (0.1, 1.0);

/// A service's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Status {
    Associatif,
    Public,
    PriveLucratif,
}

impl Status {
    pub(crate) const ALL: [Status; 3] = [Status::Associatif, Status::Public, Status::PriveLucratif];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Associatif => "associatif",
            Status::Public => "public",
            Status::PriveLucratif => "prive_lucratif",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Size classes of the sampling design, by declared APA+PCH hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SizeClass {
    Small,
    Medium,
    Large,
    Xlarge,
}

impl SizeClass {
    pub(crate) const ALL: [SizeClass; 4] = [
        SizeClass::Small,
        SizeClass::Medium,
        SizeClass::Large,
        SizeClass::Xlarge,
    ];

    pub(crate) fn of(declared_hours: f64) -> SizeClass {
        if declared_hours < SIZE_BOUNDS[0] {
            SizeClass::Small
        } else if declared_hours < SIZE_BOUNDS[1] {
            SizeClass::Medium
        } else if declared_hours < SIZE_BOUNDS[2] {
            SizeClass::Large
        } else {
            SizeClass::Xlarge
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SizeClass::Small => "small",
            SizeClass::Medium => "medium",
            SizeClass::Large => "large",
            SizeClass::Xlarge => "xlarge",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The allowance funding a user's hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Allowance {
    Apa,
    Pch,
    SocialAid,
    Other,
}

impl Allowance {
    pub(crate) const ALL: [Allowance; 4] = [
        Allowance::Apa,
        Allowance::Pch,
        Allowance::SocialAid,
        Allowance::Other,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Allowance::Apa => "APA",
            Allowance::Pch => "PCH",
            Allowance::SocialAid => "social_aid",
            Allowance::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Where a user lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Zone {
    Urban,
    Periurban,
    Rural,
    Mountain,
}

impl Zone {
    pub(crate) const ALL: [Zone; 4] = [Zone::Urban, Zone::Periurban, Zone::Rural, Zone::Mountain];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Zone::Urban => "urban",
            Zone::Periurban => "periurban",
            Zone::Rural => "rural",
            Zone::Mountain => "mountain",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The time slot of a visit, derived from its start (see [`crate::slot_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// 06:00–19:00 except the evening hours, Monday to Saturday, not a public holiday.
    Weekday,
    /// Starts 06:00–08:00 or 19:00–22:00, Monday to Saturday, not a public holiday.
    Evening,
    /// Starts 06:00–22:00 on a Sunday or a French public holiday.
    SundayHoliday,
    /// Starts 22:00–06:00, any day.
    Night,
}

impl Slot {
    /// The four slots, in the order of the `slot` columns of the truth.
    pub const ALL: [Slot; 4] = [
        Slot::Weekday,
        Slot::Evening,
        Slot::SundayHoliday,
        Slot::Night,
    ];

    /// The value of the `slot` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Weekday => "weekday",
            Slot::Evening => "evening",
            Slot::SundayHoliday => "sunday_holiday",
            Slot::Night => "night",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Carer qualification categories A, B, C (Avenant 43).
pub(crate) const QUALIFICATIONS: [&str; 3] = ["A", "B", "C"];

/// The DGP's GIR band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GirBand {
    Gir12,
    Gir34,
    Other,
}

impl GirBand {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GirBand::Gir12 => "1-2",
            GirBand::Gir34 => "3-4",
            GirBand::Other => "other",
        }
    }
}

/// The DGP's user group: allowance × GIR band × entourage band. Only the ten combinations
/// that can occur exist (GIR bands 1–2 and 3–4 are APA only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UserGroup {
    pub(crate) allowance: Allowance,
    pub(crate) gir_band: GirBand,
    /// Entourage 2–3 ("high") rather than 0–1 ("low").
    pub(crate) high_entourage: bool,
}

impl UserGroup {
    /// The ten groups, in the order of the truth's `groups` list.
    pub(crate) const ALL: [UserGroup; 10] = {
        const fn g(allowance: Allowance, gir_band: GirBand, high_entourage: bool) -> UserGroup {
            UserGroup {
                allowance,
                gir_band,
                high_entourage,
            }
        }
        [
            g(Allowance::Apa, GirBand::Gir12, false),
            g(Allowance::Apa, GirBand::Gir12, true),
            g(Allowance::Apa, GirBand::Gir34, false),
            g(Allowance::Apa, GirBand::Gir34, true),
            g(Allowance::Pch, GirBand::Other, false),
            g(Allowance::Pch, GirBand::Other, true),
            g(Allowance::SocialAid, GirBand::Other, false),
            g(Allowance::SocialAid, GirBand::Other, true),
            g(Allowance::Other, GirBand::Other, false),
            g(Allowance::Other, GirBand::Other, true),
        ]
    };

    /// The group of a user.
    pub(crate) fn index_of(allowance: Allowance, gir: Option<u8>, entourage: u8) -> usize {
        let high = usize::from(entourage >= 2);
        let base = match allowance {
            Allowance::Apa => {
                if gir.is_some_and(|g| g <= 2) {
                    0
                } else {
                    2
                }
            }
            Allowance::Pch => 4,
            Allowance::SocialAid => 6,
            Allowance::Other => 8,
        };
        base + high
    }

    pub(crate) fn entourage_str(self) -> &'static str {
        if self.high_entourage { "high" } else { "low" }
    }

    /// `"APA/1-2/low"`.
    pub(crate) fn key(self) -> String {
        format!(
            "{}/{}/{}",
            self.allowance.as_str(),
            self.gir_band.as_str(),
            self.entourage_str()
        )
    }
}

/// The user profile index used by the per-profile probability tables: GIR 1, GIR 2, GIR 3,
/// GIR 4, PCH, social aid or other.
pub(crate) fn profile_index(allowance: Allowance, gir: Option<u8>) -> usize {
    match allowance {
        Allowance::Apa => usize::from(gir.unwrap_or(4).clamp(1, 4)) - 1,
        Allowance::Pch => 4,
        Allowance::SocialAid | Allowance::Other => 5,
    }
}

/// The parameters of the cost data-generating process (documented in the crate docs and
/// written to `truth.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DgpParameters {
    /// € per paid carer-hour at a user's home, by qualification A, B, C (employer cost).
    pub wage_per_carer_hour: [f64; 3],
    /// Uplift of the carer-hour cost by slot (weekday, evening, sunday_holiday, night), as a
    /// share: cost of a carer-hour = wage × (1 + uplift).
    pub slot_uplift: [f64; 4],
    /// € per carer-hour of travel.
    pub travel_cost_per_hour: f64,
    /// € per carer-km travelled (mileage allowances, vehicles, fuel: cost group G1).
    pub cost_per_km: f64,
    /// € of coordination per user-month served, by user group (same order as the truth's
    /// `groups`): plan evaluation, scheduling, coordinators' and carers' coordination time.
    pub coordination_per_user_month: [f64; 10],
    /// Structure overhead as a share of the direct cost (cost group G3).
    pub overhead_share: f64,
    /// Log-scale standard deviation of the service random effect (mean 1).
    pub random_effect_sigma: f64,
}

impl DgpParameters {
    /// The parameters every survey of this generator version is drawn with.
    pub fn standard() -> Self {
        Self {
            wage_per_carer_hour: [16.60, 17.80, 19.40],
            slot_uplift: [0.0, 0.10, 0.40, 0.30],
            travel_cost_per_hour: 17.50,
            cost_per_km: 0.40,
            coordination_per_user_month: [
                95.0, 80.0, // APA GIR 1–2
                70.0, 58.0, // APA GIR 3–4
                105.0, 90.0, // PCH
                40.0, 35.0, // social aid
                35.0, 30.0, // other
            ],
            overhead_share: 0.11,
            random_effect_sigma: 0.12,
        }
    }
}
