//! Fast CSV row writing and local-time formatting for the generator.

use jiff::civil::DateTime;
use probity_core::TimeRules;
use probity_core::time::{civil_from_days, days_from_civil};

/// Converts between local civil times and instants for the simulated period,
/// with a per-hour offset table so that formatting an instant costs no
/// time-zone lookup.
pub struct Clock {
    rules: TimeRules,
    base_hour: i64,
    offsets: Vec<i32>,
    form: crate::conventions::TimeForm,
}

impl Clock {
    /// A clock for days `start - 40 .. start + days + 40` (days since the
    /// epoch), writing instants in `form`.
    pub fn with_form(
        rules: TimeRules,
        start: i32,
        days: u32,
        form: crate::conventions::TimeForm,
    ) -> Clock {
        let first = i64::from(start - 40) * 24;
        let last = i64::from(start + days as i32 + 40) * 24;
        let offsets = (first..last)
            .map(|h| {
                let ts = jiff::Timestamp::from_second(h * 3600).expect("in range");
                rules.zone().to_offset(ts).seconds()
            })
            .collect();
        Clock {
            rules,
            base_hour: first,
            offsets,
            form,
        }
    }

    /// The instant (Unix seconds) of local `minute` (may exceed a day) on
    /// local `day`. A time inside the spring-forward gap moves an hour later,
    /// as a rostering system would record it.
    pub fn local(&self, day: i32, minute: i32) -> i64 {
        let day = day + minute.div_euclid(1440);
        let minute = minute.rem_euclid(1440);
        let (y, m, d) = civil_from_days(i64::from(day));
        let dt = DateTime::new(
            y as i16,
            m as i8,
            d as i8,
            (minute / 60) as i8,
            (minute % 60) as i8,
            0,
            0,
        )
        .expect("valid civil time");
        match self.rules.local_to_micros(dt, "") {
            Ok(us) => us / 1_000_000,
            Err(_) => self.local(day, minute + 60),
        }
    }

    /// The zone's offset at an instant, in seconds.
    pub fn offset(&self, secs: i64) -> i32 {
        let h = secs.div_euclid(3600) - self.base_hour;
        if h >= 0 && (h as usize) < self.offsets.len() {
            self.offsets[h as usize]
        } else {
            let ts = jiff::Timestamp::from_second(secs).expect("in range");
            self.rules.zone().to_offset(ts).seconds()
        }
    }
}

/// Appends CSV rows to a buffer.
pub struct Row<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Row<'a> {
    /// Starts a row.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Row { buf, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    /// A text field, quoted when it needs to be.
    pub fn s(mut self, v: &str) -> Self {
        self.sep();
        if v.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.buf.push(b'"');
            for b in v.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(v.as_bytes());
        }
        self
    }

    /// An optional text field.
    pub fn opt(self, v: Option<&str>) -> Self {
        self.s(v.unwrap_or(""))
    }

    /// An id made of a prefix and zero-padded numbers.
    pub fn id(mut self, prefix: &str, a: usize, wa: usize, b: usize, wb: usize) -> Self {
        self.sep();
        self.buf.extend_from_slice(prefix.as_bytes());
        pad(self.buf, a as u64, wa);
        if wb > 0 {
            pad(self.buf, b as u64, wb);
        }
        self
    }

    /// A number with `decimals` decimals.
    pub fn f(mut self, v: f64, decimals: usize) -> Self {
        self.sep();
        use std::io::Write;
        let _ = write!(self.buf, "{v:.decimals$}");
        self
    }

    /// A date (days since the epoch) as `YYYY-MM-DD`.
    pub fn date(mut self, day: i32) -> Self {
        self.sep();
        write_date(self.buf, day);
        self
    }

    /// An optional date.
    pub fn opt_date(mut self, day: Option<i32>) -> Self {
        match day {
            Some(d) => self.date(d),
            None => {
                self.sep();
                self
            }
        }
    }

    /// An instant in the clock's form: local RFC 3339 with offset, UTC
    /// with `Z`, or naive local time.
    pub fn ts(mut self, clock: &Clock, secs: i64) -> Self {
        self.sep();
        use crate::conventions::TimeForm;
        let off = match clock.form {
            TimeForm::Utc => 0,
            _ => i64::from(clock.offset(secs)),
        };
        let local = secs + off;
        write_date(self.buf, local.div_euclid(86_400) as i32);
        let sod = local.rem_euclid(86_400);
        self.buf.push(b'T');
        pad(self.buf, (sod / 3600) as u64, 2);
        self.buf.push(b':');
        pad(self.buf, (sod / 60 % 60) as u64, 2);
        self.buf.push(b':');
        pad(self.buf, (sod % 60) as u64, 2);
        match clock.form {
            TimeForm::Utc => self.buf.push(b'Z'),
            TimeForm::Naive => {}
            TimeForm::Offset => {
                self.buf.push(if off < 0 { b'-' } else { b'+' });
                let a = off.unsigned_abs();
                pad(self.buf, a / 3600, 2);
                self.buf.push(b':');
                pad(self.buf, a / 60 % 60, 2);
            }
        }
        self
    }

    /// The local time of day of an instant, `HH:MM`.
    pub fn time_of_day(mut self, clock: &Clock, secs: i64) -> Self {
        self.sep();
        let local = secs + i64::from(clock.offset(secs));
        let sod = local.rem_euclid(86_400);
        pad(self.buf, (sod / 3600) as u64, 2);
        self.buf.push(b':');
        pad(self.buf, (sod / 60 % 60) as u64, 2);
        self
    }

    /// An instant as naive local `YYYY-MM-DD HH:MM`.
    pub fn spaced(mut self, clock: &Clock, secs: i64) -> Self {
        self.sep();
        let local = secs + i64::from(clock.offset(secs));
        write_date(self.buf, local.div_euclid(86_400) as i32);
        let sod = local.rem_euclid(86_400);
        self.buf.push(b' ');
        pad(self.buf, (sod / 3600) as u64, 2);
        self.buf.push(b':');
        pad(self.buf, (sod / 60 % 60) as u64, 2);
        self
    }

    /// Ends the row.
    pub fn end(self) {
        self.buf.push(b'\n');
    }
}

fn pad(buf: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = 20;
    while v > 0 || i == 20 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for _ in (20 - i)..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn write_date(buf: &mut Vec<u8>, day: i32) {
    let (y, m, d) = civil_from_days(i64::from(day));
    pad(buf, y as u64, 4);
    buf.push(b'-');
    pad(buf, m as u64, 2);
    buf.push(b'-');
    pad(buf, d as u64, 2);
}

/// Days since the epoch of a civil date.
pub fn day_of(y: i32, m: u8, d: u8) -> i32 {
    days_from_civil(i64::from(y), i64::from(m), i64::from(d)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_format_like_the_contract() {
        let clock = Clock::with_form(
            TimeRules::new("Europe/London").unwrap(),
            day_of(2026, 3, 16),
            30,
            crate::conventions::TimeForm::Offset,
        );
        let mut buf = vec![];
        let t = clock.local(day_of(2026, 3, 30), 7 * 60);
        Row::new(&mut buf)
            .id("SH", 12, 6, 3, 4)
            .s("DAVIES, Deborah")
            .ts(&clock, t)
            .date(day_of(2026, 3, 29))
            .f(8.0, 2)
            .opt(None)
            .end();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "SH0000120003,\"DAVIES, Deborah\",2026-03-30T07:00:00+01:00,2026-03-29,8.00,\n"
        );
        // 01:30 on the spring-forward day does not exist: moved to 02:30 BST.
        let gap = clock.local(day_of(2026, 3, 29), 90);
        let mut buf = vec![];
        Row::new(&mut buf).ts(&clock, gap).end();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-03-29T02:30:00+01:00\n"
        );
    }
}
