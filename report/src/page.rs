//! The page: what a job kind's report is made of ([`Page`]: a headline of figures, then
//! sections of plots, tables and notes) and its one HTML template (maud, escaped by
//! construction). The page is self-contained: its CSS is inline, its plots are inline
//! SVG, it has no script, and its Content-Security-Policy forbids loading anything, so
//! it opens offline and never touches the network.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::lang::Lang;
use crate::plot::Figure;

/// A report page.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// The language the page is written in.
    pub lang: Lang,
    /// The title (`<h1>` and `<title>`).
    pub title: String,
    /// Under the title: what was run on what.
    pub subtitle: String,
    /// The headline figures.
    pub headline: Vec<Fact>,
    /// Warnings shown under the headline (a guarantee broken, a fit that did not converge).
    pub alerts: Vec<String>,
    /// The sections, in order.
    pub sections: Vec<Section>,
    /// Where the result comes from: `(label, value)`, values in monospace.
    pub provenance: Vec<(String, String)>,
}

/// One headline figure.
#[derive(Clone, Debug, Default)]
pub struct Fact {
    /// What it is.
    pub label: String,
    /// Its value, formatted.
    pub value: String,
    /// The `summary.json` key it shows (a `data-field` attribute, for readers and tests),
    /// or empty.
    pub field: &'static str,
    /// A note under it.
    pub note: String,
}

impl Fact {
    /// A figure with the `summary.json` key it shows.
    pub fn new(label: &str, value: String, field: &'static str) -> Fact {
        Fact {
            label: label.to_string(),
            value,
            field,
            note: String::new(),
        }
    }

    /// With a note.
    pub fn note(mut self, note: String) -> Fact {
        self.note = note;
        self
    }
}

/// A section of the page.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Its HTML id.
    pub id: &'static str,
    /// Its title.
    pub title: String,
    /// A paragraph under the title.
    pub intro: String,
    /// Its content.
    pub blocks: Vec<Block>,
}

/// What a section holds.
#[derive(Clone, Debug)]
pub enum Block {
    /// Plots, side by side when there is room.
    Figures(Vec<Figure>),
    /// A table.
    Table(TableBlock),
    /// A paragraph.
    Note(String),
    /// A warning.
    Alert(String),
    /// Preformatted text (a spec).
    Code(String),
}

/// A table of text cells.
#[derive(Clone, Debug, Default)]
pub struct TableBlock {
    /// Its caption.
    pub caption: String,
    /// Column headers.
    pub header: Vec<String>,
    /// Whether each column is numeric (right-aligned).
    pub numeric: Vec<bool>,
    /// Rows of formatted cells.
    pub rows: Vec<Vec<String>>,
    /// Folded under its caption (long tables that repeat a plot's data).
    pub folded: bool,
}

const CSS: &str = r#"
:root { --ink: #222; --muted: #666; --line: #ddd; --accent: #0072b2; --warn: #d55e00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; border-bottom: 1px solid var(--line); }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
.subtitle { color: var(--muted); margin: 0 0 16px; }
nav { margin: 0 0 16px; font-size: 14px; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; white-space: nowrap; }
.headline { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px; margin: 16px 0; }
.fact { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.fact .label { color: var(--muted); font-size: 13px; }
.fact .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.fact .note { color: var(--muted); font-size: 12px; }
.alert { border-left: 4px solid var(--warn); background: #fff4ec; padding: 8px 12px; margin: 8px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure.plot { margin: 8px 0; flex: 1 1 520px; min-width: 0; }
figure.plot .svg { overflow-x: auto; }
figure.plot svg { max-width: 100%; height: auto; }
figure.plot.wide svg { max-width: none; }
figcaption { color: var(--muted); font-size: 13px; }
.legend { display: inline-flex; align-items: center; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px; }
details { margin: 4px 0 8px; font-size: 13px; }
summary { cursor: pointer; color: var(--accent); }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
footer { color: var(--muted); font-size: 12px; padding: 24px; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
footer dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
@media print { nav, details > summary { display: none; } h2 { break-before: auto; } figure.plot { break-inside: avoid; } }
"#;

/// Nothing is loaded: no script, no image, no font, no connection; only the inline styles.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

fn figure(f: &Figure) -> Markup {
    html! {
        figure.plot.wide[f.wide] id=(f.id) data-mark=(f.mark.element()) data-marks=(f.marks)
            data-bin-width=[f.data.iter().find(|d| d.0 == "bin-width").map(|d| &d.1)]
            data-points-total=[f.data.iter().find(|d| d.0 == "points-total").map(|d| &d.1)] {
            div.svg role="img" aria-label=(f.alt) { (PreEscaped(&f.svg)) }
            figcaption {
                @for (colour, label) in &f.legend {
                    span.legend { span.swatch style={ "background:" (colour) } {} (label) }
                }
                @if !f.caption.is_empty() { " " (f.caption) }
            }
            details.alt {
                summary { (f.title) }
                p { (f.alt) }
            }
        }
    }
}

fn table(t: &TableBlock) -> Markup {
    let body = html! {
        table {
            @if !t.caption.is_empty() && !t.folded { caption { (t.caption) } }
            thead { tr { @for (j, h) in t.header.iter().enumerate() {
                th.num[t.numeric.get(j).copied().unwrap_or(false)] { (h) }
            } } }
            tbody { @for row in &t.rows { tr { @for (j, c) in row.iter().enumerate() {
                td.num[t.numeric.get(j).copied().unwrap_or(false)] { (c) }
            } } } }
        }
    };
    if t.folded {
        html! { details { summary { (t.caption) } (body) } }
    } else {
        body
    }
}

fn block(b: &Block) -> Markup {
    match b {
        Block::Figures(fs) => html! { div.figures { @for f in fs { (figure(f)) } } },
        Block::Table(t) => table(t),
        Block::Note(text) => html! { p { (text) } },
        Block::Alert(text) => html! { p.alert role="note" { (text) } },
        Block::Code(text) => html! { pre { code { (text) } } },
    }
}

impl Page {
    /// The page as one HTML document.
    pub fn render(&self) -> String {
        let lang = self.lang;
        html! {
            (DOCTYPE)
            html lang=(lang.code()) {
                head {
                    meta charset="utf-8";
                    meta http-equiv="Content-Security-Policy" content=(CSP);
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="generator" content="dotation";
                    title { (self.title) }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    header {
                        h1 { (self.title) }
                        p.subtitle { (self.subtitle) }
                        nav aria-label=(lang.pick("Sections", "Sections")) {
                            @for s in &self.sections { a href={ "#" (s.id) } { (s.title) } }
                        }
                    }
                    main {
                        section.headline aria-label=(lang.pick("Chiffres clés", "Headline figures")) {
                            @for f in &self.headline {
                                div.fact {
                                    div.label { (f.label) }
                                    div.value data-field=[(!f.field.is_empty()).then_some(f.field)] { (f.value) }
                                    @if !f.note.is_empty() { div.note { (f.note) } }
                                }
                            }
                        }
                        @for a in &self.alerts { p.alert role="note" { (a) } }
                        @for s in &self.sections {
                            section id=(s.id) {
                                h2 { (s.title) }
                                @if !s.intro.is_empty() { p { (s.intro) } }
                                @for b in &s.blocks { (block(b)) }
                            }
                        }
                    }
                    footer {
                        dl {
                            @for (k, v) in &self.provenance { dt { (k) } dd { (v) } }
                        }
                    }
                }
            }
        }
        .into_string()
    }
}
