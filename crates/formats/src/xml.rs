//! Small helpers shared by the XML readers and writers.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};

/// A writer into memory with two-space indentation and the XML declaration already written.
pub(crate) fn document() -> Writer<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec<u8> cannot fail.
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .expect("in-memory write");
    w
}

/// The finished document as a string (the writer only ever receives `&str` input).
pub(crate) fn finish(w: Writer<Vec<u8>>) -> String {
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).unwrap_or_default()
}
