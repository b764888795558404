//! Root and tamper hints on Android, looked for under a root directory so that tests can use a
//! fake file tree. Unit-tested only: not yet run on a real device.

use std::path::Path;

use crate::{Check, Evidence, Finding};

/// Where `su` is installed by the rooting tools seen in the field.
const SU_PATHS: &[&str] = &[
    "system/bin/su",
    "system/xbin/su",
    "sbin/su",
    "su/bin/su",
    "system/sd/xbin/su",
    "system/bin/failsafe/su",
    "data/local/su",
    "data/local/bin/su",
    "data/local/xbin/su",
    "system/app/Superuser.apk",
];

/// Magisk's own files and directories.
const MAGISK_PATHS: &[&str] = &[
    "sbin/.magisk",
    "data/adb/magisk",
    "data/adb/magisk.db",
    "data/adb/modules",
    "cache/.disable_magisk",
    "dev/.magisk.unblock",
    "debug_ramdisk/.magisk",
];

/// Build property files, in the order Android reads them.
const PROP_FILES: &[&str] = &["default.prop", "system/build.prop", "vendor/build.prop"];

/// A build property file larger than this is not read (real ones are a few KiB).
const MAX_PROP_FILE: u64 = 1 << 20;

/// SH011-SH014 under `root` (`/` on a device).
pub fn root_hints(root: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let present = |paths: &'static [&'static str], check: Check, out: &mut Vec<Finding>| {
        for p in paths {
            let full = root.join(p);
            if full.symlink_metadata().is_ok() {
                out.push(Finding::new(
                    check,
                    Evidence {
                        path: Some(format!("/{p}")),
                        detail: "present".to_owned(),
                        ..Evidence::default()
                    },
                ));
            }
        }
    };
    present(SU_PATHS, Check::SuBinary, &mut out);
    present(MAGISK_PATHS, Check::Magisk, &mut out);
    for p in PROP_FILES {
        let full = root.join(p);
        let Ok(meta) = full.metadata() else { continue };
        if meta.len() > MAX_PROP_FILE {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&full) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let check = match key {
                "ro.build.tags" if value.split(',').any(|t| t == "test-keys") => Check::TestKeys,
                "ro.debuggable" if value == "1" => Check::DebuggableBuild,
                _ => continue,
            };
            out.push(Finding::new(
                check,
                Evidence {
                    path: Some(format!("/{p}")),
                    detail: format!("line {}: {key}={value}", i + 1),
                    ..Evidence::default()
                },
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    fn ids(files: &[(&str, &str)]) -> Vec<&'static str> {
        let dir = tree(files);
        root_hints(dir.path()).iter().map(|f| f.id.id()).collect()
    }

    #[test]
    fn root_hint_rows() {
        let stock = "ro.build.tags=release-keys\nro.debuggable=0\n";
        for (files, want) in [
            (vec![("system/build.prop", stock)], vec![]),
            (vec![("system/xbin/su", "")], vec!["SH011"]),
            (
                vec![("sbin/su", ""), ("data/adb/magisk/busybox", "")],
                vec!["SH011", "SH012"],
            ),
            (
                vec![("data/adb/modules/lsposed/module.prop", "")],
                vec!["SH012"],
            ),
            (
                vec![("system/build.prop", "ro.build.tags=dev-keys,test-keys\n")],
                vec!["SH013"],
            ),
            (vec![("default.prop", "ro.debuggable = 1\n")], vec!["SH014"]),
            (
                vec![("system/build.prop", "# ro.build.tags=test-keys\n")],
                vec![],
            ),
        ] {
            assert_eq!(ids(&files), want, "{files:?}");
        }
    }

    #[test]
    fn evidence_names_file_and_line() {
        let dir = tree(&[("system/build.prop", "a=b\nro.build.tags=test-keys\n")]);
        let f = root_hints(dir.path());
        assert_eq!(f[0].evidence.path.as_deref(), Some("/system/build.prop"));
        assert_eq!(f[0].evidence.detail, "line 2: ro.build.tags=test-keys");
    }
}
