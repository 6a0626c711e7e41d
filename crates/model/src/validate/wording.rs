//! Plain-words versions of the deserializer's messages, and "did you mean" suggestions.
//!
//! serde speaks of `i64` and `sequence`; a person editing a TOML file thinks of numbers, text and
//! lists. The messages serde produces have a fixed shape, so they are reworded here rather than by
//! hand-written deserializers for every field.

/// The candidate closest to `word` when it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|&c| {
            (
                strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|&(d, c)| d > 0 && d <= (c.len() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `unknown X `word``, with a suggestion when one is close, and the list of what is accepted.
pub(crate) fn unknown(what: &str, word: &str, candidates: &[&str]) -> String {
    let list = candidates.join(", ");
    match suggest(word, candidates) {
        Some(s) => format!("unknown {what} `{word}`; did you mean `{s}`? (accepted: {list})"),
        None => format!("unknown {what} `{word}`; accepted: {list}"),
    }
}

/// Rewords one of serde's messages; anything not recognised is returned unchanged.
pub(crate) fn friendly(message: &str) -> String {
    let message = message.trim();
    for (prefix, what) in [("unknown field ", "key"), ("unknown variant ", "value")] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((word, expected)) = split_expected(rest)
        {
            let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
            return unknown(what, &word, &expected);
        }
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "expected {}, not {}",
            expected_words(expected),
            found_words(found)
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    message.to_owned()
}

/// "`word`, expected one of `a`, `b`" or "`word`, expected `a`" → (word, [a, b]).
fn split_expected(rest: &str) -> Option<(String, Vec<String>)> {
    let (word, expected) = rest.split_once(", expected ")?;
    let word = word.trim_matches('`').to_owned();
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let list = expected
        .split(", ")
        .map(|s| s.trim().trim_matches('`').to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    Some((word, list))
}

/// serde's "expected" side in a TOML user's words.
fn expected_words(expected: &str) -> String {
    let e = expected.trim();
    let words = match e {
        "i64" | "u64" | "i32" | "u32" | "u16" | "u8" | "an integer" | "integer" => "a number",
        "a boolean" | "bool" => "true or false",
        "a string" | "string" => "text in quotes",
        "a sequence" | "sequence" => "a list [ … ]",
        "a map" | "map" => "a table { … }",
        _ if e.starts_with("struct ") => "a table { … }",
        _ if e.starts_with("a sequence") => "a list [ … ]",
        _ => return e.to_owned(),
    };
    words.to_owned()
}

/// serde's "found" side ("string \"993\"", "integer `5`") in a TOML user's words.
fn found_words(found: &str) -> String {
    let f = found.trim();
    if let Some(v) = f.strip_prefix("string ") {
        return format!("the text {v}");
    }
    if let Some(v) = f.strip_prefix("integer ") {
        return format!("the number {}", v.trim_matches('`'));
    }
    if let Some(v) = f.strip_prefix("floating point ") {
        return format!("the number {}", v.trim_matches('`'));
    }
    if let Some(v) = f.strip_prefix("boolean ") {
        return v.trim_matches('`').to_owned();
    }
    match f {
        "sequence" => "a list".to_owned(),
        "map" => "a table".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_words_are_suggested_and_far_ones_are_not() {
        let keys = ["protocol", "host", "port", "security", "auth", "username"];
        assert_eq!(suggest("protcol", &keys), Some("protocol"));
        assert_eq!(suggest("securty", &keys), Some("security"));
        assert_eq!(suggest("prot", &keys), Some("port"));
        assert_eq!(suggest("hostname", &keys), None);
        assert_eq!(suggest("zzz", &keys), None);
        assert_eq!(
            suggest("host", &keys),
            None,
            "an exact match is no suggestion"
        );
    }

    #[test]
    fn serde_messages_become_plain_words() {
        assert_eq!(
            friendly("invalid type: string \"993\", expected i64"),
            "expected a number, not the text \"993\""
        );
        assert_eq!(
            friendly("invalid type: integer `5`, expected a string"),
            "expected text in quotes, not the number 5"
        );
        assert_eq!(
            friendly("unknown field `protcol`, expected one of `protocol`, `host`, `port`"),
            "unknown key `protcol`; did you mean `protocol`? (accepted: protocol, host, port)"
        );
        assert_eq!(
            friendly("unknown field `zzz`, expected `name`"),
            "unknown key `zzz`; accepted: name"
        );
        assert_eq!(friendly("something else"), "something else");
    }
}
