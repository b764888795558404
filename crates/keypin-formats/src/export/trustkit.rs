//! TrustKit for iOS: the Info.plist dictionary and the Swift initializer.

#[allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Cx<'a> {
    pub(super) fn trustkit_entries(&mut self) -> Vec<Entry<'a>> {
        self.entries(
            ExpirySupport::DateThenOff,
            ReportOnlySupport::Yes,
            Subdomains::AnyDepthFlag,
        )
    }

    pub(super) fn trustkit_plist(&mut self) -> String {
        let comment = self.header_comment();
        let entries = self.trustkit_entries();
        let mut x = String::new();
        let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let _ = writeln!(
            x,
            "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">"
        );
        let _ = writeln!(x, "<!-- {} -->", xml_escape(&comment));
        let _ = writeln!(x, "<plist version=\"1.0\">\n<dict>");
        let _ = writeln!(x, "  <key>TSKSwizzleNetworkDelegates</key>\n  <false/>");
        let _ = writeln!(x, "  <key>TSKPinnedDomains</key>\n  <dict>");
        for e in &entries {
            let _ = writeln!(x, "    <key>{}</key>\n    <dict>", xml_escape(&e.name));
            let _ = writeln!(
                x,
                "      <key>TSKEnforcePinning</key>\n      <{}/>",
                e.enforce
            );
            let _ = writeln!(
                x,
                "      <key>TSKIncludeSubdomains</key>\n      <{}/>",
                e.include_subdomains
            );
            if let Some(d) = &e.expiration {
                let _ = writeln!(
                    x,
                    "      <key>TSKExpirationDate</key>\n      <string>{d}</string>"
                );
            }
            let _ = writeln!(x, "      <key>TSKPublicKeyHashes</key>\n      <array>");
            for p in &e.pins {
                let _ = writeln!(
                    x,
                    "        <string>{}</string>",
                    p.to_format(PinFormat::Base64)
                );
            }
            let _ = writeln!(x, "      </array>\n    </dict>");
        }
        let _ = writeln!(x, "  </dict>\n</dict>\n</plist>");
        x
    }

    pub(super) fn trustkit_swift(&mut self) -> String {
        let comment = self.header_comment();
        let entries = self.trustkit_entries();
        let mut s = String::new();
        let _ = writeln!(s, "// {comment}");
        let _ = writeln!(s, "import TrustKit\n");
        let _ = writeln!(s, "let trustKitConfig: [String: Any] = [");
        let _ = writeln!(s, "    kTSKSwizzleNetworkDelegates: false,");
        let _ = writeln!(s, "    kTSKPinnedDomains: [");
        for e in &entries {
            let _ = writeln!(s, "        {}: [", swift_string(&e.name));
            let _ = writeln!(s, "            kTSKEnforcePinning: {},", e.enforce);
            let _ = writeln!(
                s,
                "            kTSKIncludeSubdomains: {},",
                e.include_subdomains
            );
            if let Some(d) = &e.expiration {
                let _ = writeln!(s, "            kTSKExpirationDate: \"{d}\",");
            }
            let _ = writeln!(s, "            kTSKPublicKeyHashes: [");
            for p in &e.pins {
                let _ = writeln!(s, "                \"{}\",", p.to_format(PinFormat::Base64));
            }
            let _ = writeln!(s, "            ],");
            let _ = writeln!(s, "        ],");
        }
        let _ = writeln!(
            s,
            "    ],\n]\n\nTrustKit.initSharedInstance(withConfiguration: trustKitConfig)"
        );
        s
    }
}
