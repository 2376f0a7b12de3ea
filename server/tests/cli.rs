//! The `gateway` binary's own command line. Being an integration test of this package, it
//! also makes `cargo test` build the binary that the black-box tests start as a process.

use std::process::Command;

#[test]
fn export_schema_prints_the_committed_sdl() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("export-schema")
        .output()
        .expect("the gateway binary runs");
    assert!(output.status.success());
    let committed = include_str!("../../schema/schema.graphql");
    assert_eq!(String::from_utf8_lossy(&output.stdout), committed);
}

#[test]
fn an_unknown_command_fails_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("launch-rockets")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}

#[test]
fn stats_rebuild_recounts_every_event_of_a_fresh_database() {
    let path = std::env::temp_dir().join(format!("gw_cli_stats_{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the gateway binary runs")
    };
    assert!(run(&["seed", "--demo"]).status.success());
    assert!(run(&["seed", "--runners", "20"]).status.success());
    let rebuilt = run(&["stats", "rebuild", "--event", "synthetic-race"]);
    let printed = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    assert!(
        printed.contains("synthetic-race: 20 registrations counted"),
        "{printed}"
    );
    let unknown = run(&["stats", "rebuild", "--event", "no-such-race"]);
    assert!(!unknown.status.success());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
