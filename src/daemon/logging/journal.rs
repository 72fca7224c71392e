//! Entries in the journal's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL):
//! one datagram per entry, one field per line as `NAME=value`, or, for a
//! value that contains a newline, `NAME`, a newline, the value's length as
//! 64-bit little-endian, the value and a newline.
//!
//! Every entry carries `MESSAGE`, `PRIORITY`, `SYSLOG_FACILITY`,
//! `SYSLOG_IDENTIFIER` and the daemon's context (`FIFO_PINGD_INSTANCE`,
//! `FIFO_PINGD_FIFO` once the FIFO is open); an event adds its `MESSAGE_ID`,
//! `FIFO_PINGD_EVENT` and its own `FIFO_PINGD_*` fields. Entries stay far
//! below the socket's datagram limit (messages are short, samples bounded,
//! paths at most `PATH_MAX`), so the protocol's memfd path is not needed.

use std::path::Path;

use super::IDENT;
use super::event::{Event, Field};
use crate::config::Level;

/// Appends one field in the native encoding.
pub fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Formats entries; what every entry shares is encoded once.
pub(super) struct JournalFormat {
    /// `SYSLOG_FACILITY`, `SYSLOG_IDENTIFIER` and the context fields, encoded.
    common: Vec<u8>,
    facility: u8,
    instance: String,
}

impl JournalFormat {
    pub(super) fn new(facility: syslog::Facility, instance: &str) -> Self {
        let mut format = JournalFormat {
            common: Vec::new(),
            facility: (facility as u32 >> 3) as u8,
            instance: instance.to_owned(),
        };
        format.set_fifo(None);
        format
    }

    /// The FIFO the entries are about (none before it is open).
    pub(super) fn set_fifo(&mut self, fifo: Option<&Path>) {
        use std::os::unix::ffi::OsStrExt;
        self.common.clear();
        push_field(
            &mut self.common,
            "SYSLOG_FACILITY",
            self.facility.to_string().as_bytes(),
        );
        push_field(&mut self.common, "SYSLOG_IDENTIFIER", IDENT.as_bytes());
        push_field(
            &mut self.common,
            "FIFO_PINGD_INSTANCE",
            self.instance.as_bytes(),
        );
        if let Some(fifo) = fifo {
            push_field(
                &mut self.common,
                "FIFO_PINGD_FIFO",
                fifo.as_os_str().as_bytes(),
            );
        }
    }

    /// Puts the datagram of one entry into `out`.
    pub(super) fn format(
        &self,
        out: &mut Vec<u8>,
        level: Level,
        event: Option<Event>,
        message: &str,
        fields: &[Field<'_>],
    ) {
        out.clear();
        push_field(out, "MESSAGE", message.as_bytes());
        out.extend_from_slice(b"PRIORITY=");
        out.push(b'0' + level as u8);
        out.push(b'\n');
        out.extend_from_slice(&self.common);
        if let Some(event) = event {
            push_field(out, "MESSAGE_ID", event.message_id().as_bytes());
            push_field(out, "FIFO_PINGD_EVENT", event.name().as_bytes());
        }
        for (name, value) in fields {
            let mut key = String::with_capacity(11 + name.len());
            key.push_str("FIFO_PINGD_");
            key.push_str(name);
            push_field(out, &key, value.as_bytes());
        }
    }
}

/// Decodes a datagram as journald does (for the tests).
#[cfg(test)]
pub fn decode(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut fields = Vec::new();
    while !data.is_empty() {
        let end = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a field without its newline")?;
        let line = &data[..end];
        data = &data[end + 1..];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let name = String::from_utf8(line[..eq].to_vec()).map_err(|e| e.to_string())?;
            fields.push((name, line[eq + 1..].to_vec()));
        } else {
            let name = String::from_utf8(line.to_vec()).map_err(|e| e.to_string())?;
            if data.len() < 8 {
                return Err(format!("{name}: no length"));
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&data[..8]);
            let len = usize::try_from(u64::from_le_bytes(len)).map_err(|e| e.to_string())?;
            data = &data[8..];
            if data.len() < len + 1 || data[len] != b'\n' {
                return Err(format!("{name}: value shorter than its length"));
            }
            fields.push((name, data[..len].to_vec()));
            data = &data[len + 1..];
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    #[test]
    fn a_plain_value_is_one_line() {
        let mut out = Vec::new();
        push_field(&mut out, "MESSAGE", b"received ping");
        assert_eq!(out, b"MESSAGE=received ping\n");
    }

    #[test]
    fn a_value_with_newlines_is_length_prefixed() {
        let mut out = Vec::new();
        push_field(&mut out, "MESSAGE", b"a\nb=c\n");
        let mut expected = b"MESSAGE\n".to_vec();
        expected.extend_from_slice(&6u64.to_le_bytes());
        expected.extend_from_slice(b"a\nb=c\n\n");
        assert_eq!(out, expected);
        assert_eq!(
            decode(&out),
            Ok(vec![("MESSAGE".to_owned(), b"a\nb=c\n".to_vec())])
        );
        // An empty value and one that is only a newline.
        let mut out = Vec::new();
        push_field(&mut out, "A", b"");
        push_field(&mut out, "B", b"\n");
        assert_eq!(
            decode(&out),
            Ok(vec![
                ("A".to_owned(), Vec::new()),
                ("B".to_owned(), b"\n".to_vec())
            ])
        );
    }

    #[test]
    fn an_event_entry_has_its_id_context_and_fields() {
        let mut format = JournalFormat::new(syslog::Facility::LOG_DAEMON, "blue");
        format.set_fifo(Some(Path::new("/run/fifo-pingd/instance/blue/fifo")));
        let mut out = Vec::new();
        format.format(
            &mut out,
            Level::Warning,
            Some(Event::Rejected),
            "rejected message: unknown word: \"pong\"",
            &[("REASON", "unknown_word"), ("SAMPLE", "po\nng")],
        );
        let fields = decode(&out).expect("decodes");
        let one = |name: &str| {
            let values = field(&fields, name);
            assert_eq!(values.len(), 1, "{name} in {fields:?}");
            String::from_utf8_lossy(values[0]).into_owned()
        };
        assert_eq!(one("MESSAGE"), "rejected message: unknown word: \"pong\"");
        assert_eq!(one("PRIORITY"), "4");
        assert_eq!(one("SYSLOG_FACILITY"), "3");
        assert_eq!(one("SYSLOG_IDENTIFIER"), "fifo-pingd");
        assert_eq!(one("MESSAGE_ID"), Event::Rejected.message_id());
        assert_eq!(one("FIFO_PINGD_EVENT"), "rejected");
        assert_eq!(one("FIFO_PINGD_INSTANCE"), "blue");
        assert_eq!(one("FIFO_PINGD_FIFO"), "/run/fifo-pingd/instance/blue/fifo");
        assert_eq!(one("FIFO_PINGD_REASON"), "unknown_word");
        assert_eq!(one("FIFO_PINGD_SAMPLE"), "po\nng");
        assert_eq!(fields.len(), 10, "{fields:?}");
    }

    #[test]
    fn a_plain_line_has_no_message_id() {
        let format = JournalFormat::new(syslog::Facility::LOG_LOCAL3, "default");
        let mut out = Vec::new();
        format.format(&mut out, Level::Info, None, "suppressed 3 lines", &[]);
        let fields = decode(&out).expect("decodes");
        assert!(field(&fields, "MESSAGE_ID").is_empty());
        assert!(field(&fields, "FIFO_PINGD_FIFO").is_empty(), "not open yet");
        assert_eq!(field(&fields, "SYSLOG_FACILITY"), [b"19".as_slice()]);
        assert_eq!(
            field(&fields, "FIFO_PINGD_INSTANCE"),
            [b"default".as_slice()]
        );
    }
}
