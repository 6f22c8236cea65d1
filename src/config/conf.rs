//! The config file's syntax: redis.conf-style `name value` lines, read by
//! [`parse_conf`] and written (by CONFIG REWRITE) with [`conf_quote`].

/// Parses redis.conf lines: `name value...`, `#` comments, and Redis's quoting
/// (`"a b\n"`, `'x'`) as the inline protocol has it. Later lines win over earlier ones.
pub(crate) fn parse_conf(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = crate::protocol::parser::split_args(line.as_bytes()).unwrap_or_default();
        let Some((key, values)) = words.split_first() else {
            continue;
        };
        let key = String::from_utf8_lossy(key).to_ascii_lowercase();
        let value = values
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    out
}

/// A value as a config file line needs it: bare when it is one plain word, otherwise
/// double-quoted with `\\`, `\"`, `\n`, `\r`, `\t` and `\xHH` escapes, which
/// [`parse_conf`] reads back exactly.
pub(crate) fn conf_quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for b in v.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_round_trip_through_quoting() {
        for v in [
            "plain",
            "",
            "two words",
            "a\"quote",
            "back\\slash",
            "line\nbreak",
            "tab\there",
            "é",
        ] {
            let line = format!("requirepass {}", conf_quote(v));
            assert_eq!(
                parse_conf(&line),
                vec![("requirepass".to_string(), v.to_string())],
                "{line}"
            );
        }
        let text = "save \"\"\nclient-output-buffer-limit normal 0 0 0\nhz 5\nhz 7\n";
        assert_eq!(
            parse_conf(text),
            vec![
                ("save".into(), "".into()),
                ("client-output-buffer-limit".into(), "normal 0 0 0".into()),
                ("hz".into(), "7".into()),
            ]
        );
    }
}
