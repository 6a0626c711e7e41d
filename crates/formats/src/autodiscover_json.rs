//! Autodiscover v2 (`/autodiscover/autodiscover.json`): a JSON pointer from a protocol name to
//! the URL that serves it. Only `AutodiscoverV1` (the POX endpoint) exists on an IMAP host.

use serde_json::json;

/// The response content type.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The answer for `protocol`: `Ok(json)` for `AutodiscoverV1` (any letter case) pointing at
/// `pox_url`, `Err(json)` with Exchange's `InvalidProtocol` error otherwise. The echoed value is
/// reduced to letters, digits, `-`, `_` and `.`, at most 64 of them.
pub fn response(protocol: &str, pox_url: &str) -> Result<String, String> {
    if protocol.eq_ignore_ascii_case("AutodiscoverV1") {
        return Ok(json!({ "Protocol": "AutodiscoverV1", "Url": pox_url }).to_string());
    }
    let shown: String = protocol
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    Err(json!({
        "ErrorCode": "InvalidProtocol",
        "ErrorMessage": format!(
            "The given protocol value '{shown}' is invalid. Supported values are 'AutodiscoverV1'"
        ),
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_autodiscover_v1_at_the_pox_url() {
        let ok = response(
            "autodiscoverv1",
            "https://autodiscover.a.test/autodiscover/autodiscover.xml",
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(v["Protocol"], "AutodiscoverV1");
        assert_eq!(
            v["Url"],
            "https://autodiscover.a.test/autodiscover/autodiscover.xml"
        );
    }

    #[test]
    fn other_protocols_are_refused_with_a_sanitised_echo() {
        let err = response("ActiveSync<script>\"", "u").unwrap_err();
        let v: serde_json::Value = serde_json::from_str(&err).unwrap();
        assert_eq!(v["ErrorCode"], "InvalidProtocol");
        let msg = v["ErrorMessage"].as_str().unwrap();
        assert!(msg.contains("'ActiveSyncscript'"), "{msg}");
    }
}
