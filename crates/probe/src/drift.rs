//! `--config FILE`: what is live against what that configuration publishes. Every RRset of the
//! domain's zone (as `mailbeacon records` prints it) is asked through the resolver and compared;
//! SOA serials and DNSSEC records are left out (they move on their own).

use std::collections::BTreeMap;
use std::path::Path;

use hickory_proto::rr::{Name, RecordType};

use crate::dns::Resolver;
use crate::report::{Finding, Level};

/// The drift between the live zone of `domain` and the one `config` derives.
pub async fn compare(config: &Path, domain: &str, resolver: &Resolver) -> Vec<Finding> {
    let check = "drift";
    let checked = match mailbeacon_model::check_file(config) {
        Ok(c) => c,
        Err(e) => return vec![Finding::new(Level::Error, check, format!("{e}"))],
    };
    let Ok(origin) = Name::from_ascii(format!("{domain}.")) else {
        return Vec::new();
    };
    let Some(zone) = checked.zones.get(&origin.to_lowercase()) else {
        return vec![Finding::new(
            Level::Error,
            check,
            format!("{} does not serve {domain}", config.display()),
        )];
    };
    // The configured RRsets, as sorted presentation texts.
    let mut expected: BTreeMap<(Name, RecordType), Vec<String>> = BTreeMap::new();
    for r in zone.records() {
        if matches!(r.record_type(), RecordType::SOA) {
            continue;
        }
        expected
            .entry((r.name.clone(), r.record_type()))
            .or_default()
            .push(r.data.to_string().to_ascii_lowercase());
    }
    let mut out = Vec::new();
    let mut same = 0;
    for ((name, rtype), mut want) in expected {
        want.sort();
        let live = match resolver.ask(&name, rtype).await {
            Ok(a) => {
                let mut v: Vec<String> = a
                    .records
                    .iter()
                    .filter(|r| r.record_type() == rtype && r.name == name)
                    .map(|r| r.data.to_string().to_ascii_lowercase())
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                out.push(Finding::new(
                    Level::Error,
                    check,
                    format!("{name} {rtype}: {e}"),
                ));
                continue;
            }
        };
        if live == want {
            same += 1;
        } else {
            out.push(Finding::new(
                Level::Error,
                check,
                format!("{name} {rtype}: the configuration publishes {want:?}, live is {live:?}"),
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::new(
            Level::Ok,
            check,
            format!(
                "all {same} RRsets of {} are live as configured",
                config.display()
            ),
        ));
    }
    out
}
