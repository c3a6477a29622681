//! The layering of the workspace, checked on the dependency graph: the computational
//! crates (core, solver) and the generator (datasets) pull in no IO, async, network or file
//! format crate — only the server does — and no workspace crate pulls in a dependency it
//! does not use (`cargo tree`, which resolves each crate's own features, unlike the
//! workspace-wide graph of `cargo metadata`).

use std::process::Command;

/// Crates that do IO, async, networking or file formats.
const EDGE_CRATES: &[&str] = &[
    "tokio",
    "tonic",
    "hyper",
    "h2",
    "mio",
    "socket2",
    "arrow-flight",
    "parquet",
    "arrow-ipc",
    "arrow-csv",
    "arrow-json",
    "rusqlite",
    "reqwest",
    "prost",
    "futures",
];

/// The normal (not dev, not build) dependencies of a workspace crate, transitively.
fn dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_computational_crates_depend_on_no_io_async_or_format_crate() {
    for package in ["dotation-core", "dotation-solver", "dotation-datasets"] {
        let deps = dependencies(package);
        assert!(deps.iter().any(|d| d == package), "{package}: {deps:?}");
        let edge: Vec<&String> = deps
            .iter()
            .filter(|d| EDGE_CRATES.contains(&d.as_str()))
            .collect();
        assert!(edge.is_empty(), "{package} depends on {edge:?}");
    }
    // The check can fail: the server has them.
    let server = dependencies("dotation-server");
    for d in ["tokio", "tonic", "parquet", "rusqlite", "arrow-flight"] {
        assert!(server.iter().any(|s| s == d), "the server uses {d}");
    }
}

#[test]
fn dependencies_flow_one_way() {
    let has = |package: &str, dep: &str| dependencies(package).iter().any(|d| d == dep);
    assert!(!has("dotation-core", "dotation-solver"));
    assert!(!has("dotation-core", "dotation-server"));
    assert!(!has("dotation-solver", "dotation-server"));
    for internal in ["dotation-core", "dotation-solver", "dotation-server"] {
        assert!(
            !has("dotation-datasets", internal),
            "datasets uses {internal}"
        );
    }
}
