//! OkHttp's `CertificatePinner`, as Kotlin.

#[allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Cx<'a> {
    pub(super) fn okhttp(&mut self) -> String {
        let comment = self.header_comment();
        let entries = self.entries(
            ExpirySupport::None,
            ReportOnlySupport::No,
            Subdomains::OkHttpPatterns,
        );
        let mut s = String::new();
        let _ = writeln!(s, "// {comment}");
        let _ = writeln!(s, "import okhttp3.CertificatePinner\n");
        let _ = writeln!(s, "val certificatePinner = CertificatePinner.Builder()");
        for e in &entries {
            let pins: Vec<String> = e
                .pins
                .iter()
                .map(|p| format!("\"{}\"", p.to_format(PinFormat::OkHttp)))
                .collect();
            let _ = writeln!(
                s,
                "    .add({}, {})",
                kotlin_string(&e.name),
                pins.join(", ")
            );
        }
        let _ = writeln!(s, "    .build()");
        s
    }
}
