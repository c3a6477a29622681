//! The report's plots, drawn with plotters' SVG backend into strings: a scatter on log
//! scales with the 45° line ([`scatter_log`]), dots and whiskers ([`dot_whisker`]), a
//! histogram with reference lines ([`histogram`]) and bar charts of groups ([`bars`]).
//!
//! Every plot has a title and axis labels with units (drawn into the SVG), a text
//! alternative and a caption (written around it by the page), and says which SVG element
//! draws one of its data marks and how many it drew ([`Figure::mark`], [`Figure::marks`]):
//! data marks are the plot's only `<circle>` (points, dots) or `<rect>` (bars) elements —
//! axes, grid and reference lines are lines and polylines, legends are HTML — so a browser
//! test can count them. Nothing fills the background: the page is white.
//!
//! A scatter draws at most [`MAX_POINTS`] points: beyond, an evenly spaced subsample in
//! the order of the x values (every service at survey scale; at national scale, 6,314
//! services would make a page of megabytes), said in the caption.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::lang::Lang;

/// The most points a scatter draws.
pub const MAX_POINTS: usize = 2000;

/// The colours (Okabe and Ito's palette, distinguishable with colour-blindness).
pub mod colour {
    use plotters::style::RGBColor;
    /// HAS services; "after".
    pub const BLUE: RGBColor = RGBColor(0, 114, 178);
    /// NHAS services.
    pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
    /// Gains.
    pub const GREEN: RGBColor = RGBColor(0, 158, 115);
    /// Losses.
    pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
    /// "Before".
    pub const GREY: RGBColor = RGBColor(153, 153, 153);
    /// Reference lines.
    pub const INK: RGBColor = RGBColor(60, 60, 60);
    /// Grid lines.
    pub const GRID: RGBColor = RGBColor(230, 230, 230);

    /// `#rrggbb`, for the HTML legends.
    pub fn hex(c: RGBColor) -> String {
        format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
    }
}

/// The SVG element drawing one data mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A point or a dot.
    Circle,
    /// A bar.
    Rect,
}

impl Mark {
    /// The element's name.
    pub fn element(self) -> &'static str {
        match self {
            Mark::Circle => "circle",
            Mark::Rect => "rect",
        }
    }
}

/// A drawn plot and what the page says about it.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The figure's HTML id (unique in a report).
    pub id: String,
    /// The title (also drawn in the SVG).
    pub title: String,
    /// The SVG document.
    pub svg: String,
    /// The text alternative: what the plot shows, in words.
    pub alt: String,
    /// Notes under the plot: what was left out or subsampled, how to read it.
    pub caption: String,
    /// The element drawing one data mark.
    pub mark: Mark,
    /// How many data marks were drawn.
    pub marks: usize,
    /// The legend, `(colour, label)`, written in HTML under the plot.
    pub legend: Vec<(String, String)>,
    /// Figures that say more about how they were drawn (`data-NAME` attributes), e.g. a
    /// histogram's bin width.
    pub data: Vec<(&'static str, String)>,
    /// Wider than the page: drawn at its size, scrolled rather than shrunk.
    pub wide: bool,
}

/// The drawing's size, px (scaled down by the page's CSS on narrow screens).
const WIDTH: u32 = 760;
const HEIGHT: u32 = 420;
const FONT: &str = "sans-serif";

fn plot_error(id: &str) -> impl Fn(DrawingAreaErrorKind<std::io::Error>) -> ReportError + '_ {
    move |e| ReportError::Plot {
        plot: id.to_string(),
        message: e.to_string(),
    }
}

/// Draws into an SVG string of `size`.
fn svg(
    id: &str,
    size: (u32, u32),
    draw: impl FnOnce(
        &DrawingArea<SVGBackend<'_>, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<std::io::Error>>,
) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root).map_err(plot_error(id))?;
        root.present().map_err(plot_error(id))?;
    }
    Ok(out)
}

/// One group of points of a scatter.
#[derive(Clone, Debug)]
pub struct Points {
    /// The legend's label.
    pub label: String,
    /// The colour.
    pub colour: RGBColor,
    /// `(x, y)`.
    pub xy: Vec<(f64, f64)>,
}

/// A scatter on log scales, both axes over one range, with the 45° line `y = x`.
#[derive(Clone, Debug)]
pub struct ScatterLog<'a> {
    /// The figure's id.
    pub id: &'a str,
    /// The title.
    pub title: &'a str,
    /// The x axis' label, with its unit.
    pub x_desc: &'a str,
    /// The y axis' label, with its unit.
    pub y_desc: &'a str,
    /// What a point is, plural, for the alternative text ("services").
    pub what: &'a str,
    /// The groups of points.
    pub groups: Vec<Points>,
}

/// Indices of an evenly spaced subsample of `n` items in the order of `key`: all of them
/// when `n ≤ max`.
fn subsample(key: &[f64], max: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..key.len()).collect();
    order.sort_by(|&a, &b| key[a].total_cmp(&key[b]).then(a.cmp(&b)));
    if order.len() <= max {
        return order;
    }
    let n = order.len();
    (0..max).map(|i| order[i * n / max]).collect()
}

/// Draws a [`ScatterLog`].
pub fn scatter_log(s: &ScatterLog<'_>, lang: Lang) -> Result<Figure, ReportError> {
    // Points of every group, positive coordinates only (a log scale has no zero).
    let mut all: Vec<(usize, f64, f64)> = Vec::new();
    let mut left_out = 0usize;
    for (g, p) in s.groups.iter().enumerate() {
        for &(x, y) in &p.xy {
            if x > 0.0 && y > 0.0 && x.is_finite() && y.is_finite() {
                all.push((g, x, y));
            } else {
                left_out += 1;
            }
        }
    }
    let xs: Vec<f64> = all.iter().map(|p| p.1).collect();
    let keep = subsample(&xs, MAX_POINTS);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(_, x, y) in &all {
        lo = lo.min(x).min(y);
        hi = hi.max(x).max(y);
    }
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        (lo, hi) = (1.0, 10.0);
    }
    let (lo, hi) = (lo / 1.25, hi * 1.25);
    let id = s.id;
    let svg = svg(id, (WIDTH, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(s.title, (FONT, 17))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
        let fmt = |v: &f64| lang.money_compact(*v);
        chart
            .configure_mesh()
            .x_desc(s.x_desc)
            .y_desc(s.y_desc)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(colour::GRID)
            .bold_line_style(colour::GRID)
            .draw()?;
        chart.draw_series(DashedLineSeries::new(
            [(lo, lo), (hi, hi)],
            6,
            4,
            colour::INK.stroke_width(1),
        ))?;
        for (g, p) in s.groups.iter().enumerate() {
            let style = p.colour.mix(0.75).filled();
            chart.draw_series(
                keep.iter()
                    .map(|&i| all[i])
                    .filter(|q| q.0 == g)
                    .map(|(_, x, y)| Circle::new((x, y), 3, style)),
            )?;
        }
        Ok(())
    })?;
    let counts: Vec<String> = s
        .groups
        .iter()
        .enumerate()
        .map(|(g, p)| {
            format!(
                "{} {}",
                keep.iter().filter(|&&i| all[i].0 == g).count(),
                p.label
            )
        })
        .collect();
    let above = keep.iter().filter(|&&i| all[i].2 > all[i].1).count();
    let alt = format!(
        "{}. {} {}: {}. {} {}.",
        s.title,
        keep.len(),
        s.what,
        counts.join(", "),
        above,
        lang.pick(
            "au-dessus de la diagonale (y > x)",
            "above the diagonal (y > x)"
        ),
    );
    let mut caption = lang
        .pick(
            "Échelles logarithmiques ; la ligne pointillée est la diagonale y = x.",
            "Log scales; the dashed line is the diagonal y = x.",
        )
        .to_string();
    if keep.len() < all.len() {
        caption.push_str(&format!(
            " {} {} {} {} {}",
            lang.number(keep.len() as f64, 0),
            lang.pick("points sur", "points of"),
            lang.number(all.len() as f64, 0),
            lang.pick(
                "tracés : un sur plusieurs, régulièrement dans l'ordre de l'axe horizontal.",
                "drawn: an evenly spaced subsample in the order of the horizontal axis.",
            ),
            ""
        ));
    }
    if left_out > 0 {
        caption.push_str(&format!(
            " {} {}",
            left_out,
            lang.pick(
                "point(s) sans valeur positive ne sont pas tracés.",
                "point(s) without positive values are not drawn."
            )
        ));
    }
    Ok(Figure {
        id: id.to_string(),
        title: s.title.to_string(),
        svg,
        alt,
        caption: caption.trim_end().to_string(),
        mark: Mark::Circle,
        marks: keep.len(),
        legend: s
            .groups
            .iter()
            .map(|p| (colour::hex(p.colour), p.label.clone()))
            .collect(),
        data: vec![("points-total", all.len().to_string())],
        wide: false,
    })
}

/// One row of a dot-and-whisker plot.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// The row's label.
    pub name: String,
    /// The dot.
    pub value: f64,
    /// The whisker, when there is one.
    pub interval: Option<(f64, f64)>,
}

/// Dots and whiskers: one row per estimate, the value as a dot, the interval as a
/// horizontal whisker.
pub fn dot_whisker(
    id: &str,
    title: &str,
    x_desc: &str,
    rows: &[Estimate],
    lang: Lang,
) -> Result<Figure, ReportError> {
    let k = rows.len();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for r in rows {
        for v in [
            Some(r.value),
            r.interval.map(|i| i.0),
            r.interval.map(|i| i.1),
        ]
        .into_iter()
        .flatten()
        .filter(|v| v.is_finite())
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        (lo, hi) = if lo.is_finite() {
            (lo - 1.0, lo + 1.0)
        } else {
            (0.0, 1.0)
        };
    }
    let pad = 0.06 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let label_chars = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4);
    let label_width = (label_chars as u32 * 7 + 16).clamp(60, 320);
    let height = 90 + 24 * k.max(1) as u32;
    let svg = svg(id, (WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 17))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(lo..hi, (0..k as i32).into_segmented())?;
        let name = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => rows
                .get(*i as usize)
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        let number = |v: &f64| lang.number(*v, if (hi - lo) < 10.0 { 2 } else { 0 });
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .x_label_formatter(&number)
            .y_label_formatter(&name)
            .y_labels(k.max(1))
            .disable_y_mesh()
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(colour::GRID)
            .bold_line_style(colour::GRID)
            .draw()?;
        // An error bar draws its whisker and its dot (a circle); an estimate without
        // interval, its dot alone.
        chart.draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
            let (a, b) = r.interval?;
            Some(ErrorBar::new_horizontal(
                SegmentValue::CenterOf(i as i32),
                a,
                r.value,
                b,
                colour::BLUE.filled().stroke_width(2),
                9,
            ))
        }))?;
        chart.draw_series(
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.interval.is_none())
                .map(|(i, r)| {
                    Circle::new(
                        (r.value, SegmentValue::CenterOf(i as i32)),
                        4,
                        colour::BLUE.filled(),
                    )
                }),
        )?;
        Ok(())
    })?;
    let alt = format!(
        "{title}. {k} {}: {}.",
        lang.pick("estimations", "estimates"),
        rows.iter()
            .map(|r| match r.interval {
                Some((a, b)) => format!(
                    "{} {} [{} ; {}]",
                    r.name,
                    lang.number(r.value, 2),
                    lang.number(a, 2),
                    lang.number(b, 2)
                ),
                None => format!("{} {}", r.name, lang.number(r.value, 2)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Figure {
        id: id.to_string(),
        title: title.to_string(),
        svg,
        alt,
        caption: lang
            .pick(
                "Le point est l'estimation, le trait son intervalle de confiance.",
                "The dot is the estimate, the whisker its confidence interval.",
            )
            .to_string(),
        mark: Mark::Circle,
        marks: k,
        legend: Vec::new(),
        data: Vec::new(),
        wide: false,
    })
}

/// A vertical reference line of a histogram.
#[derive(Clone, Debug)]
pub struct Marker {
    /// Where, in the x axis' unit.
    pub x: f64,
    /// Its label, drawn at the top.
    pub label: String,
}

/// The bin widths a histogram chooses from, in the x axis' unit.
const BIN_WIDTHS: [f64; 10] = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];
/// The most bins a histogram spans.
const MAX_BINS: f64 = 60.0;

/// The bin width of a histogram of `values`: the smallest of `BIN_WIDTHS` whose bins
/// from the smallest value to the largest are at most `MAX_BINS`.
pub fn bin_width(values: &[f64]) -> f64 {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if lo <= hi { hi - lo } else { 0.0 };
    BIN_WIDTHS
        .into_iter()
        .find(|w| span / w <= MAX_BINS)
        .unwrap_or(BIN_WIDTHS[BIN_WIDTHS.len() - 1])
}

/// A histogram: the finite `values` in bins `[k·w, (k+1)·w)` of width `w` ([`bin_width`]),
/// one bar per non-empty bin, bars left of zero in the losses' colour, with vertical
/// reference lines.
pub fn histogram(
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    values: &[f64],
    markers: &[Marker],
    lang: Lang,
) -> Result<Figure, ReportError> {
    let w = bin_width(values);
    let mut bins: std::collections::BTreeMap<i64, usize> = Default::default();
    for v in values.iter().filter(|v| v.is_finite()) {
        *bins.entry((v / w).floor() as i64).or_default() += 1;
    }
    let first = bins.keys().next().copied().unwrap_or(0) as f64 * w;
    let last = bins.keys().last().map_or(w, |&k| (k + 1) as f64 * w);
    let (mut lo, mut hi) = (first, last);
    for m in markers {
        lo = lo.min(m.x);
        hi = hi.max(m.x);
    }
    let pad = 0.03 * (hi - lo).max(w);
    let (lo, hi) = (lo - pad, hi + pad);
    let top = bins.values().copied().max().unwrap_or(1) as f64 * 1.15;
    let decimals = if w < 1.0 { 1 } else { 0 };
    let svg = svg(id, (WIDTH, HEIGHT), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 17))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, 0.0..top)?;
        let xf = |v: &f64| lang.number(*v, decimals);
        let yf = |v: &f64| lang.number(*v, 0);
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .disable_x_mesh()
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(colour::GRID)
            .bold_line_style(colour::GRID)
            .draw()?;
        chart.draw_series(bins.iter().map(|(&k, &n)| {
            let x0 = k as f64 * w;
            let c = if x0 < 0.0 {
                colour::VERMILLION
            } else {
                colour::GREEN
            };
            let mut r = Rectangle::new([(x0, 0.0), (x0 + w, n as f64)], c.mix(0.85).filled());
            r.set_margin(0, 0, 1, 1);
            r
        }))?;
        for m in markers {
            chart.draw_series(DashedLineSeries::new(
                [(m.x, 0.0), (m.x, top)],
                5,
                4,
                colour::INK.stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                m.label.clone(),
                (m.x, top),
                (FONT, 11).into_font().color(&colour::INK),
            )))?;
        }
        Ok(())
    })?;
    let n: usize = bins.values().sum();
    let alt = format!(
        "{title}. {n} {} {} {} {} : {}.",
        lang.pick("valeurs en", "values in"),
        bins.len(),
        lang.pick("classes de largeur", "bins of width"),
        lang.number(w, decimals),
        bins.iter()
            .map(|(&k, &c)| format!(
                "[{} ; {}) {c}",
                lang.number(k as f64 * w, decimals),
                lang.number((k + 1) as f64 * w, decimals)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Figure {
        id: id.to_string(),
        title: title.to_string(),
        svg,
        alt,
        caption: String::new(),
        mark: Mark::Rect,
        marks: bins.len(),
        legend: Vec::new(),
        data: vec![("bin-width", format!("{w}"))],
        wide: false,
    })
}

/// One bar of a bar chart.
#[derive(Clone, Copy, Debug)]
pub struct Bar {
    /// The group (its label's index).
    pub group: usize,
    /// Its place within the group's slot, from −0.5 to 0.5 around the group's centre.
    pub slot: (f64, f64),
    /// Its height (negative: below zero).
    pub value: f64,
    /// Its colour.
    pub colour: RGBColor,
}

/// How a bar chart writes its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Shares, written as percentages.
    Share,
    /// Euros per hour.
    EurosPerHour,
    /// Counts.
    Count,
    /// Euros.
    Euros,
}

/// A bar chart of groups: one or more bars per group, a label per group.
#[derive(Clone, Debug)]
pub struct Bars<'a> {
    /// The figure's id.
    pub id: &'a str,
    /// The title.
    pub title: &'a str,
    /// The x axis' label.
    pub x_desc: &'a str,
    /// The y axis' label, with its unit.
    pub y_desc: &'a str,
    /// The groups' labels.
    pub labels: Vec<String>,
    /// The bars.
    pub bars: Vec<Bar>,
    /// How values are written.
    pub scale: Scale,
    /// The legend.
    pub legend: Vec<(RGBColor, String)>,
    /// The text alternative (after the title).
    pub alt: String,
    /// Notes under the plot.
    pub caption: String,
}

impl Scale {
    fn format(self, lang: Lang, v: f64, span: f64) -> String {
        match self {
            Scale::Share => lang.percent(v, if span < 0.05 { 1 } else { 0 }),
            Scale::EurosPerHour => lang.with_unit(v, if span < 5.0 { 2 } else { 1 }, "€/h"),
            Scale::Count => lang.number(v, 0),
            Scale::Euros => lang.money_compact(v),
        }
    }
}

/// Draws [`Bars`]; many groups (more than 16) get narrow bars and vertical labels.
pub fn bars(b: &Bars<'_>, lang: Lang) -> Result<Figure, ReportError> {
    let n = b.labels.len().max(1);
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for bar in b.bars.iter().filter(|x| x.value.is_finite()) {
        lo = lo.min(bar.value);
        hi = hi.max(bar.value);
    }
    if hi - lo <= 0.0 {
        hi = lo + if b.scale == Scale::Share { 0.01 } else { 1.0 };
    }
    let pad = 0.08 * (hi - lo);
    let (lo, hi) = (if lo < 0.0 { lo - pad } else { lo }, hi + pad);
    let many = n > 16;
    let width = if many {
        (WIDTH).max(60 + 10 * n as u32)
    } else {
        WIDTH
    };
    let label_height = if many {
        let chars = b
            .labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(2) as u32;
        (chars * 8 + 30).min(140)
    } else {
        44
    };
    let svg = svg(b.id, (width, HEIGHT), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(b.title, (FONT, 17))
            .margin(14)
            .x_label_area_size(label_height)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), lo..hi)?;
        // Groups sit at integer x: only integer ticks get a label.
        let label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                b.labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let yf = |v: &f64| b.scale.format(lang, *v, hi - lo);
        let x_font = if many {
            (FONT, 11).into_font().transform(FontTransform::Rotate90)
        } else {
            (FONT, 12).into_font()
        };
        chart
            .configure_mesh()
            .x_desc(b.x_desc)
            .y_desc(b.y_desc)
            .x_labels(n + 1)
            .x_label_formatter(&label)
            .y_label_formatter(&yf)
            .x_label_style(x_font)
            .disable_x_mesh()
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(colour::GRID)
            .bold_line_style(colour::GRID)
            .draw()?;
        chart.draw_series(b.bars.iter().map(|bar| {
            let c = bar.group as f64;
            let v = if bar.value.is_finite() {
                bar.value
            } else {
                0.0
            };
            Rectangle::new(
                [(c + bar.slot.0, 0.0), (c + bar.slot.1, v)],
                bar.colour.filled(),
            )
        }))?;
        if lo < 0.0 {
            chart.draw_series(LineSeries::new(
                [(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
                colour::INK.stroke_width(1),
            ))?;
        }
        Ok(())
    })?;
    Ok(Figure {
        id: b.id.to_string(),
        title: b.title.to_string(),
        svg,
        alt: format!("{}. {}", b.title, b.alt),
        caption: b.caption.clone(),
        mark: Mark::Rect,
        marks: b.bars.len(),
        legend: b
            .legend
            .iter()
            .map(|(c, l)| (colour::hex(*c), l.clone()))
            .collect(),
        data: Vec::new(),
        wide: many,
    })
}

/// One line of a line chart.
#[derive(Clone, Debug)]
pub struct Line {
    /// The legend's label.
    pub label: String,
    /// The colour.
    pub colour: RGBColor,
    /// `(x, y)`, in increasing x.
    pub xy: Vec<(f64, f64)>,
}

/// Lines against a numeric setting, each point marked by a dot.
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    /// The figure's id.
    pub id: &'a str,
    /// The title.
    pub title: &'a str,
    /// The x axis' label, with its unit.
    pub x_desc: &'a str,
    /// The y axis' label, with its unit.
    pub y_desc: &'a str,
    /// The lines.
    pub lines: Vec<Line>,
    /// How y values are written.
    pub scale: Scale,
    /// The text alternative (after the title).
    pub alt: String,
    /// Notes under the plot.
    pub caption: String,
}

/// Draws [`Lines`]: one polyline and one dot per point.
pub fn lines(l: &Lines<'_>, lang: Lang) -> Result<Figure, ReportError> {
    let points = || {
        l.lines
            .iter()
            .flat_map(|line| line.xy.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, f64::NEG_INFINITY);
    for &(x, y) in points() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0.partial_cmp(&x1) != Some(std::cmp::Ordering::Less) {
        (x0, x1) = if x0.is_finite() {
            (x0 - 1.0, x0 + 1.0)
        } else {
            (0.0, 1.0)
        };
    }
    if y0.partial_cmp(&y1) != Some(std::cmp::Ordering::Less) {
        y1 = y0 + if l.scale == Scale::Share { 0.01 } else { 1.0 };
    }
    let (px, py) = (0.04 * (x1 - x0), 0.08 * (y1 - y0));
    let (x0, x1, y0, y1) = (
        x0 - px,
        x1 + px,
        if y0 < 0.0 { y0 - py } else { y0 },
        y1 + py,
    );
    let svg = svg(l.id, (WIDTH, HEIGHT), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(l.title, (FONT, 17))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let xf = |v: &f64| lang.number(*v, if x1 - x0 < 10.0 { 2 } else { 0 });
        let yf = |v: &f64| l.scale.format(lang, *v, y1 - y0);
        chart
            .configure_mesh()
            .x_desc(l.x_desc)
            .y_desc(l.y_desc)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(colour::GRID)
            .bold_line_style(colour::GRID)
            .draw()?;
        for line in &l.lines {
            let xy: Vec<(f64, f64)> = line
                .xy
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            chart.draw_series(LineSeries::new(xy.clone(), line.colour.stroke_width(2)))?;
            chart.draw_series(
                xy.into_iter()
                    .map(|p| Circle::new(p, 3, line.colour.filled())),
            )?;
        }
        Ok(())
    })?;
    Ok(Figure {
        id: l.id.to_string(),
        title: l.title.to_string(),
        svg,
        alt: format!("{}. {}", l.title, l.alt),
        caption: l.caption.clone(),
        mark: Mark::Circle,
        marks: points().count(),
        legend: l
            .lines
            .iter()
            .map(|line| (colour::hex(line.colour), line.label.clone()))
            .collect(),
        data: Vec::new(),
        wide: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(svg: &str, element: &str) -> usize {
        svg.matches(&format!("<{element} ")).count()
    }

    #[test]
    fn a_scatter_draws_one_circle_per_point_and_subsamples_beyond_the_limit() {
        let points = |n: usize| Points {
            label: "HAS".into(),
            colour: colour::BLUE,
            xy: (1..=n).map(|i| (i as f64, 2.0 * i as f64)).collect(),
        };
        let s = |n| ScatterLog {
            id: "s",
            title: "t",
            x_desc: "x (€)",
            y_desc: "y (€)",
            what: "services",
            groups: vec![
                points(n),
                Points {
                    xy: vec![(0.0, 1.0)],
                    ..points(0)
                },
            ],
        };
        let f = scatter_log(&s(10), Lang::En).expect("drawn");
        assert_eq!((f.marks, count(&f.svg, "circle")), (10, 10));
        assert!(
            f.caption.contains("1 point(s) without positive values"),
            "{}",
            f.caption
        );
        let f = scatter_log(&s(5000), Lang::Fr).expect("drawn");
        assert_eq!((f.marks, count(&f.svg, "circle")), (MAX_POINTS, MAX_POINTS));
        assert!(
            f.caption.contains("2\u{202F}000 points sur 5\u{202F}000"),
            "{}",
            f.caption
        );
        assert_eq!(count(&f.svg, "rect"), 0, "no background");
    }

    #[test]
    fn a_histogram_draws_a_bar_per_non_empty_bin() {
        let values = [-12.0, -0.5, 0.0, 0.2, 3.9, 4.0, f64::NAN];
        assert_eq!(bin_width(&values), 0.5);
        let m = [Marker {
            x: -5.0,
            label: "−5 %".into(),
        }];
        let f = histogram("h", "t", "x (%)", "services", &values, &m, Lang::Fr).expect("drawn");
        // Bins of 0.5 numbered −24, −1, 0, 7, 8.
        assert_eq!((f.marks, count(&f.svg, "rect")), (5, 5));
        assert_eq!(bin_width(&[0.0, 200.0]), 5.0);
    }

    #[test]
    fn dots_and_bars_are_counted() {
        let rows = vec![
            Estimate {
                name: "a".into(),
                value: 1.0,
                interval: Some((0.5, 1.5)),
            },
            Estimate {
                name: "b".into(),
                value: 2.0,
                interval: None,
            },
        ];
        let f = dot_whisker("d", "t", "€", &rows, Lang::En).expect("drawn");
        assert_eq!(count(&f.svg, "circle"), 2);
        let b = Bars {
            id: "b",
            title: "t",
            x_desc: "group",
            y_desc: "share (%)",
            labels: vec!["a".into(), "b".into()],
            bars: (0..4)
                .map(|i| Bar {
                    group: i / 2,
                    slot: (-0.4, 0.0),
                    value: 0.1 * i as f64 - 0.1,
                    colour: colour::GREEN,
                })
                .collect(),
            scale: Scale::Share,
            legend: vec![],
            alt: String::new(),
            caption: String::new(),
        };
        let f = bars(&b, Lang::En).expect("drawn");
        assert_eq!(count(&f.svg, "rect"), 4);
    }
}
