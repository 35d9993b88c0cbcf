//! `gen-surface`: rewrites the artifacts generated from ringmq-core's
//! declarations; `gen-surface --check` only names the stale ones and fails.

use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("gen-surface: unknown argument {other:?} (usage: gen-surface [--check])");
            return ExitCode::from(2);
        }
    };
    let root = gen_surface::root();
    let stale = match gen_surface::stale(&root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gen-surface: {e}");
            return ExitCode::FAILURE;
        }
    };
    for s in &stale {
        if check {
            eprintln!("stale {}: {}", s.layer, s.path);
        } else if let Err(e) = std::fs::write(root.join(s.path), &s.fresh) {
            eprintln!("gen-surface: cannot write {}: {e}", s.path);
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", s.path);
        }
    }
    if check && !stale.is_empty() {
        eprintln!("run `cargo run -p gen-surface` and commit the result");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
