//! Small helpers shared by the XML writers.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};

/// A writer into memory with two-space indentation and the XML declaration already written.
fn document() -> Writer<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec<u8> cannot fail.
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .expect("in-memory write");
    w
}

/// The finished document as a string (the writer only ever receives `&str` input).
fn finish(w: Writer<Vec<u8>>) -> String {
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).unwrap_or_default()
}

/// Writes a whole document with `body` and returns it. The one place that unwraps a write
/// result: writing into a `Vec<u8>` cannot fail.
pub(crate) fn write_document(
    body: impl FnOnce(&mut Writer<Vec<u8>>) -> std::io::Result<()>,
) -> String {
    let mut w = document();
    body(&mut w).expect("in-memory write");
    finish(w)
}

/// `<name>value</name>`, the value escaped.
pub(crate) fn text(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(quick_xml::events::BytesText::new(value))?;
    Ok(())
}
