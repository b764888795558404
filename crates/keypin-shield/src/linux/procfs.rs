//! Parsers for the `/proc` files the checks read, each bounded before it is read.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// No `/proc` file the checks read is larger than this on a sane system (an Android app's
/// maps run to about 1 MiB); a larger one is an error, not a truncated check.
const MAX_PROC_FILE: u64 = 32 << 20;

/// Reads a `/proc` file whole, refusing one over [`MAX_PROC_FILE`].
pub(crate) fn read(path: &Path) -> Result<String, Error> {
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    file.take(MAX_PROC_FILE + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_PROC_FILE {
        return Err(Error::Parse {
            path: path.to_owned(),
            line: 0,
            what: format!("larger than {MAX_PROC_FILE} bytes"),
        });
    }
    Ok(text)
}

fn parse_err(path: &str, line: usize, what: impl Into<String>) -> Error {
    Error::Parse {
        path: PathBuf::from(path),
        line,
        what: what.into(),
    }
}

/// One line of `/proc/self/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mapping<'a> {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) perms: &'a str,
    pub(crate) offset: u64,
    /// The file, `[vdso]`-style name, or empty for anonymous memory.
    pub(crate) path: &'a str,
    pub(crate) line: &'a str,
}

impl Mapping<'_> {
    pub(crate) fn executable(&self) -> bool {
        self.perms.as_bytes().get(2) == Some(&b'x')
    }
}

/// Parses `/proc/self/maps` (`path` names it in errors).
pub(crate) fn maps<'a>(text: &'a str, path: &str) -> Result<Vec<Mapping<'a>>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        // start-end perms offset dev inode [path]; the path may contain spaces.
        let mut rest = line;
        let mut fields = [""; 5];
        for field in &mut fields {
            rest = rest.trim_start_matches(' ');
            let end = rest.find(' ').unwrap_or(rest.len());
            *field = &rest[..end];
            rest = &rest[end..];
        }
        let [range, perms, offset, _dev, _inode] = fields;
        let (start, end) = range
            .split_once('-')
            .ok_or_else(|| parse_err(path, n, format!("no address range in {line:?}")))?;
        let hex = |s: &str| {
            u64::from_str_radix(s, 16)
                .map_err(|_| parse_err(path, n, format!("bad hex number {s:?}")))
        };
        let to_usize =
            |v: u64| usize::try_from(v).map_err(|_| parse_err(path, n, "address wider than usize"));
        if perms.len() != 4 {
            return Err(parse_err(path, n, format!("bad permissions {perms:?}")));
        }
        out.push(Mapping {
            start: to_usize(hex(start)?)?,
            end: to_usize(hex(end)?)?,
            perms,
            offset: hex(offset)?,
            path: rest.trim_start_matches(' '),
            line,
        });
    }
    Ok(out)
}

/// The `TracerPid:` of `/proc/self/status` (0: none).
pub(crate) fn tracer_pid(status: &str, path: &str) -> Result<u32, Error> {
    for (i, line) in status.lines().enumerate() {
        if let Some(value) = line.strip_prefix("TracerPid:") {
            return value
                .trim()
                .parse()
                .map_err(|_| parse_err(path, i + 1, format!("bad TracerPid {value:?}")));
        }
    }
    Err(parse_err(path, 0, "no TracerPid line"))
}

/// A listening socket of `/proc/net/tcp{,6}`: the local address as the kernel wrote it, and
/// the port.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Listener<'a> {
    pub(crate) local: &'a str,
    pub(crate) port: u16,
}

/// The listening sockets of `/proc/net/tcp` or `/proc/net/tcp6`.
pub(crate) fn listeners<'a>(text: &'a str, path: &str) -> Result<Vec<Listener<'a>>, Error> {
    /// TCP_LISTEN in the kernel's `st` column.
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    // The first line is the header.
    for (i, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_ascii_whitespace().take(4).collect();
        let [_slot, local, _remote, state] = fields[..] else {
            return Err(parse_err(path, i + 1, format!("short line {line:?}")));
        };
        if state != LISTEN {
            continue;
        }
        let port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            .ok_or_else(|| parse_err(path, i + 1, format!("bad local address {local:?}")))?;
        out.push(Listener { local, port });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines() {
        let text = "\
55d0c0a00000-55d0c0b00000 r-xp 00001000 fd:01 1234                       /usr/bin/keypin with space
7ffd1a3fe000-7ffd1a400000 r-xp 00000000 00:00 0                          [vdso]
7f0000000000-7f0000001000 rwxp 00000000 00:00 0 ";
        let maps = maps(text, "maps").unwrap();
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].start, 0x55d0c0a00000);
        assert_eq!(maps[0].end, 0x55d0c0b00000);
        assert_eq!(maps[0].offset, 0x1000);
        assert_eq!(maps[0].path, "/usr/bin/keypin with space");
        assert!(maps[0].executable());
        assert_eq!(maps[1].path, "[vdso]");
        assert_eq!(maps[2].path, "");
        assert!(maps[2].executable());
    }

    #[test]
    fn maps_errors_name_the_line() {
        for bad in ["zzzz-1 r-xp 0 0:0 0", "1 r-xp 0 0:0 0", "1-2 rx 0 0:0 0"] {
            let err = maps(bad, "/proc/self/maps").unwrap_err().to_string();
            assert!(err.starts_with("/proc/self/maps line 1:"), "{err}");
        }
    }

    #[test]
    fn tracer_pid_rows() {
        for (status, want) in [
            ("Name:\tx\nTracerPid:\t0\n", Some(0)),
            ("TracerPid:\t4321\n", Some(4321)),
            ("TracerPid:\tx\n", None),
            ("Name:\tx\n", None),
        ] {
            assert_eq!(tracer_pid(status, "status").ok(), want, "{status:?}");
        }
    }

    #[test]
    fn listeners_only_listen_state() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:69A2 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 2 1
";
        let l = listeners(text, "tcp").unwrap();
        assert_eq!(
            l,
            vec![Listener {
                local: "0100007F:69A2",
                port: 27042
            }]
        );
    }
}
