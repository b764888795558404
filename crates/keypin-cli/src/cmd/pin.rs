//! `keypin pin FILE...`: the pin of every certificate, public key, private key or CSR in the
//! given files, one line per item: `<pin>  <file>  <label>`.

use anyhow::anyhow;
use keypin::{pin::Pin, pin::PinFormat};

use crate::Failure;
use crate::args::{PinArgs, PinFormatArg};
use crate::exit;
use keypin_inspect::keyfile::{Material, MaterialKind, read_key_material};

pub(crate) fn run(args: PinArgs) -> Result<u8, Failure> {
    let format = pin_format(args.format);
    let mut failed = false;
    for path in &args.files {
        let file = path.display().to_string();
        let items = match read_key_material(path) {
            Ok(items) => items,
            Err(e) => {
                report(&e.into());
                failed = true;
                continue;
            }
        };
        let count = items.len();
        for (i, item) in items.iter().enumerate() {
            match pin_of(item, args.cert_pin) {
                Ok(pin) => {
                    say!("{}  {file}  {}", pin.to_format(format), item.label);
                }
                Err(e) => {
                    let which = if count == 1 {
                        file.clone()
                    } else {
                        format!("{file}: item {} of {count}", i + 1)
                    };
                    report(&e.context(which));
                    failed = true;
                }
            }
        }
    }
    Ok(if failed { exit::USAGE } else { 0 })
}

fn report(error: &anyhow::Error) {
    eprintln!("keypin: error: {error:#}");
}

/// The key pin, or with `--cert-pin` the certificate pin (certificates only).
fn pin_of(item: &Material, cert_pin: bool) -> anyhow::Result<Pin> {
    if !cert_pin {
        return Ok(Pin::from_spki_der(&item.spki_der));
    }
    match (&item.cert_der, item.kind) {
        (Some(der), MaterialKind::Certificate) => Ok(Pin::from_cert_der(der)),
        _ => Err(anyhow!(
            "--cert-pin needs a certificate, but this is a {} ({}); drop --cert-pin to get its key pin",
            item.kind.name(),
            item.label
        )),
    }
}

fn pin_format(arg: PinFormatArg) -> PinFormat {
    match arg {
        PinFormatArg::Okhttp => PinFormat::OkHttp,
        PinFormatArg::Hpkp => PinFormat::Hpkp,
        PinFormatArg::Curl => PinFormat::Curl,
        PinFormatArg::Base64 => PinFormat::Base64,
        PinFormatArg::Hex => PinFormat::Hex,
    }
}
