//! The kinds of event the daemon logs, each with its own journal
//! `MESSAGE_ID` (generated once with `journalctl --new-id128` and frozen:
//! queries such as `journalctl MESSAGE_ID=…` and the catalog
//! `systemd/fifo-pingd.catalog` depend on them never changing).

/// An event with a journal identity; lines without one (summaries, notes)
/// are logged as plain messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Listening on the FIFO (the start, or the FIFO moved by a reload).
    Started,
    /// A `ping`.
    Ping,
    /// A `?ping NAME`, answered or not.
    RoundTripPing,
    /// An `end`, acted on or ignored.
    End,
    /// Input that is not a message.
    Rejected,
    ReloadOk,
    ReloadFailed,
    /// Log lines lost to a congested or absent log socket.
    LogLinesDropped,
    /// A pong or status reply that could not be written.
    PongFailed,
    /// The stop, with the final counters.
    Stopping,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Event::Started,
        Event::Ping,
        Event::RoundTripPing,
        Event::End,
        Event::Rejected,
        Event::ReloadOk,
        Event::ReloadFailed,
        Event::LogLinesDropped,
        Event::PongFailed,
        Event::Stopping,
    ];

    /// The journal's `MESSAGE_ID` (32 lowercase hex digits).
    pub fn message_id(self) -> &'static str {
        match self {
            Event::Started => "e2b588eb66c440fca92004ade2e24ef2",
            Event::Ping => "e51316af166e4760a0519d67e206708a",
            Event::RoundTripPing => "71abd73e1e574203a75b3d4dc78c58c3",
            Event::End => "db64e34451264873806ed54487fc9c18",
            Event::Rejected => "69ec0360667847d6b8045008352f678c",
            Event::ReloadOk => "ab9b3ab030a0459d9f8e6ecf9154c3ae",
            Event::ReloadFailed => "39a25932a8214f4394a750b10ba01439",
            Event::LogLinesDropped => "ba00c8c02ab9487bbd56a6a6042f1fe5",
            Event::PongFailed => "bb44616fdd23428db4323d3115c2261b",
            Event::Stopping => "831f57fc60ef483bac064617f0a94585",
        }
    }

    /// The `FIFO_PINGD_EVENT` field's value.
    pub fn name(self) -> &'static str {
        match self {
            Event::Started => "started",
            Event::Ping => "ping",
            Event::RoundTripPing => "round_trip_ping",
            Event::End => "end",
            Event::Rejected => "rejected",
            Event::ReloadOk => "reload_ok",
            Event::ReloadFailed => "reload_failed",
            Event::LogLinesDropped => "log_lines_dropped",
            Event::PongFailed => "pong_failed",
            Event::Stopping => "stopping",
        }
    }
}

/// A field of our own (`FIFO_PINGD_<NAME>`) and its value.
pub type Field<'a> = (&'a str, &'a str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_distinct_id128s() {
        let mut seen = std::collections::HashSet::new();
        for event in Event::ALL {
            let id = event.message_id();
            assert_eq!(id.len(), 32, "{event:?}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{event:?}: {id}"
            );
            assert!(seen.insert(id), "{event:?} shares its id");
            assert!(seen.insert(event.name()), "{event:?} shares its name");
        }
    }

    /// The catalog explains every event, under the same ids.
    #[test]
    fn the_catalog_has_an_entry_per_event() {
        let catalog = include_str!("../../../systemd/fifo-pingd.catalog");
        let ids: Vec<&str> = catalog
            .lines()
            .filter_map(|line| line.strip_prefix("-- "))
            .collect();
        let ours: Vec<&str> = Event::ALL.iter().map(|e| e.message_id()).collect();
        assert_eq!(ids, ours);
    }
}
