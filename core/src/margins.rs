//! Known population totals for the calibration of survey weights (*calage sur marges*):
//! the `margins` table, resolved against a dataset's services and users, and the
//! auxiliary variables it defines — one column per row of the table, one value per
//! service — whose weighted sums the calibrated weights must reproduce.
//!
//! A row is either a category of a `services` column or of a crossing of columns
//! (`status*habilitated` = `associatif*true`: the service's indicator), or a numeric
//! total: of a numeric `services` column (`hours_apa`) or of a per-service count of its
//! users (`users`, `user_months`, `users:allowance=APA`, `users:gir=1`). Built only by
//! [`crate::validate::check_margins`].

use crate::tables::{Allowance, Code, Microdata, Status};

/// A categorical `services` column a margin can count services by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// `status`.
    Status,
    /// `habilitated`.
    Habilitated,
    /// `mixed`.
    Mixed,
    /// `departement`.
    Departement,
    /// `stratum`.
    Stratum,
}

impl Category {
    /// Every categorical column, in the order of [`Category::NAMES`].
    pub const ALL: [Category; 5] = [
        Category::Status,
        Category::Habilitated,
        Category::Mixed,
        Category::Departement,
        Category::Stratum,
    ];
    /// Their names in the `services` table.
    pub const NAMES: [&'static str; 5] =
        ["status", "habilitated", "mixed", "departement", "stratum"];

    /// The column called `name`.
    pub fn from_name(name: &str) -> Option<Category> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// The column's name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The service's value as its level code (booleans `true`/`false`).
    pub fn level_of(self, m: &Microdata, s: usize) -> &str {
        let sv = &m.services;
        match self {
            Category::Status => sv.status[s].code(),
            Category::Habilitated => bool_code(sv.habilitated[s]),
            Category::Mixed => bool_code(sv.mixed[s]),
            Category::Departement => &m.departements.code[sv.departement[s] as usize],
            Category::Stratum => &sv.design.strata[sv.design.stratum[s] as usize],
        }
    }

    /// Every level the column can take in `m`, for messages (`None`: any text).
    pub fn levels(self, m: &Microdata) -> Vec<String> {
        match self {
            Category::Status => Status::CODES.iter().map(|c| c.to_string()).collect(),
            Category::Habilitated | Category::Mixed => vec!["true".into(), "false".into()],
            Category::Departement => m.departements.code.clone(),
            Category::Stratum => m.services.design.strata.clone(),
        }
    }
}

fn bool_code(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// A numeric per-service variable a margin totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numeric {
    /// A numeric `services` column (its index in [`Numeric::SERVICE_COLUMNS`]).
    Service(usize),
    /// The service's users (rows of `users`).
    Users,
    /// Σ `months_served` of the service's users.
    UserMonths,
    /// The service's users of one allowance.
    UsersOfAllowance(Allowance),
    /// The service's users of one GIR (1–6).
    UsersOfGir(u8),
}

impl Numeric {
    /// The numeric `services` columns a margin can total.
    pub const SERVICE_COLUMNS: [&'static str; 12] = [
        "hours_apa",
        "hours_pch",
        "hours_social_aid",
        "hours_other",
        "dotation_complementaire",
        "cost_g1",
        "cost_g2",
        "cost_g3",
        "cost_total",
        "fte_carers",
        "fte_support",
        "design_weight",
    ];

    /// Parses a numeric variable's name (`hours_apa`, `users`, `user_months`,
    /// `users:allowance=APA`, `users:gir=3`).
    pub fn parse(name: &str) -> Option<Numeric> {
        if let Some(i) = Self::SERVICE_COLUMNS.iter().position(|c| *c == name) {
            return Some(Numeric::Service(i));
        }
        match name {
            "users" => return Some(Numeric::Users),
            "user_months" => return Some(Numeric::UserMonths),
            _ => {}
        }
        if let Some(code) = name.strip_prefix("users:allowance=") {
            return Allowance::parse(code).map(Numeric::UsersOfAllowance);
        }
        if let Some(g) = name.strip_prefix("users:gir=") {
            return match g.parse::<u8>() {
                Ok(g @ 1..=6) => Some(Numeric::UsersOfGir(g)),
                _ => None,
            };
        }
        None
    }

    /// Whether the variable needs the per-service user counts.
    fn of_users(self) -> bool {
        !matches!(self, Numeric::Service(_))
    }

    /// The values of numeric `services` column `i` of [`Numeric::SERVICE_COLUMNS`].
    fn service_column(i: usize, m: &Microdata) -> &[f64] {
        let sv = &m.services;
        match Self::SERVICE_COLUMNS[i] {
            "hours_apa" => &sv.hours_apa,
            "hours_pch" => &sv.hours_pch,
            "hours_social_aid" => &sv.hours_social_aid,
            "hours_other" => &sv.hours_other,
            "dotation_complementaire" => &sv.dotation_complementaire,
            "cost_g1" => &sv.cost_g1,
            "cost_g2" => &sv.cost_g2,
            "cost_g3" => &sv.cost_g3,
            "cost_total" => &sv.cost_total,
            "fte_carers" => &sv.fte_carers,
            "fte_support" => &sv.fte_support,
            _ => &sv.design_weight,
        }
    }
}

/// What a margins row totals.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// Services whose columns take these levels (one per column of the crossing).
    Level(Vec<(Category, String)>),
    /// A numeric variable.
    Total(Numeric),
}

/// One row of the `margins` table, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Margin {
    /// The margin's name (rows of one categorical margin share it).
    pub margin: String,
    /// The variable as written.
    pub variable: String,
    /// The category as written (`None` for a numeric total).
    pub level: Option<String>,
    /// The population total to reproduce.
    pub total: f64,
    /// What the row totals.
    pub term: Term,
}

impl Margin {
    /// `margin`, or `margin[level]` for a category: how messages name the row.
    pub fn label(&self) -> String {
        match &self.level {
            Some(l) => format!("{}[{}={}]", self.margin, self.variable, l),
            None if self.margin == self.variable => self.margin.clone(),
            None => format!("{}[{}]", self.margin, self.variable),
        }
    }
}

/// A validated `margins` table: its rows in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Margins {
    /// The rows.
    pub rows: Vec<Margin>,
}

impl Margins {
    /// Number of rows (auxiliary variables).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The population totals, in row order.
    pub fn totals(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.total).collect()
    }

    /// The auxiliary variables: services × rows, row-major (service `s`'s values are
    /// `x[s * len .. (s + 1) * len]`). Users are counted in one pass over `users`.
    pub fn auxiliary(&self, m: &Microdata) -> Vec<f64> {
        let n = m.services.len();
        let p = self.rows.len();
        let mut x = vec![0.0; n * p];
        // The columns that count users, found once: each user adds to those only.
        let of_users: Vec<(usize, Numeric)> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(j, r)| match r.term {
                Term::Total(v) if v.of_users() => Some((j, v)),
                _ => None,
            })
            .collect();
        if !of_users.is_empty() {
            let users = &m.users;
            for u in 0..users.len() {
                let s = users.service[u] as usize;
                let row = &mut x[s * p..(s + 1) * p];
                for &(j, v) in &of_users {
                    row[j] += match v {
                        Numeric::Service(_) => 0.0,
                        Numeric::Users => 1.0,
                        Numeric::UserMonths => users.months_served[u],
                        Numeric::UsersOfAllowance(a) => f64::from(users.allowance[u] == a),
                        Numeric::UsersOfGir(g) => f64::from(users.gir[u] == g),
                    };
                }
            }
        }
        for (j, r) in self.rows.iter().enumerate() {
            match &r.term {
                Term::Level(parts) => {
                    for s in 0..n {
                        x[s * p + j] = f64::from(parts.iter().all(|(c, l)| c.level_of(m, s) == l));
                    }
                }
                Term::Total(Numeric::Service(i)) => {
                    for (s, v) in Numeric::service_column(*i, m).iter().enumerate() {
                        x[s * p + j] = *v;
                    }
                }
                Term::Total(_) => {}
            }
        }
        x
    }
}
