//! Writing issued certificates to disk, for demos and for tools that take file paths.

use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::cert::Issued;

/// Writes `<dir>/<name>.crt` (certificate PEM) and `<dir>/<name>.key` (PKCS#8 PEM), creating
/// `dir` if needed, and returns their paths in that order. On Unix the key file is made
/// readable by its owner only.
pub fn write_pem_files(
    dir: &Path,
    name: &str,
    issued: &Issued,
) -> Result<(PathBuf, PathBuf), Error> {
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    fs::write(&cert_path, issued.cert_pem())
        .map_err(Error::io(format!("writing {}", cert_path.display())))?;
    write_private(&key_path, issued.key_pem().as_bytes())?;
    Ok((cert_path, key_path))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let context = || format!("writing {}", path.display());
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(context()))?;
    // An existing file keeps its old mode through open(); tighten it too.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(Error::io(context()))?;
    file.write_all(contents).map_err(Error::io(context()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    fs::write(path, contents).map_err(Error::io(format!("writing {}", path.display())))
}
