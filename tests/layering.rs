//! The layers `src/lib.rs` lists: a module may import only from modules listed
//! before it. This test reads that list and every source file, and fails on any
//! `crate::<module>` path that points upwards (or at a module the list lacks).

use std::path::{Path, PathBuf};

/// The module order of lib.rs's "Layers (bottom to top)" list.
fn layers(lib: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in lib.lines() {
        let line = line.trim_start_matches("//!").trim();
        if line.starts_with("Layers (bottom to top)") {
            inside = true;
            continue;
        }
        if inside && line.starts_with("* ") {
            let head = line.split(':').next().unwrap_or("");
            for part in head.split(',') {
                let name = part.trim().trim_start_matches("* ");
                let name = name.trim_matches(|c| c == '[' || c == ']' || c == '`');
                out.push(name.to_string());
            }
        } else if inside && line.is_empty() {
            break;
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` a file refers to, outside comments.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push((n + 1, name));
            rest = tail;
        }
    }
    out
}

#[test]
fn modules_import_only_from_layers_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let order = layers(&lib);
    assert!(order.len() >= 10, "no layer list in lib.rs: {order:?}");
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if ["lib", "main", "bin"].contains(&module) {
            continue;
        }
        let Some(own) = rank(module) else {
            wrong.push(format!(
                "{}: module `{module}` is not in lib.rs's layer list",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, target) in crate_refs(&text) {
            match rank(&target) {
                Some(r) if r <= own => {}
                Some(_) => wrong.push(format!(
                    "{}:{line}: `{module}` imports `{target}`, a layer above it",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "{}:{line}: `crate::{target}` is not in lib.rs's layer list",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "layering violations:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_list_is_read_as_written() {
    let lib = "//! Layers (bottom to top):\n//! * [`a`], [`b`]: x.\n//! * [`c`]: y,\n//!   z.\n//!\n//! * [`d`]: not a layer.\n";
    assert_eq!(layers(lib), ["a", "b", "c"]);
}

/// Whether a string literal starting at `text` is an error reply's text.
fn is_error_text(text: &str) -> bool {
    [
        "ERR ",
        "-ERR ",
        "WRONGTYPE ",
        "NOAUTH ",
        "WRONGPASS ",
        "NOPROTO ",
        "EXECABORT ",
        "BUSY ",
    ]
    .iter()
    .any(|code| text.starts_with(code))
}

#[test]
fn error_texts_live_in_the_error_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The error module itself, and tables generated from Redis.
        if rel == "error.rs" || rel.starts_with("spec/") || rel == "config/redis_params.rs" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may spell out the texts they check.
        let code = text.split("\n#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for (i, _) in line.match_indices('"') {
                if is_error_text(&line[i + 1..]) {
                    wrong.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "error texts outside src/error.rs:\n{}",
        wrong.join("\n")
    );
}
