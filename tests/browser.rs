//! The setup page in a real browser: headless Chromium (Debian `chromium`) at phone and desktop
//! widths, driven by `tests/browser/setup_page.py` over the DevTools protocol. Screenshots and the
//! downloaded profile are kept in `target/test-artefacts/browser/`.

mod common;
use common::*;

#[test]
fn setup_page_fits_a_phone_and_its_form_and_profile_link_work() {
    if !have("chromium") {
        eprintln!("skipped: no chromium on PATH (scripts/test.sh installs Debian's chromium)");
        return;
    }
    let served = Served::start(mailbeacon_model::DEFAULT_CONFIG);
    let out = root().join("target/test-artefacts/browser");
    let script = root().join("tests/browser/setup_page.py");
    let result = std::process::Command::new("python3")
        .arg(&script)
        .arg(format!("http://{}", served.addr("http")))
        .arg("autoconfig.example.test")
        .arg(&out)
        .output()
        .expect("python3 runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "{report}");
    // The script's own checks, each printed: make sure they all ran.
    assert_eq!(report.matches("\nok   ").count() + 1, 9, "{report}");
    assert!(out.join("setup-360px.png").is_file());
}
