//! Any request body through the Autodiscover POX reader: an address and schema, or an error;
//! never a panic, and an accepted address is one `EmailAddress::parse` accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailbeacon_formats::autodiscover::read_request;
use mailbeacon_model::EmailAddress;

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = read_request(body) {
        let text = request.address.as_str();
        assert!(EmailAddress::parse(text).is_ok(), "{text:?}");
    }
});
