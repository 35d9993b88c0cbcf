//! The engine's sources stay in small files, one protocol each: none is
//! over 600 lines (a longer one holds more than one protocol; split it).

use std::path::Path;

fn walk(dir: &Path, long: &mut Vec<(String, usize)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, long);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let n = std::fs::read_to_string(&p).unwrap().lines().count();
            if n > 600 {
                long.push((p.display().to_string(), n));
            }
        }
    }
}

#[test]
fn no_source_file_of_the_engine_is_over_600_lines() {
    let mut long = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut long,
    );
    assert!(long.is_empty(), "over 600 lines: {long:?}");
}
