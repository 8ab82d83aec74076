//! Wall-clock helpers: epoch times and the date formats BlueKing components print.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, now.
pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// Offset of the simulated platform's time zone (Asia/Shanghai, UTC+8), seconds.
pub const TZ_OFFSET_S: i64 = 8 * 3600;

/// (year, month, day) of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down local (UTC+8) time of an epoch second.
fn parts(epoch_s: i64) -> (i64, u32, u32, i64, i64, i64) {
    let local = epoch_s + TZ_OFFSET_S;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, (secs / 60) % 60, secs % 60)
}

/// `yyyy-MM-dd HH:mm:ss` in UTC+8 (ITSM, JOB v2, logs).
pub fn format_local(epoch_s: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(epoch_s);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `yyyyMMddHHmmss` in UTC+8 (ITSM ticket numbers).
pub fn format_compact(epoch_s: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(epoch_s);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// RFC 3339 with milliseconds and the `+08:00` offset (CMDB `create_time`).
pub fn format_rfc3339_ms(epoch_ms: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(epoch_ms.div_euclid(1000));
    let ms = epoch_ms.rem_euclid(1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}+08:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2019-09-16 02:00:17 UTC
        assert_eq!(format_local(1_568_599_217), "2019-09-16 10:00:17");
        assert_eq!(format_compact(1_568_599_217), "20190916100017");
        assert_eq!(
            format_rfc3339_ms(1_568_599_217_042),
            "2019-09-16T10:00:17.042+08:00"
        );
        assert_eq!(format_local(0), "1970-01-01 08:00:00");
    }
}
