//! `keypin bundle keygen --out FILE`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use keypin::live::bundle::SigningKey;

use crate::Failure;

#[derive(Debug, clap::Args)]
pub(super) struct KeygenArgs {
    /// Where to write the private key (PEM, mode 0600); the public key goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub(super) fn run(args: KeygenArgs) -> Result<u8, Failure> {
    let (key, pem) = SigningKey::generate().map_err(|e| Failure::usage(e.into()))?;
    write_private(&args.out, pem.as_bytes())?;
    let mut pub_path = args.out.clone().into_os_string();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    super::write_file(&pub_path, format!("{}\n", key.public_key()).as_bytes())?;
    say!("{}", key.public_key());
    say!("key id {}", key.public_key().id());
    say!("private key: {} (keep it offline)", args.out.display());
    say!("public key:  {}", pub_path.display());
    Ok(0)
}

/// Creates the file with mode 0600 from the start (never world-readable, not even briefly),
/// and refuses to overwrite an existing key.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
