//! Import: round trips with export, each source format, and hostile input.

use keypin::Policy;
use std::time::{Duration, Instant};

use keypin_formats::import::{MAX_IMPORT_NODES, MAX_IMPORT_STRING_BYTES, MAX_INPUT_BYTES};
use keypin_formats::{ExportFormat, ImportFormat, ImportOptions, export, import};

const A: &str = "+89GigSuV1Gxkawpccc7tcRwBWhui2H/sW8CBhdNHSo=";
const B: &str = "qwZ2c1CAhsCMleNcrkNPt4VqkS1h7e/slG0n4ue2wp4=";
const C: &str = "TwaMQAMjwj7UXYmIsEY2IMY07jyxBm+WhqBkTkKt57Y=";

/// A policy every format below can carry without a notice about hosts.
fn policy() -> Policy {
    Policy::from_toml_str(
        &format!(
            "[[rule]]\nhosts = [\"api.example.com\", \"**.cdn.example.com\"]\npins = [\"sha256/{A}\", \"sha256/{B}\"]\n\
             expires = \"2027-06-30\"\n\n[[rule]]\nhosts = [\"**.shop.example.com\"]\npins = [\"sha256/{C}\", \"sha256/{B}\"]\n"
        ),
        "p.toml",
    )
    .unwrap()
}

fn no_opts() -> ImportOptions {
    ImportOptions::default()
}

/// (host, pins, expires) of every host pattern, sorted: what a round trip must keep.
fn shape(p: &Policy) -> Vec<(String, Vec<String>, Option<String>)> {
    let mut v: Vec<_> = p
        .rules()
        .iter()
        .flat_map(|r| {
            r.hosts().iter().map(move |h| {
                (
                    h.to_string(),
                    r.pins().iter().map(ToString::to_string).collect(),
                    r.expires().map(|d| d.to_string()),
                )
            })
        })
        .collect();
    v.sort();
    v
}

#[test]
fn export_import_round_trips_are_lossless_and_stable() {
    let original = policy();
    for (format, expect_expiry) in [
        (ExportFormat::AndroidNsc, true),
        (ExportFormat::TrustkitAndroid, true),
        (ExportFormat::Trustkit, true),
        (ExportFormat::Chromium, false),
    ] {
        let exported = export(&original, format, 0).unwrap().text;
        let imported = import(exported.as_bytes(), "x", None, &no_opts())
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let back = Policy::from_toml_str(&imported.toml, "back").unwrap();
        let mut want = shape(&original);
        if !expect_expiry {
            want.iter_mut().for_each(|w| w.2 = None);
        }
        assert_eq!(shape(&back), want, "{format:?}\n{}", imported.toml);
        // import → export → import is stable.
        let again = export(&back, format, 0).unwrap().text;
        let twice = import(again.as_bytes(), "x", None, &no_opts()).unwrap();
        assert_eq!(
            shape(&Policy::from_toml_str(&twice.toml, "t").unwrap()),
            shape(&back),
            "{format:?}"
        );
    }
}

#[test]
fn report_only_survives_trustkit_round_trip() {
    let p = Policy::from_toml_str(
        &format!("[[rule]]\nhosts = [\"a.example.com\"]\npins = [\"sha256/{A}\"]\nmode = \"report-only\"\n"),
        "p",
    )
    .unwrap();
    let text = export(&p, ExportFormat::Trustkit, 0).unwrap().text;
    let back = import(text.as_bytes(), "x", None, &no_opts()).unwrap();
    assert!(
        back.toml.contains("mode = \"report-only\""),
        "{}",
        back.toml
    );
}

#[test]
fn ios_ats_plist_xml_and_binary() {
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>NSAppTransportSecurity</key><dict>
    <key>NSPinnedDomains</key><dict>
      <key>example.com</key><dict>
        <key>NSIncludesSubdomains</key><true/>
        <key>NSPinnedCAIdentities</key><array>
          <dict><key>SPKI-SHA256-BASE64</key><string>{A}</string></dict>
          <dict><key>SPKI-SHA256-BASE64</key><string>{B}</string></dict>
        </array>
      </dict>
    </dict>
  </dict>
</dict></plist>"#
    );
    let imported = import(xml.as_bytes(), "Info.plist", None, &no_opts()).unwrap();
    let p = Policy::from_toml_str(&imported.toml, "t").unwrap();
    // Apple's NSIncludesSubdomains is the domain plus one label.
    assert_eq!(
        shape(&p),
        vec![
            (
                "*.example.com".into(),
                vec![format!("sha256/{A}"), format!("sha256/{B}")],
                None
            ),
            (
                "example.com".into(),
                vec![format!("sha256/{A}"), format!("sha256/{B}")],
                None
            ),
        ]
    );
    // The same document as a binary plist, made by an independent writer (python's plistlib).
    let bin = python_binary_plist(&xml);
    assert!(bin.starts_with(b"bplist"));
    let from_bin = import(&bin, "Info.plist", None, &no_opts()).unwrap();
    assert_eq!(
        from_bin.toml.replace("Info.plist", ""),
        imported.toml.replace("Info.plist", "")
    );

    // Both identity lists: iOS needs a match in each: CA pins plus leaf_pins.
    let both = xml.replace("NSPinnedCAIdentities</key><array>", "NSPinnedLeafIdentities</key><array><dict><key>SPKI-SHA256-BASE64</key><string>{C}</string></dict></array><key>NSPinnedCAIdentities</key><array>").replace("{C}", C);
    let imported = import(both.as_bytes(), "Info.plist", None, &no_opts()).unwrap();
    let p = Policy::from_toml_str(&imported.toml, "t").unwrap();
    let r = p.rule_for("example.com").unwrap();
    assert_eq!(r.pin_position(), keypin::policy::PinPosition::Ca);
    assert_eq!(r.leaf_pins().len(), 1, "{}", imported.toml);
    assert!(r.single_pin_may_brick(), "one leaf pin: {}", imported.toml);
}

fn python_binary_plist(xml: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, plistlib; sys.stdout.buffer.write(plistlib.dumps(plistlib.loads(sys.stdin.buffer.read()), fmt=plistlib.FMT_BINARY))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn hpkp_header_needs_a_host() {
    let header = format!(
        "Public-Key-Pins-Report-Only: pin-sha256=\"{A}\"; pin-sha256=\"{B}\"; max-age=5184000; includeSubDomains"
    );
    let e = import(header.as_bytes(), "h.txt", None, &no_opts()).unwrap_err();
    assert!(e.to_string().contains("--host"), "{e}");
    let opts = ImportOptions {
        host: Some("example.com".into()),
        ..ImportOptions::default()
    };
    let ok = import(header.as_bytes(), "h.txt", None, &opts).unwrap();
    assert!(ok.toml.contains("hosts = [\"**.example.com\"]"));
    assert!(ok.toml.contains("mode = \"report-only\""));
    assert!(ok.notices.iter().any(|n| n.message.contains("max-age")));
}

#[test]
fn nsc_errors_name_the_line() {
    let rows: &[(&str, &str)] = &[
        // (document, words: location and problem)
        (
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-1\">AAAA</pin>\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:5: digest on <pin> holds \"SHA-1\"; allowed: SHA-256",
        ),
        (
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set>\n<pin digest=\"SHA-256\">nope</pin>\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:5: <pin> holds \"nope\", which decodes to 3 bytes",
        ),
        (
            "<network-security-config>\n<domain-config>\n<domain>a.example.com</domain>\n<pin-set expiration=\"01/02/2027\">\n</pin-set>\n</domain-config>\n</network-security-config>",
            "n.xml:4: expiration",
        ),
        (
            "<network-security-config>\n<domain-config>\n</oops>",
            "n.xml:3:",
        ),
    ];
    for (doc, words) in rows {
        let e = import(
            doc.as_bytes(),
            "n.xml",
            Some(ImportFormat::AndroidNsc),
            &no_opts(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(words), "{words}\n{e}");
    }
}

#[test]
fn hostile_input_is_refused_safely() {
    // Entity expansion ("billion laughs") needs a DTD: refused before any expansion.
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n<network-security-config>&lol2;</network-security-config>";
    let e = import(laughs.as_bytes(), "x.xml", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("DTD") || e.contains("not valid XML"), "{e}");
    let plist_laughs = laughs.replace("network-security-config", "plist");
    assert!(
        import(
            plist_laughs.as_bytes(),
            "x.plist",
            Some(ImportFormat::Trustkit),
            &no_opts()
        )
        .is_err()
    );
    // Deep nesting.
    let deep = format!(
        "<network-security-config>{}{}</network-security-config>",
        "<domain-config>".repeat(100_000),
        "</domain-config>".repeat(100_000)
    );
    let e = import(deep.as_bytes(), "x.xml", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nested more than 16 deep")
            || e.contains("not valid XML")
            || e.contains("more than 20000 nodes"),
        "{e}"
    );
    // Deep plists, XML and binary (a chain of one-element arrays): refused before a tree is built.
    let deep_xml = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>TSKPinnedDomains</key>{}{}</dict></plist>",
        "<array>".repeat(200_000),
        "</array>".repeat(200_000)
    );
    let e = import(deep_xml.as_bytes(), "d.plist", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested more than 16 deep"), "{e}");
    let e = import(
        &deep_binary_plist(100_000),
        "d.bplist",
        Some(ImportFormat::Trustkit),
        &no_opts(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nested more than 16 deep"), "{e}");
    // Huge input: refused by size before parsing.
    let huge = vec![b' '; MAX_INPUT_BYTES + 1];
    let e = import(&huge, "big", Some(ImportFormat::AndroidNsc), &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("limit"), "{e}");
    // Unknown content.
    let e = import(b"hello", "what", None, &no_opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot tell the format"), "{e}");
}

/// One object of a hand-written binary plist; references are object numbers.
enum Obj {
    Str(String),
    Array(Vec<u64>),
    Dict(Vec<(u64, u64)>),
}

/// A binary plist (bplist00) of `objects`, written by hand: the file format itself, so that
/// hostile shapes no plist writer would make (shared references, absurd nesting) can be built.
fn bplist00(objects: &[Obj], top: u64) -> Vec<u8> {
    let ref_size: usize = if objects.len() <= 256 { 1 } else { 4 };
    let reference = |out: &mut Vec<u8>, r: u64| {
        out.extend_from_slice(&r.to_be_bytes()[8 - ref_size..]);
    };
    // A type nibble and a length: inline below 15, else 0xF and an integer object.
    let head = |out: &mut Vec<u8>, marker: u8, len: usize| {
        if len < 15 {
            out.push(marker | len as u8);
        } else if let Ok(len) = u8::try_from(len) {
            out.extend_from_slice(&[marker | 0x0F, 0x10, len]);
        } else {
            out.extend_from_slice(&[marker | 0x0F, 0x12]);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    };
    let mut data = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in objects {
        offsets.push(data.len() as u32);
        match o {
            Obj::Str(s) => {
                head(&mut data, 0x50, s.len()); // ASCII string
                data.extend_from_slice(s.as_bytes());
            }
            Obj::Array(items) => {
                head(&mut data, 0xA0, items.len());
                items.iter().for_each(|&r| reference(&mut data, r));
            }
            Obj::Dict(pairs) => {
                head(&mut data, 0xD0, pairs.len());
                pairs.iter().for_each(|&(k, _)| reference(&mut data, k));
                pairs.iter().for_each(|&(_, v)| reference(&mut data, v));
            }
        }
    }
    let table = data.len() as u64;
    for o in offsets {
        data.extend_from_slice(&o.to_be_bytes());
    }
    data.extend_from_slice(&[0; 6]);
    data.extend_from_slice(&[4, ref_size as u8]); // offset size, reference size
    data.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    data.extend_from_slice(&top.to_be_bytes());
    data.extend_from_slice(&table.to_be_bytes());
    data
}

/// A binary plist of `n` nested one-element arrays.
fn deep_binary_plist(n: u64) -> Vec<u8> {
    let objects: Vec<Obj> = (0..n)
        .map(|i| Obj::Array(if i + 1 < n { vec![i + 1] } else { vec![] }))
        .collect();
    bplist00(&objects, 0)
}

/// `{"NSAppTransportSecurity": array}` where each array references the one below `fanout`
/// times, `levels` deep, over one string: a few hundred bytes that name fanout^levels nodes
/// once references are followed.
fn shared_reference_bomb(levels: u64, fanout: usize) -> Vec<u8> {
    let mut objects = vec![Obj::Str("x".into())];
    objects.extend((1..=levels).map(|k| Obj::Array(vec![k - 1; fanout])));
    objects.push(Obj::Str("NSAppTransportSecurity".into()));
    objects.push(Obj::Dict(vec![(levels + 1, levels)]));
    bplist00(&objects, levels + 2)
}

/// The fastest of three runs of `f`.
fn best_of_three<T>(f: impl Fn() -> T) -> (T, Duration) {
    let mut best = None::<(T, Duration)>;
    for _ in 0..3 {
        let start = Instant::now();
        let out = f();
        let took = start.elapsed();
        if best.as_ref().is_none_or(|(_, b)| took < *b) {
            best = Some((out, took));
        }
    }
    best.unwrap()
}

/// A binary plist whose arrays share references expands exponentially when followed (a
/// 264-byte file names 8^14 nodes). Every node visited counts against one budget, so it is
/// refused in well under 100 ms, naming the limit and the file.
#[test]
fn binary_plist_shared_reference_bomb_is_refused_fast() {
    let seed =
        include_bytes!("../../../../fuzz/seeds/import_plist/2-binary-shared-reference-bomb.plist");
    assert_eq!(
        seed[1..],
        shared_reference_bomb(14, 8),
        "the fuzz seed is this bomb"
    );
    // (what, bytes, words the refusal must contain)
    let rows = [
        ("6 wide, 8 deep", shared_reference_bomb(8, 6), "20000 nodes"),
        (
            "8 wide, 14 deep",
            shared_reference_bomb(14, 8),
            "20000 nodes",
        ),
        // Twice per level, 30 deep: past the nesting bound first.
        (
            "2 wide, 30 deep",
            shared_reference_bomb(30, 2),
            "nested more than 16 deep",
        ),
    ];
    for (what, bytes, words) in rows {
        for format in [
            None,
            Some(ImportFormat::IosAts),
            Some(ImportFormat::Trustkit),
        ] {
            let (result, took) = best_of_three(|| import(&bytes, "bomb.plist", format, &no_opts()));
            let e = result.unwrap_err().to_string();
            assert!(
                e.contains(words) && e.contains("bomb.plist"),
                "{what} {format:?}: {e}"
            );
            assert!(
                took < Duration::from_millis(100),
                "{what} {format:?}: {took:?}"
            );
        }
    }
}

/// One budget for every format: a document with more nodes than `MAX_IMPORT_NODES` is refused
/// while it is read, whatever its format, naming the limit and the file.
#[test]
fn node_budget_holds_for_every_format() {
    assert_eq!(MAX_IMPORT_NODES, 20_000);
    let n = MAX_IMPORT_NODES;
    let nsc = format!(
        "<network-security-config><domain-config>{}<pin-set><pin digest=\"SHA-256\">{A}</pin>\
         <pin digest=\"SHA-256\">{B}</pin></pin-set></domain-config></network-security-config>",
        (0..n / 2 + 1)
            .map(|i| format!("<domain>h{i}.example.com</domain>"))
            .collect::<String>()
    );
    let chromium = format!(
        "{{\"pinsets\":[{{\"name\":\"p\",\"static_spki_hashes\":[\"a\",\"b\"]}}],\
         \"spki_hashes\":{{\"a\":\"sha256/{A}\",\"b\":\"sha256/{B}\"}},\"entries\":[{}]}}",
        (0..n / 5 + 1)
            .map(|i| format!("{{\"name\":\"h{i}.example.com\",\"pins\":\"p\"}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let trustkit = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>TSKPinnedDomains</key><dict>{}</dict></dict></plist>",
        (0..n / 6 + 1)
            .map(|i| format!(
                "<key>h{i}.example.com</key><dict><key>TSKPublicKeyHashes</key><array>\
                 <string>{A}</string><string>{B}</string></array></dict>"
            ))
            .collect::<String>()
    );
    let hpkp = format!("pin-sha256=\"{A}\"; ").repeat(n + 1);
    // (file name, format, document)
    let rows = [
        ("nsc.xml", ImportFormat::AndroidNsc, nsc),
        ("pins.json", ImportFormat::Chromium, chromium),
        ("trustkit.plist", ImportFormat::Trustkit, trustkit),
        ("header.txt", ImportFormat::Hpkp, hpkp),
    ];
    let opts = ImportOptions {
        host: Some("example.com".into()),
        ..ImportOptions::default()
    };
    for (name, format, text) in rows {
        assert!(text.len() < MAX_INPUT_BYTES, "{name}: under the size cap");
        let e = import(text.as_bytes(), name, Some(format), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("20000 nodes") && e.contains(name), "{name}: {e}");
    }
}

/// A long string referenced many times expands past what the input could hold: the bytes of
/// expanded strings are capped too.
#[test]
fn expanded_strings_are_capped() {
    let long = "x".repeat(512 * 1024);
    let mut objects = vec![Obj::Str(long), Obj::Array(vec![0; 16])];
    objects.push(Obj::Str("NSAppTransportSecurity".into()));
    objects.push(Obj::Dict(vec![(2, 1)]));
    let bytes = bplist00(&objects, 3);
    assert!(bytes.len() < 600 * 1024);
    let e = import(
        &bytes,
        "strings.plist",
        Some(ImportFormat::IosAts),
        &no_opts(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("strings.plist") && e.contains(&format!("{MAX_IMPORT_STRING_BYTES} bytes")),
        "{e}"
    );
}
