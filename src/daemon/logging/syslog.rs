//! RFC 3164 datagrams for `/dev/log`: the header is formatted here, with
//! the timestamp cached per second (the `syslog` crate gives the facility
//! and severity numbers).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use syslog::{Facility, Severity};

use super::IDENT;
use crate::config::Level;

pub(super) fn severity(level: Level) -> Severity {
    match level {
        Level::Err => Severity::LOG_ERR,
        Level::Warning => Severity::LOG_WARNING,
        Level::Notice => Severity::LOG_NOTICE,
        Level::Info => Severity::LOG_INFO,
        Level::Debug => Severity::LOG_DEBUG,
    }
}

/// An RFC 3164 header cached per second and severity: formatting the
/// timestamp for every line would cost more than sending it.
pub(super) struct HeaderCache {
    facility: Facility,
    pid: u32,
    second: u64,
    headers: [Vec<u8>; 8],
}

impl HeaderCache {
    pub(super) fn new(facility: Facility) -> Self {
        HeaderCache {
            facility,
            pid: std::process::id(),
            second: u64::MAX,
            headers: Default::default(),
        }
    }

    /// `<PRI>Mmm dd hh:mm:ss fifo-pingd[PID]: `, without a hostname: local
    /// /dev/log receivers add it themselves (as glibc's syslog(3) expects).
    pub(super) fn header(&mut self, level: Level) -> &[u8] {
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            for header in &mut self.headers {
                header.clear();
            }
        }
        let slot = level as usize;
        let header = &mut self.headers[slot];
        if header.is_empty() {
            let priority = self.facility as u8 | severity(level) as u8;
            let _ = write!(header, "<{priority}>");
            push_timestamp(header, second);
            let _ = write!(header, " {IDENT}[{}]: ", self.pid);
        }
        header
    }
}

/// Appends the RFC 3164 timestamp `Mmm dd hh:mm:ss` of a Unix time, in UTC
/// with the day zero-padded, as the `syslog` crate's `Formatter3164` writes
/// it. Done here because that formatter parses its format description on
/// every call: ~100 µs of a lone ping's cost after an idle second.
fn push_timestamp(out: &mut Vec<u8>, unix_seconds: u64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let time_of_day = unix_seconds % 86_400;
    // The civil date of a day count since 1970-01-01 (Howard Hinnant's
    // `civil_from_days`), for the proleptic Gregorian calendar.
    let z = (unix_seconds / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = (month_from_march + 2) % 12; // 0 = January
    let _ = write!(
        out,
        "{} {day:02} {:02}:{:02}:{:02}",
        MONTHS[month as usize],
        time_of_day / 3600,
        time_of_day / 60 % 60,
        time_of_day % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::logging::datagram::{DatagramSink, Format};
    use crate::daemon::logging::syslog::HeaderCache;
    use std::os::unix::net::UnixDatagram;
    #[test]
    fn syslog_lines_are_rfc3164_with_ident_and_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let (mut sink, error) = DatagramSink::new(
            &path,
            Format::Syslog(HeaderCache::new(Facility::LOG_DAEMON)),
        );
        assert!(error.is_none());
        sink.send(Level::Info, "received ping");
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).expect("recv");
        let line = String::from_utf8_lossy(&buf[..n]);
        assert!(line.starts_with("<30>"), "{line}");
        assert!(
            line.ends_with(&format!(
                "fifo-pingd[{}]: received ping",
                std::process::id()
            )),
            "{line}"
        );
    }

    #[test]
    fn timestamps_match_the_syslog_crate() {
        let stamp = |t: u64| {
            let mut out = Vec::new();
            push_timestamp(&mut out, t);
            String::from_utf8(out).expect("ASCII")
        };
        assert_eq!(stamp(0), "Jan 01 00:00:00");
        assert_eq!(stamp(951_782_400), "Feb 29 00:00:00", "2000 is a leap year");
        assert_eq!(stamp(1_700_000_000), "Nov 14 22:13:20");
        assert_eq!(stamp(1_767_225_599), "Dec 31 23:59:59");
        // The header as the `syslog` crate's formatter writes it, now.
        let formatter = syslog::Formatter3164 {
            facility: Facility::LOG_LOCAL3,
            hostname: None,
            process: IDENT.to_owned(),
            pid: std::process::id(),
        };
        for _ in 0..3 {
            let mut cache = HeaderCache::new(Facility::LOG_LOCAL3);
            let ours = cache.header(Level::Warning).to_vec();
            let mut theirs = Vec::new();
            syslog::LogFormat::format(&formatter, &mut theirs, Severity::LOG_WARNING, "")
                .expect("format");
            if ours == theirs {
                return;
            }
            // The second may have changed in between: try again.
        }
        panic!("headers differ from the syslog crate's Formatter3164");
    }
}
