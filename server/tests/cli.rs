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
