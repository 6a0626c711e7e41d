//! Any configuration text through validation; what validates is turned into zones, master files
//! and every client document. Never a panic; a refused file names at least one problem.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailbeacon_formats::{autoconfig, autodiscover, mobileconfig};
use mailbeacon_model::{ZoneSet, check_str, zonefile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match check_str(text, "fuzz.toml".as_ref()) {
        Err(e) => assert!(!e.diagnostics().is_empty(), "refused without a reason"),
        Ok(checked) => {
            let model = checked.model;
            let zones = ZoneSet::derive(&model);
            for z in zones.zones() {
                let _ = zonefile::zone_file(z);
            }
            for d in &model.domains {
                let settings = model.client_settings(d);
                let _ = autoconfig::write(&settings);
                let _ = autodiscover::write_settings(&settings, None);
                let _ = mobileconfig::write(&settings, None);
            }
        }
    }
});
