//! Fails when a generated artifact does not match ringmq-core's
//! declarations, naming the stale layer and file.

#[test]
fn generated_artifacts_are_current() {
    let stale = gen_surface::stale(&gen_surface::root()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = stale
        .iter()
        .map(|s| format!("{} ({})", s.layer, s.path))
        .collect();
    assert!(
        names.is_empty(),
        "stale: {}; run `cargo run -p gen-surface` and commit the result",
        names.join(", ")
    );
}
