//! Helpers for the value formats the specs name (`format:` in `specs/README.md`): GSE host
//! keys, epoch times, JOB's base64 text and the ESB's `yyyy-MM-dd HH:mm:ss` times.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// A GSE host key, `"<bk_cloud_id>:<ip>"`: the keys of `get_agent_status` and
/// `get_agent_info` data.
///
/// ```
/// use bk_runtime::formats::HostKey;
///
/// let key: HostKey = "0:10.0.0.1".parse().unwrap();
/// assert_eq!(key, HostKey::new(0, "10.0.0.1"));
/// assert_eq!(key.to_string(), "0:10.0.0.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey {
    /// Cloud area id.
    pub bk_cloud_id: i64,
    /// The host's IP address.
    pub ip: String,
}

impl HostKey {
    /// The key of `ip` in cloud area `bk_cloud_id`.
    pub fn new(bk_cloud_id: i64, ip: impl Into<String>) -> Self {
        HostKey {
            bk_cloud_id,
            ip: ip.into(),
        }
    }
}

impl From<(i64, &str)> for HostKey {
    fn from((bk_cloud_id, ip): (i64, &str)) -> Self {
        HostKey::new(bk_cloud_id, ip)
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bk_cloud_id, self.ip)
    }
}

/// Why a string is not a host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyError(String);

impl fmt::Display for HostKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a host key of the form `<bk_cloud_id>:<ip>`",
            self.0
        )
    }
}

impl std::error::Error for HostKeyError {}

impl FromStr for HostKey {
    type Err = HostKeyError;

    /// Parses `"0:10.0.0.1"`; the IP may itself contain colons (IPv6).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cloud, ip) = s
            .split_once(':')
            .ok_or_else(|| HostKeyError(s.to_string()))?;
        let bk_cloud_id = cloud
            .trim()
            .parse()
            .map_err(|_| HostKeyError(s.to_string()))?;
        if ip.is_empty() {
            return Err(HostKeyError(s.to_string()));
        }
        Ok(HostKey {
            bk_cloud_id,
            ip: ip.to_string(),
        })
    }
}

/// The time of an epoch-milliseconds value (`format: epoch_ms`, e.g. JOB's `create_time`).
/// Negative values count back from 1970.
pub fn from_epoch_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// The time of an epoch-seconds value (`format: epoch_s`).
pub fn from_epoch_s(s: i64) -> SystemTime {
    if s >= 0 {
        UNIX_EPOCH + Duration::from_secs(s.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
    }
}

/// Milliseconds since the epoch of a time, for `format: epoch_ms` parameters.
pub fn to_epoch_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// Base64 of plain text, for `format: base64` parameters (JOB `script_content`,
/// `script_param`). Generated builders offer `<field>_text(..)` setters that call this.
pub fn base64_encode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// Plain text of a `format: base64` value; `None` when it is not valid base64 or not UTF-8.
pub fn base64_decode(value: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_round_trip_and_reject_garbage() {
        let k: HostKey = "2:fe80::1".parse().unwrap();
        assert_eq!(k, HostKey::new(2, "fe80::1"));
        assert_eq!(k.to_string(), "2:fe80::1");
        for bad in ["", "10.0.0.1", "x:10.0.0.1", "0:"] {
            assert!(bad.parse::<HostKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn epoch_times() {
        let t = from_epoch_ms(1_704_067_200_123);
        assert_eq!(to_epoch_ms(t), 1_704_067_200_123);
        assert_eq!(
            from_epoch_s(1_704_067_200),
            from_epoch_ms(1_704_067_200_000)
        );
        assert_eq!(to_epoch_ms(from_epoch_ms(-5)), -5);
    }

    #[test]
    fn base64_text() {
        let enc = base64_encode("echo 你好\n");
        assert_eq!(base64_decode(&enc).as_deref(), Some("echo 你好\n"));
        assert_eq!(base64_decode("%%%"), None);
    }
}
