//! Alert mails as keepalived 2.2.7 writes them (core/smtp.c, vrrp_notify.c,
//! the checkers and ipwrapper.c).
//!
//! ```text
//! Date: Mon, 01 Mar 2021 09:44:08 +0000
//! From: <notification_email_from>
//! Subject: [<router_id>] VRRP Instance VI_1 - Entering MASTER state
//! X-Mailer: Keepalived
//! To: <first notification_email>,
//!  <second notification_email>
//!
//! => VRRP Instance is now owning VRRP VIPs <=
//!
//! ```
//!
//! Subjects: `[router_id] VRRP Instance NAME - STATE`, `[router_id] VRRP
//! Group NAME - STATE`, `[router_id] Realserver RS of virtual server VS -
//! UP|DOWN`, `[router_id] Virtualserver VS - UP|DOWN`. The body is one
//! line; keepalived follows it with an empty line, so do we. The Date is
//! local time, as keepalived's strftime("%a, %d %b %Y %H:%M:%S %z").

use crate::notify::{NotifyState, Subject};
use std::time::{SystemTime, UNIX_EPOCH};

/// An alert's subject (without the `[router_id] ` prefix) and body line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub subject: String,
    pub body: String,
}

/// What keepalived says when an instance or a sync group enters `state`.
pub fn vrrp(subject: Subject, name: &str, state: NotifyState) -> Text {
    let what = match state {
        NotifyState::Master => "Entering MASTER state",
        NotifyState::Backup => "Entering BACKUP state",
        NotifyState::Fault => "Entering FAULT state",
        NotifyState::Stop => "Stopping",
    };
    let (kind, body) = match subject {
        Subject::Instance => (
            "Instance",
            match state {
                NotifyState::Master => "=> VRRP Instance is now owning VRRP VIPs <=",
                NotifyState::Backup | NotifyState::Fault => "=> VRRP Instance is no longer owning VRRP VIPs <=",
                NotifyState::Stop => "=> VRRP Instance stopping <=",
            },
        ),
        Subject::Group => (
            "Group",
            match state {
                NotifyState::Master => "=> All VRRP group instances are now in MASTER state <=",
                NotifyState::Backup => "=> All VRRP group instances are now in BACKUP state <=",
                NotifyState::Fault => "=> All VRRP group instances are now in FAULT state <=",
                NotifyState::Stop => "=> All VRRP group instances are now stopping <=",
            },
        ),
    };
    Text { subject: format!("VRRP {kind} {name} - {what}"), body: body.to_string() }
}

/// A real server's alert (keepalived's SMTP_MSG_RS / SMTP_MSG_RS_SHUT);
/// `rs` and `vs` as FMT_RS / FMT_VS print them.
pub fn real_server(vs: &str, rs: &str, state: &str, message: &str) -> Text {
    Text { subject: format!("Realserver {rs} of virtual server {vs} - {state}"), body: message.to_string() }
}

/// A virtual server's alert (SMTP_MSG_VS: quorum gained or lost).
pub fn virtual_server(vs: &str, state: &str, message: &str) -> Text {
    Text { subject: format!("Virtualserver {vs} - {state}"), body: message.to_string() }
}

/// Header values come from the configuration; a line break in one would
/// start a header of its own.
fn header_value(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// The whole message (headers, empty line, body, empty line), lines ended
/// with CRLF, before dot-stuffing.
pub fn compose(date: &str, from: &str, to: &[String], subject: &str, body: &str) -> String {
    let mut m = String::with_capacity(256 + body.len());
    m.push_str("Date: ");
    m.push_str(date);
    m.push_str("\r\nFrom: ");
    m.push_str(&header_value(from));
    m.push_str("\r\nSubject: ");
    m.push_str(&header_value(subject));
    m.push_str("\r\nX-Mailer: Keepalived\r\nTo:");
    for (i, r) in to.iter().enumerate() {
        // Folded as keepalived folds it: ",CRLF SP" between addresses.
        m.push_str(if i == 0 { " " } else { ",\r\n " });
        m.push_str(&header_value(r));
    }
    m.push_str("\r\n\r\n");
    for line in body.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    m.push_str("\r\n");
    m
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Broken-down time: (year, month 0-11, day, hour, minute, second,
/// weekday 0=Sunday, offset from UTC in seconds).
type Civil = (i64, usize, u32, u32, u32, u32, usize, i64);

/// `t` in UTC (days-to-civil, after Howard Hinnant's algorithm).
fn utc(t: i64) -> Civil {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize;
    (year, month - 1, day, (secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32, weekday, 0)
}

/// `t` in local time (the C library's idea of it: TZ, /etc/localtime;
/// UTC on an appliance that has neither).
fn local(t: i64) -> Civil {
    // libc marks musl's time_t deprecated (its width changed in musl 1.2);
    // it is 64 bits on every target we build.
    #[allow(deprecated)]
    let secs = t as libc::time_t;
    // SAFETY: localtime_r only reads `secs` and writes the `tm` we own; a
    // zeroed tm is a valid value of that plain C struct.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return utc(t);
        }
        tm
    };
    let month = usize::try_from(tm.tm_mon).unwrap_or(0).min(11);
    let weekday = usize::try_from(tm.tm_wday).unwrap_or(0).min(6);
    let field = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    (i64::from(tm.tm_year) + 1900, month, field(tm.tm_mday), field(tm.tm_hour), field(tm.tm_min), field(tm.tm_sec), weekday, tm.tm_gmtoff as i64)
}

fn format_date(c: Civil) -> String {
    let (year, month, day, h, m, s, wd, off) = c;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs() / 60;
    format!("{}, {day:02} {} {year} {h:02}:{m:02}:{s:02} {sign}{:02}{:02}", DAYS[wd], MONTHS[month], off / 60, off % 60)
}

/// The Date header for `when`, in local time.
pub fn date(when: SystemTime) -> String {
    let t = match when.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    format_date(local(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_subjects_and_bodies_are_keepalived_words() {
        let t = vrrp(Subject::Instance, "VI_1", NotifyState::Master);
        assert_eq!(t.subject, "VRRP Instance VI_1 - Entering MASTER state");
        assert_eq!(t.body, "=> VRRP Instance is now owning VRRP VIPs <=");
        let t = vrrp(Subject::Instance, "VI_1", NotifyState::Fault);
        assert_eq!(t.subject, "VRRP Instance VI_1 - Entering FAULT state");
        assert_eq!(t.body, "=> VRRP Instance is no longer owning VRRP VIPs <=");
        let t = vrrp(Subject::Instance, "VI_1", NotifyState::Stop);
        assert_eq!((t.subject.as_str(), t.body.as_str()), ("VRRP Instance VI_1 - Stopping", "=> VRRP Instance stopping <="));
        let t = vrrp(Subject::Group, "G1", NotifyState::Backup);
        assert_eq!(t.subject, "VRRP Group G1 - Entering BACKUP state");
        assert_eq!(t.body, "=> All VRRP group instances are now in BACKUP state <=");
        let t = real_server("[192.0.2.1]:tcp:80", "[10.0.0.1]:tcp:8080", "DOWN", "=> TCP CHECK failed on service <=");
        assert_eq!(t.subject, "Realserver [10.0.0.1]:tcp:8080 of virtual server [192.0.2.1]:tcp:80 - DOWN");
        assert_eq!(virtual_server("FWM 3", "UP", "x").subject, "Virtualserver FWM 3 - UP");
    }

    #[test]
    fn the_message_layout_is_keepalived_s() {
        let to = vec!["a@example.org".to_string(), "b@example.org".to_string()];
        let m = compose("Mon, 01 Mar 2021 09:44:08 +0000", "vigil@example.org", &to, "[r1] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=");
        assert_eq!(
            m,
            "Date: Mon, 01 Mar 2021 09:44:08 +0000\r\n\
             From: vigil@example.org\r\n\
             Subject: [r1] VRRP Instance VI_1 - Entering MASTER state\r\n\
             X-Mailer: Keepalived\r\n\
             To: a@example.org,\r\n b@example.org\r\n\
             \r\n\
             => VRRP Instance is now owning VRRP VIPs <=\r\n\
             \r\n"
        );
        // A line break smuggled into a header value stays inside it.
        let m = compose("d", "x\r\nBcc: y", &to[..1], "s\nX: 1", "b");
        assert!(m.contains("From: x  Bcc: y\r\n") && m.contains("Subject: s X: 1\r\n"), "{m}");
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(format_date(utc(0)), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(format_date(utc(1_614_591_848)), "Mon, 01 Mar 2021 09:44:08 +0000");
        assert_eq!(format_date(utc(951_782_400)), "Tue, 29 Feb 2000 00:00:00 +0000");
        let mut c = utc(1_614_591_848);
        c.7 = -(5 * 3600 + 30 * 60);
        assert!(format_date(c).ends_with(" -0530"));
        // Local time: the same shape whatever the zone.
        let d = date(SystemTime::now());
        assert_eq!(d.len(), "Mon, 01 Mar 2021 09:44:08 +0000".len(), "{d}");
    }
}
