//! Reports, as users get them: `--report FILE` of `calibrate` and `baseline`, `dotation
//! report --results DIR`, the conflict report of guarantees that cannot hold, and the
//! Flight `report` action (owner only, finished jobs only). The figures shown are compared
//! with summary.json, formatted here by hand; the browser's view (rendering, marks,
//! console, network) is checked by `tests/report/check_report.sh` in headless Chromium.

use std::path::Path;

use arrow_flight::Action;
use clap::Parser;
use dotation_server::cli::{Cli, run};
use futures::TryStreamExt;
use tonic::Code;

use crate::flight::{login, serve};
use dotation_tests::flight_client::{action, submit, wait};

const NNBSP: char = '\u{202F}';

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["dotation", "--quiet"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("valid arguments")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// The text of the element carrying `data-field="NAME"`.
fn field(html: &str, name: &str) -> String {
    let key = format!("data-field=\"{name}\">");
    let start = html.find(&key).unwrap_or_else(|| panic!("no field {name}")) + key.len();
    html[start..].split('<').next().expect("text").to_string()
}

/// `x` rounded to whole units, grouped by three with `sep`.
fn grouped(x: f64, sep: char) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// A page that loads nothing: no script, no stylesheet or image link, no URL but the SVG
/// namespace, and a Content-Security-Policy that forbids everything else.
fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("default-src 'none'"));
    for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!html.contains(forbidden), "the page has {forbidden}");
    }
    let urls = html.matches("://").count();
    let namespaces = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(urls, namespaces, "a URL other than the SVG namespace");
    assert!(
        html.len() <= dotation_report::MAX_BYTES,
        "{} bytes",
        html.len()
    );
}

#[test]
fn a_calibration_report_shows_the_summary_in_french_or_english() {
    let out = tempfile::tempdir().expect("tmp");
    let results = out.path().join("calibration");
    let fr = out.path().join("report.fr.html");
    run(&cli(&[
        "calibrate",
        "--out",
        path(&results),
        "--report",
        path(&fr),
    ]))
    .expect("runs");
    let html = std::fs::read_to_string(&fr).expect("the report");
    assert_self_contained(&html);
    assert!(html.contains("<html lang=\"fr\">"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    let r2 = summary["r2"].as_f64().expect("r2");
    assert_eq!(field(&html, "r2"), format!("{r2:.4}").replace('.', ","));
    let residual = summary["neutrality_residual"].as_f64().expect("residual");
    let shown = field(&html, "neutrality_residual");
    assert!(residual.abs() < 1e-9, "{residual}");
    if residual == 0.0 {
        assert_eq!(shown, "0");
    } else {
        let (mantissa, exponent) = format!("{residual:.2e}")
            .split_once('e')
            .map(|(m, e)| (m.replace('.', ","), e.to_string()))
            .expect("e");
        assert!(shown.starts_with(&mantissa), "{shown} vs {mantissa}");
        let superscript: String = exponent
            .chars()
            .map(|c| {
                if c == '-' {
                    '⁻'
                } else {
                    "⁰¹²³⁴⁵⁶⁷⁸⁹"
                        .chars()
                        .nth(c as usize - '0' as usize)
                        .expect("digit")
                }
            })
            .collect();
        assert!(shown.ends_with(&format!("10{superscript}")), "{shown}");
    }
    for total in ["baseline_total", "funding_total", "cost_total"] {
        let v = summary["national"][total].as_f64().expect("total");
        assert_eq!(
            field(&html, &format!("national.{total}")),
            format!("{}{NNBSP}€", grouped(v, NNBSP)),
            "{total}"
        );
    }
    // Every plot the calibration calls for, each a figure with its SVG and its marks.
    for id in [
        "parameters-1",
        "funding-cost",
        "change",
        "winners-losers-size-decile",
        "winners-losers-status",
        "winners-losers-regime",
        "winners-losers-zone",
        "departements",
        "out-of-pocket-gir",
        "out-of-pocket-resource-band",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\" data-mark=")),
            "no figure {id}"
        );
    }
    assert_eq!(
        html.matches("<figure").count(),
        html.matches("<svg ").count()
    );
    // The same report from the result folder, byte for byte; English on demand.
    let again = out.path().join("again.html");
    run(&cli(&[
        "report",
        "--results",
        path(&results),
        "--out",
        path(&again),
    ]))
    .expect("runs");
    assert_eq!(std::fs::read_to_string(&again).expect("report"), html);
    let en = out.path().join("report.en.html");
    run(&cli(&[
        "report",
        "--results",
        path(&results),
        "--out",
        path(&en),
        "--lang",
        "en",
    ]))
    .expect("runs");
    let english = std::fs::read_to_string(&en).expect("report");
    assert_self_contained(&english);
    assert!(english.contains("<html lang=\"en\">"));
    assert_eq!(field(&english, "r2"), format!("{r2:.4}"));
    let funding = summary["national"]["funding_total"]
        .as_f64()
        .expect("total");
    assert_eq!(
        field(&english, "national.funding_total"),
        format!("€{}", grouped(funding, ','))
    );
}

#[test]
fn a_baseline_report_shows_the_national_totals() {
    let out = tempfile::tempdir().expect("tmp");
    let results = out.path().join("baseline");
    let report = out.path().join("baseline.html");
    run(&cli(&[
        "baseline",
        "--out",
        path(&results),
        "--report",
        path(&report),
        "--lang",
        "en",
    ]))
    .expect("runs");
    let html = std::fs::read_to_string(&report).expect("report");
    assert_self_contained(&html);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    for total in ["baseline_funding", "cost_total", "public_cost"] {
        let v = summary["national"][total].as_f64().expect("total");
        assert_eq!(
            field(&html, &format!("national.{total}")),
            format!("€{}", grouped(v, ','))
        );
    }
    for id in [
        "funding-cost",
        "coverage",
        "departements",
        "out-of-pocket-gir",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\" data-mark=")),
            "no figure {id}"
        );
    }
}

#[test]
fn guarantees_that_cannot_hold_get_a_report_of_their_conflict() {
    let out = tempfile::tempdir().expect("tmp");
    let spec = out.path().join("job.toml");
    std::fs::write(
        &spec,
        "[guarantees]\nconstrain = [\"out_of_pocket\", \"has_cover\"]\n",
    )
    .expect("spec");
    let results = out.path().join("results");
    let report = out.path().join("conflict.html");
    let e = run(&cli(&[
        "calibrate",
        "--spec",
        path(&spec),
        "--out",
        path(&results),
        "--report",
        path(&report),
    ]))
    .expect_err("the guarantees conflict");
    assert_eq!(e.exit_code(), 2);
    assert!(!results.join("summary.json").exists(), "no result");
    let html = std::fs::read_to_string(&report).expect("the conflict report");
    assert_self_contained(&html);
    assert!(html.contains("id=\"conflict\""));
    assert!(
        html.contains("has_cover"),
        "the conflicting guarantee is named"
    );
    assert!(html.contains("id=\"conflict-families\" data-mark=\"rect\""));
}

#[test]
fn a_language_other_than_french_or_english_and_a_folder_without_result_are_refused() {
    let e = Cli::try_parse_from(["dotation", "calibrate", "--out", "x", "--lang", "de"])
        .expect_err("de is not offered");
    assert!(e.to_string().contains("fr or en"), "{e}");
    let empty = tempfile::tempdir().expect("tmp");
    let e = run(&cli(&[
        "report",
        "--results",
        path(empty.path()),
        "--out",
        path(&empty.path().join("r.html")),
    ]))
    .expect_err("no summary.json");
    assert!(e.to_string().contains("summary.json"), "{e}");
    assert!(!empty.path().join("r.html").exists());
}

/// The `report` action's one result, as bytes.
async fn report(
    client: &mut arrow_flight::FlightClient,
    body: &str,
) -> Result<Vec<u8>, tonic::Status> {
    let status = |e: arrow_flight::error::FlightError| match e {
        arrow_flight::error::FlightError::Tonic(s) => *s,
        other => tonic::Status::unknown(other.to_string()),
    };
    let results = client
        .do_action(Action::new("report", body.to_string()))
        .await
        .map_err(status)?;
    let all: Vec<_> = results.try_collect().await.map_err(status)?;
    assert_eq!(all.len(), 1);
    Ok(all[0].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_serves_a_finished_jobs_report_to_its_owner() {
    let (_dir, server) = serve().await;
    let mut bob = login(&server, "bob").await;
    let mut alice = login(&server, "alice").await;
    let id = submit(&mut bob, "kind = \"calibrate\"")
        .await
        .expect("submits");
    wait(&mut bob, &id).await.expect("done");
    let jobs = action(&mut bob, "jobs", "").await.expect("lists");
    assert_eq!(jobs[0]["report"], true, "{jobs}");

    let fr = report(&mut bob, &format!("{{\"job\": \"{id}\"}}"))
        .await
        .expect("a report");
    let fr = String::from_utf8(fr).expect("UTF-8");
    assert_self_contained(&fr);
    assert!(fr.contains("<html lang=\"fr\">"));
    let en = report(
        &mut bob,
        &format!("{{\"job\": \"{id}\", \"lang\": \"en\"}}"),
    )
    .await
    .expect("a report");
    assert!(
        String::from_utf8(en)
            .expect("UTF-8")
            .contains("<html lang=\"en\">")
    );
    // The CLI's report of the same spec on the same data is the same page.
    let out = tempfile::tempdir().expect("tmp");
    let file = out.path().join("r.html");
    run(&cli(&[
        "calibrate",
        "--out",
        path(&out.path().join("res")),
        "--report",
        path(&file),
    ]))
    .expect("runs");
    assert_eq!(std::fs::read_to_string(&file).expect("report"), fr);

    let refused = |r: Result<Vec<u8>, tonic::Status>| r.expect_err("refused");
    let e = refused(report(&mut alice, &format!("{{\"job\": \"{id}\"}}")).await);
    assert_eq!(e.code(), Code::NotFound, "another user's job: {e}");
    let e = refused(report(&mut bob, "{\"job\": \"0123456789abcdef0123456789abcdef\"}").await);
    assert_eq!(e.code(), Code::NotFound, "{e}");
    let e = refused(
        report(
            &mut bob,
            &format!("{{\"job\": \"{id}\", \"lang\": \"de\"}}"),
        )
        .await,
    );
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().contains("fr or en"), "{e}");
    let e = refused(report(&mut bob, &id).await);
    assert_eq!(
        e.code(),
        Code::InvalidArgument,
        "a bare id is not the body: {e}"
    );
    let e = refused(report(&mut bob, "{\"lang\": \"fr\"}").await);
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");

    // A job not finished yet has no report, and its status says so.
    server.queue().set_paused(true);
    let waiting = submit(&mut bob, "kind = \"baseline\"\n[baseline]\nfloor = 26.5")
        .await
        .expect("submits");
    let status = action(&mut bob, "status", &waiting).await.expect("status");
    assert_eq!(status["report"], false);
    let e = refused(report(&mut bob, &format!("{{\"job\": \"{waiting}\"}}")).await);
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    server.queue().set_paused(false);
    wait(&mut bob, &waiting).await.expect("done");
    let baseline = report(&mut bob, &format!("{{\"job\": \"{waiting}\"}}"))
        .await
        .expect("report");
    assert!(
        String::from_utf8(baseline)
            .expect("UTF-8")
            .contains("id=\"coverage\"")
    );
    server.shutdown().await;
}

#[test]
fn a_comparison_report_sets_the_candidates_side_by_side() {
    let out = tempfile::tempdir().expect("tmp");
    let forfait = out.path().join("forfait.toml");
    let globale = out.path().join("globale.toml");
    std::fs::write(&forfait, "[formula]\nkind = \"forfait\"\n").expect("write");
    std::fs::write(
        &globale,
        "[formula]\nkind = \"globale\"\ndrivers = [\"hours_funded\", \"users\"]\n",
    )
    .expect("write");
    let results = out.path().join("comparison");
    let report = out.path().join("report.en.html");
    run(&cli(&[
        "compare",
        "--spec",
        path(&forfait),
        "--spec",
        path(&globale),
        "--folds",
        "5",
        "--out",
        path(&results),
        "--report",
        path(&report),
        "--lang",
        "en",
    ]))
    .expect("runs");
    let html = std::fs::read_to_string(&report).expect("the report");
    assert_self_contained(&html);
    assert!(html.contains("<html lang=\"en\">"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    assert_eq!(summary["command"], "compare");
    let best = summary["best_cross_validated"]
        .as_str()
        .expect("a best candidate");
    assert_eq!(field(&html, "best_cross_validated"), best);
    assert_eq!(field(&html, "folds"), "5 folds");
    // One bar per candidate in each plot, both candidates named in the tables.
    for id in ["compare-cv-rmse", "compare-losers"] {
        let at = html.find(&format!("id=\"{id}\"")).expect(id);
        let marks = &html[at..].split("data-marks=\"").nth(1).expect("marks")[..2];
        assert!(marks.starts_with("2\""), "{id}: {marks}");
    }
    for name in ["forfait", "globale"] {
        assert!(
            html.matches(&format!(">{name}</td>")).count() >= 2,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_serves_a_sweep_and_its_report() {
    let (_dir, server) = serve().await;
    let mut bob = login(&server, "bob").await;
    let spec = "kind = \"sweep\"\n[sweep]\ngrid = { budget_change_percent = [-2, 0, 2], transition_limit = [0.05, 0.1] }\n";
    let id = submit(&mut bob, spec).await.expect("submits");
    wait(&mut bob, &id).await.expect("done");
    let scenarios = dotation_tests::flight_client::fetch(&mut bob, &id, "scenarios").await;
    assert_eq!(scenarios.num_rows(), 6);
    let parameters = dotation_tests::flight_client::fetch(&mut bob, &id, "parameters").await;
    assert_eq!(parameters.num_rows() % 6, 0);
    assert!(parameters.num_rows() > 0);
    let html = report(
        &mut bob,
        &format!("{{\"job\": \"{id}\", \"lang\": \"en\"}}"),
    )
    .await
    .expect("a report");
    let html = String::from_utf8(html).expect("UTF-8");
    assert_self_contained(&html);
    for id in ["sweep-losers", "sweep-violations", "sweep-coverage"] {
        let at = html.find(&format!("id=\"{id}\"")).expect(id);
        let marks: usize = html[at..]
            .split("data-marks=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .and_then(|n| n.parse().ok())
            .expect("marks");
        assert!(marks >= 6, "{id}: {marks} marks");
    }
}
