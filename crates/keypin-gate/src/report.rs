//! An interception seen from the server side, reported to a keypin collector: when an
//! assertion's channel binding does not match, the gate POSTs one report (keypin's report
//! schema, `failure: "channel-binding-mismatch"`) to `report_uri`, in the background, once,
//! with a deadline. Plain `http://` only: the collector is expected on the internal network.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where reports go, parsed from `report_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTarget {
    /// `host:port`.
    pub authority: String,
    /// The path, e.g. `/v1/reports`.
    pub path: String,
    /// The hostname the reports name (`report_hostname`, else the audience's host).
    pub hostname: String,
}

const DEADLINE: Duration = Duration::from_secs(5);

impl ReportTarget {
    /// Parses `http://host[:port]/path`.
    pub fn parse(uri: &str, hostname: String) -> Result<Self, String> {
        let rest = uri
            .strip_prefix("http://")
            .ok_or_else(|| format!("report_uri {uri:?}: only http:// is supported"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() || authority.contains(['@', ' ']) {
            return Err(format!("report_uri {uri:?}: no usable host"));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            path: format!("/{path}"),
            hostname,
        })
    }

    /// Sends one channel-binding report in the background.
    pub(crate) fn send(&self, app: &str, platform: &str, detail: &str, now: i64) {
        let body = serde_json::json!({
            "hostname": self.hostname,
            "date-time": rfc3339(now),
            "failure": "channel-binding-mismatch",
            "error": detail,
            "app-bundle-id": app,
            "app-platform": platform,
            "mode": "enforce",
        })
        .to_string();
        let target = self.clone();
        tokio::spawn(async move {
            let sent = tokio::time::timeout(DEADLINE, target.post(&body)).await;
            match sent {
                Ok(Ok(status)) if (200..300).contains(&status) => {}
                Ok(Ok(status)) => eprintln!("keypin-gate: the collector answered {status}"),
                Ok(Err(e)) => eprintln!("keypin-gate: report to {}: {e}", target.authority),
                Err(_) => eprintln!(
                    "keypin-gate: report to {}: no answer in 5 s",
                    target.authority
                ),
            }
        });
    }

    async fn post(&self, body: &str) -> std::io::Result<u16> {
        let mut s = tokio::net::TcpStream::connect(&self.authority).await?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.authority,
            body.len()
        );
        s.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        std::str::from_utf8(&head[9..12])
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("not an HTTP/1.1 status line"))
    }
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_uris_parse_or_are_refused() {
        for (uri, expected) in [
            (
                "http://127.0.0.1:8088/v1/reports",
                Some(("127.0.0.1:8088", "/v1/reports")),
            ),
            (
                "http://collector/v1/reports",
                Some(("collector:80", "/v1/reports")),
            ),
            ("https://collector/v1/reports", None),
            ("http:///v1/reports", None),
        ] {
            let got = ReportTarget::parse(uri, "h".into()).ok();
            assert_eq!(
                got.as_ref()
                    .map(|t| (t.authority.as_str(), t.path.as_str())),
                expected,
                "{uri}"
            );
        }
    }
}
