//! Generated blocks inside hand-written files, between a BEGIN and an END
//! marker line in the file's comment syntax.

/// A comment syntax: what opens and closes a one-line comment.
#[derive(Clone, Copy)]
pub struct Comment {
    pub open: &'static str,
    pub close: &'static str,
}

pub const HASH: Comment = Comment {
    open: "# ",
    close: "",
};
pub const SLASHES: Comment = Comment {
    open: "// ",
    close: "",
};
pub const HTML: Comment = Comment {
    open: "<!-- ",
    close: " -->",
};

fn begin(c: Comment, name: &str) -> String {
    format!(
        "{}BEGIN GENERATED {name}: written by `cargo run -p gen-surface` from ringmq-core; do not edit{}",
        c.open, c.close
    )
}

fn end(c: Comment, name: &str) -> String {
    format!("{}END GENERATED {name}{}", c.open, c.close)
}

/// `text` with the block `name` replaced by `body`; both markers must be
/// there, once each (a missing marker is an error, not a silent append).
pub fn replace(text: &str, c: Comment, name: &str, body: &str) -> Result<String, String> {
    let (b, e) = (begin(c, name), end(c, name));
    let find = |m: &str| -> Result<usize, String> {
        let mut hits = text.match_indices(m).filter(|(i, _)| {
            (*i == 0 || text.as_bytes()[i - 1] == b'\n')
                && text[i + m.len()..].starts_with(['\n', '\r'])
        });
        let first = hits.next().map(|(i, _)| i);
        match (first, hits.next()) {
            (Some(i), None) => Ok(i),
            (None, _) => Err(format!("no line {m:?}")),
            (Some(_), Some(_)) => Err(format!("the line {m:?} is there twice")),
        }
    };
    let (bi, ei) = (find(&b)?, find(&e)?);
    if ei < bi {
        return Err(format!("the END marker of {name} comes before its BEGIN"));
    }
    let after_begin = bi + b.len() + 1;
    Ok(format!("{}{body}{}", &text[..after_begin], &text[ei..]))
}

/// A fresh block with its markers, for a file that has none yet.
pub fn block(c: Comment, name: &str, body: &str) -> String {
    format!("{}\n{body}{}\n", begin(c, name), end(c, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_between_markers_only() {
        let text = format!("head\n{}tail\n", block(HASH, "x", "old\n"));
        let out = replace(&text, HASH, "x", "new\n").unwrap();
        assert_eq!(out, format!("head\n{}tail\n", block(HASH, "x", "new\n")));
        assert!(replace("nothing\n", HASH, "x", "")
            .unwrap_err()
            .contains("no line"));
        let twice = format!("{}{}", block(HASH, "x", ""), block(HASH, "x", ""));
        assert!(replace(&twice, HASH, "x", "")
            .unwrap_err()
            .contains("twice"));
    }
}
