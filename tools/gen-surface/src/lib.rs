//! Everything generated from `ringmq-core`'s declarations (`surface`,
//! `ErrorKind`, `Overflow`, `StartAt`): each artifact is a whole file or a
//! marked block inside a hand-written one. `cargo run -p gen-surface`
//! rewrites them; `--check` (and this crate's test) names the stale ones.

pub mod c;
pub mod docs;
pub mod markers;
pub mod node;
pub mod python;

use std::path::{Path, PathBuf};

/// One generated file, or one block of a file.
pub struct Artifact {
    /// Relative to the repository root.
    pub path: &'static str,
    /// Which layer it belongs to, for the message that names it.
    pub layer: &'static str,
    /// The new content of the file, given its current content.
    pub render: fn(&str) -> Result<String, String>,
}

pub fn artifacts() -> Vec<Artifact> {
    vec![
        Artifact {
            path: "ringmq-ffi/src/stats.rs",
            layer: "C stats structs",
            render: |_| c::stats_file(),
        },
        Artifact {
            path: "bindings/python/python/ringmq/_ringmq.pyi",
            layer: "Python stubs",
            render: python::stub,
        },
        Artifact {
            path: "bindings/python/python/ringmq/_types.py",
            layer: "Python typed dicts",
            render: python::runtime,
        },
        Artifact {
            path: "bindings/node/index.d.ts",
            layer: "Node types",
            render: node::types,
        },
        Artifact {
            path: "docs/REFERENCE.md",
            layer: "reference docs",
            render: docs::reference,
        },
    ]
}

/// The repository root (this crate lives in `tools/gen-surface`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file whose content differs from what the declarations give.
pub struct Stale {
    pub path: &'static str,
    pub layer: &'static str,
    pub fresh: String,
}

/// Every artifact that is not current (or cannot be rendered: `Err`).
pub fn stale(root: &Path) -> Result<Vec<Stale>, String> {
    let mut out = Vec::new();
    for a in artifacts() {
        let file = root.join(a.path);
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        let fresh = (a.render)(&current).map_err(|e| format!("{}: {e}", a.path))?;
        if fresh != current {
            out.push(Stale {
                path: a.path,
                layer: a.layer,
                fresh,
            });
        }
    }
    Ok(out)
}
