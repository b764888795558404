//! Pins: what they hash, how they are spelled, and how they are parsed.
//!
//! A [`Pin`] is a SHA-256 digest of either the DER `SubjectPublicKeyInfo` of a key (RFC 7469's
//! `pin-sha256`, the default everywhere) or of a whole certificate. It is built once from bytes
//! or text and cannot hold anything else.

use core::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;

/// What a pin's digest covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PinKind {
    /// SHA-256 of the DER `SubjectPublicKeyInfo`: survives certificate renewal with the same key.
    Spki,
    /// SHA-256 of the whole certificate DER: breaks at every renewal.
    Certificate,
}

/// How a pin is spelled on output. Input accepts every spelling, see [`Pin::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PinFormat {
    /// `sha256/<base64>` (OkHttp `CertificatePinner`), keypin's canonical spelling.
    OkHttp,
    /// `pin-sha256="<base64>"` (HPKP header, HPKP report `known-pins`).
    Hpkp,
    /// `sha256//<base64>` (curl `--pinnedpubkey`).
    Curl,
    /// Bare base64 (Android NSC, Apple `SPKI-SHA256-BASE64`, TrustKit).
    Base64,
    /// 64 lowercase hex digits.
    Hex,
}

/// A SHA-256 pin of a public key or a certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin {
    kind: PinKind,
    digest: [u8; 32],
}

/// The spellings [`Pin::parse`] accepts, for error messages.
pub(crate) const ACCEPTED_FORMS: &str = "sha256/<base64>, pin-sha256=\"<base64>\", \
     sha256//<base64>, <base64 of 32 bytes>, <64 hex digits>, \
     or cert-sha256/<base64> for a certificate pin";

const CERT_PREFIX: &str = "cert-sha256/";

impl Pin {
    /// The SPKI pin of a DER-encoded `SubjectPublicKeyInfo` (the whole SEQUENCE).
    pub fn from_spki_der(spki_der: &[u8]) -> Self {
        Self::from_digest(PinKind::Spki, sha256(&[spki_der]))
    }

    /// The certificate pin: SHA-256 over the whole certificate DER.
    pub fn from_cert_der(cert_der: &[u8]) -> Self {
        Self::from_digest(PinKind::Certificate, sha256(&[cert_der]))
    }

    /// The SPKI pin of the key inside a DER certificate.
    ///
    /// The SPKI is taken from the certificate as webpki parses it, so every key type webpki
    /// understands is covered without any hard-coded ASN.1 header.
    pub fn spki_of_cert(cert: &CertificateDer<'_>) -> Result<Self, webpki::Error> {
        Ok(Self::from_spki_der(&spki_of_cert(cert)?))
    }

    /// A pin from a raw digest.
    pub const fn from_digest(kind: PinKind, digest: [u8; 32]) -> Self {
        Self { kind, digest }
    }

    /// What the digest covers.
    pub fn kind(&self) -> PinKind {
        self.kind
    }

    /// The raw SHA-256 digest.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The digest as standard base64 (44 characters, padded).
    pub fn base64(&self) -> String {
        STANDARD.encode(self.digest)
    }

    /// The digest as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.digest {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// The pin spelled in `format`.
    ///
    /// A certificate pin has no spelling in the OkHttp, HPKP or curl formats (they only know key
    /// pins), so it is written `cert-sha256/<base64>` there; `Base64` and `Hex` give the bare digest.
    pub fn to_format(&self, format: PinFormat) -> String {
        let b64 = self.base64();
        match (self.kind, format) {
            (_, PinFormat::Base64) => b64,
            (_, PinFormat::Hex) => self.hex(),
            (PinKind::Certificate, _) => format!("{CERT_PREFIX}{b64}"),
            (PinKind::Spki, PinFormat::OkHttp) => format!("sha256/{b64}"),
            (PinKind::Spki, PinFormat::Hpkp) => format!("pin-sha256=\"{b64}\""),
            (PinKind::Spki, PinFormat::Curl) => format!("sha256//{b64}"),
        }
    }

    /// Parses one pin in any accepted spelling.
    ///
    /// SPKI pins: `sha256/<b64>`, `pin-sha256="<b64>"`, `sha256//<b64>`, bare base64 and 64 hex
    /// digits. Certificate pins: `cert-sha256/<b64>` or `cert-sha256/<hex>`. Surrounding
    /// whitespace is ignored. Anything else, including SHA-1 pins, is refused with an error that
    /// lists the accepted forms.
    pub fn parse(text: &str) -> Result<Self, PinParseError> {
        let s = text.trim();
        let err = |reason: &str| PinParseError::new(text, reason);
        if s.is_empty() {
            return Err(err("the pin is empty"));
        }
        if let Some(rest) = s.strip_prefix(CERT_PREFIX) {
            return decode_digest(rest)
                .map(|d| Self::from_digest(PinKind::Certificate, d))
                .map_err(|why| err(&why));
        }
        if s.starts_with("sha1/") || s.starts_with("pin-sha1") {
            // A bare base64 SHA-256 digest may itself start with "sha1/" (44 characters); a
            // SHA-1 pin never decodes to 32 bytes, so only that is refused.
            if let Ok(d) = decode_b64(s) {
                return Ok(Self::spki(d));
            }
            return Err(err(
                "SHA-1 pins are not supported (SHA-1 is broken); compute a SHA-256 pin with `keypin pin`",
            ));
        }
        if let Some(rest) = s.strip_prefix("sha256//") {
            // `sha256//` is curl's prefix, but also OkHttp's `sha256/` before a base64 value
            // that starts with `/`. The two readings differ in length by one character, so at
            // most one of them decodes to 32 bytes.
            return decode_b64(rest)
                .or_else(|curl_err| decode_b64(&s["sha256/".len()..]).map_err(|_| curl_err))
                .or_else(|e| decode_b64(s).map_err(|_| e))
                .map(Self::spki)
                .map_err(|why| err(&why));
        }
        if let Some(rest) = s.strip_prefix("sha256/") {
            // A bare base64 digest may itself start with "sha256/". It is 44 characters, the
            // prefixed forms 51 or 52, so at most one reading decodes to 32 bytes.
            return decode_b64(rest)
                .or_else(|e| decode_b64(s).map_err(|_| e))
                .map(Self::spki)
                .map_err(|why| err(&why));
        }
        if let Some(rest) = s.strip_prefix("pin-sha256=") {
            let inner = rest
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .ok_or_else(|| err("the HPKP form needs double quotes: pin-sha256=\"<base64>\""))?;
            return decode_b64(inner).map(Self::spki).map_err(|why| err(&why));
        }
        decode_digest(s).map(Self::spki).map_err(|why| err(&why))
    }

    /// Parses a curl `--pinnedpubkey` list: `sha256//<b64>;sha256//<b64>`.
    pub fn parse_curl_list(text: &str) -> Result<Vec<Self>, PinParseError> {
        text.split(';')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                if p.trim().starts_with("sha256//") {
                    Self::parse(p)
                } else {
                    Err(PinParseError::new(
                        p,
                        "curl pins are spelled sha256//<base64>",
                    ))
                }
            })
            .collect()
    }

    fn spki(digest: [u8; 32]) -> Self {
        Self::from_digest(PinKind::Spki, digest)
    }
}

impl fmt::Display for Pin {
    /// keypin's canonical spelling: `sha256/<b64>` or `cert-sha256/<b64>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_format(PinFormat::OkHttp))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

impl core::str::FromStr for Pin {
    type Err = PinParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The DER `SubjectPublicKeyInfo` (outer SEQUENCE included) of a certificate, as webpki reads
/// it. Falls back to webpki's trust-anchor reader for v1 certificates (old roots).
pub fn spki_of_cert(cert: &CertificateDer<'_>) -> Result<Vec<u8>, webpki::Error> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(ee) => Ok(ee.subject_public_key_info().as_ref().to_vec()),
        Err(_) => {
            let anchor = webpki::anchor_from_trusted_cert(cert)?;
            Ok(webpki::spki_for_anchor(&anchor).as_ref().to_vec())
        }
    }
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode_b64(s: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(s)
        .map_err(|e| format!("not valid standard base64 ({e})"))?;
    to_digest(bytes)
}

fn decode_hex(s: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or("not a hex digit")?;
        let lo =
            hex_val(*pair.get(1).ok_or("odd number of hex digits")?).ok_or("not a hex digit")?;
        *out.get_mut(i).ok_or("too many hex digits")? = (hi << 4) | lo;
    }
    Ok(out)
}

/// Bare base64 (44 characters) or 64 hex digits.
fn decode_digest(s: &str) -> Result<[u8; 32], String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return decode_hex(s);
    }
    decode_b64(s).map_err(|e| format!("{e}; not 64 hex digits either"))
}

fn to_digest(bytes: Vec<u8>) -> Result<[u8; 32], String> {
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "decodes to {} bytes, but a SHA-256 pin is 32 bytes",
            bytes.len()
        )
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A pin string that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinParseError {
    input: String,
    reason: String,
}

impl PinParseError {
    pub(crate) fn new(input: &str, reason: &str) -> Self {
        let mut input = input.trim().to_string();
        if input.len() > 120 {
            let mut cut = 120;
            while !input.is_char_boundary(cut) {
                cut -= 1;
            }
            input.truncate(cut);
            input.push('…');
        }
        Self {
            input,
            reason: reason.to_string(),
        }
    }

    /// Why the pin was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PinParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid pin {:?}: {}; accepted forms: {ACCEPTED_FORMS}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for PinParseError {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const B64: &str = "7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=";

    #[test]
    fn every_spelling_parses_to_the_same_pin() {
        let expected = Pin::parse(B64).unwrap();
        let hex = expected.hex();
        let rows = [
            format!("sha256/{B64}"),
            format!("pin-sha256=\"{B64}\""),
            format!("sha256//{B64}"),
            B64.to_string(),
            hex.clone(),
            hex.to_uppercase(),
            format!("  sha256/{B64}\n"),
        ];
        for row in rows {
            let pin = Pin::parse(&row).unwrap_or_else(|e| panic!("{row}: {e}"));
            assert_eq!(pin, expected, "{row}");
            assert_eq!(pin.kind(), PinKind::Spki);
        }
    }

    #[test]
    fn every_format_round_trips() {
        for kind in [PinKind::Spki, PinKind::Certificate] {
            let pin = Pin::from_digest(kind, sha256(&[b"round trip"]));
            for format in [
                PinFormat::OkHttp,
                PinFormat::Hpkp,
                PinFormat::Curl,
                PinFormat::Base64,
                PinFormat::Hex,
            ] {
                let text = pin.to_format(format);
                let back = Pin::parse(&text).unwrap();
                assert_eq!(back.digest(), pin.digest(), "{format:?} {text}");
                // Bare forms carry no kind: they read back as key pins.
                if !matches!(format, PinFormat::Base64 | PinFormat::Hex) {
                    assert_eq!(back.kind(), kind, "{format:?} {text}");
                }
            }
        }
    }

    #[test]
    fn known_spellings() {
        let pin = Pin::parse(B64).unwrap();
        assert_eq!(pin.to_format(PinFormat::OkHttp), format!("sha256/{B64}"));
        assert_eq!(
            pin.to_format(PinFormat::Hpkp),
            format!("pin-sha256=\"{B64}\"")
        );
        assert_eq!(pin.to_format(PinFormat::Curl), format!("sha256//{B64}"));
        assert_eq!(
            pin.hex(),
            "ec722969cb64200ab6638f68ac538e40abab5b19a6485661042a1061c4612776"
        );
        assert_eq!(pin.to_string(), format!("sha256/{B64}"));
    }

    #[test]
    fn refused_spellings_say_why_and_list_the_forms() {
        let rows: &[(&str, &str)] = &[
            ("", "empty"),
            ("sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "SHA-1"),
            ("sha256/abc", "base64"),
            ("sha256/AAAA", "decodes to 3 bytes"),
            (
                "pin-sha256=7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=",
                "double quotes",
            ),
            ("md5/7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=", "base64"),
            (
                "ec7229a9cb64200ab6638f68ac538e40abab5b19a6485661042a1061c461277",
                "base64",
            ),
            (
                "zz7229a9cb64200ab6638f68ac538e40abab5b19a6485661042a1061c4612776",
                "hex",
            ),
        ];
        for (input, why) in rows {
            let e = Pin::parse(input).unwrap_err().to_string();
            assert!(e.contains(why), "{input:?}: {e}");
            assert!(e.contains("sha256//<base64>"), "{input:?}: {e}");
        }
    }

    #[test]
    fn base64_starting_with_a_slash_is_not_mistaken_for_curl() {
        let mut digest = [0u8; 32];
        digest[0] = 0xfc; // base64 starts with '/'
        let pin = Pin::from_digest(PinKind::Spki, digest);
        assert!(pin.base64().starts_with('/'));
        for format in [PinFormat::OkHttp, PinFormat::Curl, PinFormat::Hpkp] {
            let text = pin.to_format(format);
            assert_eq!(Pin::parse(&text).unwrap(), pin, "{text}");
        }
        assert_eq!(
            Pin::parse_curl_list(&pin.to_format(PinFormat::Curl)).unwrap(),
            vec![pin]
        );
    }

    #[test]
    fn bare_base64_starting_with_sha1_is_a_sha256_pin() {
        // Found by fuzz/fuzz_targets/pin_parse.rs: the bare spelling of this pin was refused as
        // a SHA-1 pin, so it did not round-trip.
        let bare = "sha1//gSuV1Gx+89GigSAha51kawpccc7tcR4ue2wp4=";
        let pin = Pin::parse(bare).unwrap();
        assert_eq!(pin.kind(), PinKind::Spki);
        assert_eq!(pin.to_format(PinFormat::Base64), bare);
        assert_eq!(Pin::parse(&format!("sha256/{bare}")).unwrap(), pin);
        // Real SHA-1 pins are still refused.
        let e = Pin::parse("sha1//gSuV1Gx+89GigSAha51kawpc=").unwrap_err();
        assert!(e.to_string().contains("SHA-1"), "{e}");
    }

    #[test]
    fn bare_base64_starting_with_a_prefix_is_a_bare_pin() {
        // Found by fuzz/fuzz_targets/pin_parse.rs: these pins' bare base64 spellings start with
        // "sha256//" or "sha256/", were read as prefixed forms and refused.
        let from_fuzzer = "sha256//+cerx+89GigSAha51kawpccc7tcR4ue2wp4=";
        let made = STANDARD.encode(
            &STANDARD
                .decode(format!("sha256/A{}=", "A".repeat(35)))
                .unwrap()[..],
        );
        assert!(made.starts_with("sha256/A"));
        for bare in [from_fuzzer, made.as_str()] {
            let pin = Pin::parse(bare).unwrap_or_else(|e| panic!("{bare}: {e}"));
            assert_eq!(pin.to_format(PinFormat::Base64), bare);
            for format in [PinFormat::OkHttp, PinFormat::Curl, PinFormat::Hpkp] {
                assert_eq!(
                    Pin::parse(&pin.to_format(format)).unwrap(),
                    pin,
                    "{format:?}"
                );
            }
        }
    }

    #[test]
    fn curl_lists() {
        let list = format!("sha256//{B64};sha256//{}", STANDARD.encode([1u8; 32]));
        let pins = Pin::parse_curl_list(&list).unwrap();
        assert_eq!(pins.len(), 2);
        assert!(Pin::parse_curl_list(&format!("sha256/{B64}")).is_err());
    }
}
