//! A throwaway PostgreSQL server for the tests, started from the machine's own binaries
//! (`initdb`, `pg_ctl` on PATH, else Debian's /usr/lib/postgresql/*/bin; `KEYPIN_PG_BIN`
//! overrides) in a temporary directory, on a free loopback port. PostgreSQL refuses to run as
//! root: as root the cluster belongs to the `postgres` user (Debian's package makes it), else
//! `nobody`, and its commands run through `runuser`.
//!
//! [`shared`] is one server for the whole test binary (a fresh database per test); tests that
//! stop and start the server make their own with [`PgServer::start`]. Each server is stopped
//! when dropped, and by a watchdog when the test process dies first (statics are never
//! dropped, and a killed test runs no destructor).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running cluster.
pub struct PgServer {
    port: u16,
    data: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    _dir: tempfile::TempDir,
}

/// The test binary's shared server.
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

/// A new, empty database on the shared server; returns its URL.
pub fn fresh_database() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    shared().create_database(&name)
}

impl PgServer {
    /// initdb, then start on a free loopback port; panics with what to install when the
    /// binaries are missing.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::TempDir::new().unwrap();
        let user = run_as();
        if let Some(u) = &user {
            chown_to(dir.path(), u);
        }
        let data = dir.path().join("data");
        let out = command(&bin, "initdb", &user)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "keypin", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = Self {
            port: 0,
            data,
            bin,
            user,
            _dir: dir,
        };
        let mut last = String::new();
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            server.port = free_port();
            match server.pg_ctl_start() {
                Ok(()) => {
                    watchdog(&server);
                    return server;
                }
                Err(e) => last = e,
            }
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// `postgres://keypin@127.0.0.1:PORT/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://keypin@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let out = command(&self.bin, "psql", &None)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "keypin", "-d", "postgres", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    /// Stops the server (fast shutdown: sessions are ended, as in a restart).
    pub fn stop(&self) {
        let _ = self.pg_ctl(&["stop", "-w", "-m", "fast"]);
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.pg_ctl_start().unwrap();
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "30",
            "-l",
            &log.to_string_lossy(),
            "-o",
            &opts,
        ])
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = command(&self.bin, "pg_ctl", &self.user)
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default();
            Err(format!("{}{log}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-w", "-m", "immediate"]);
    }
}

/// Stops the server once this test process is gone, however it ended, and removes its
/// directory (the shared server's is never dropped).
fn watchdog(s: &PgServer) {
    let runuser = match &s.user {
        Some(u) => format!("runuser -u {u} -- "),
        None => String::new(),
    };
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {runuser}{pg_ctl} -D {data} stop -m immediate; rm -rf {dir}",
        pid = std::process::id(),
        pg_ctl = s.bin.join("pg_ctl").display(),
        data = s.data.display(),
        dir = s._dir.path().display(),
    );
    let _ = Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn command(bin: &Path, name: &str, user: &Option<String>) -> Command {
    let program = bin.join(name);
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The directory holding initdb, pg_ctl and psql.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYPIN_PG_BIN") {
        return PathBuf::from(dir);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Through a symbolic link to where its siblings (psql) are.
    let on_path = std::env::split_paths(&path)
        .map(|d| d.join("initdb"))
        .find(|f| f.is_file())
        .and_then(|f| std::fs::canonicalize(f).ok())
        .and_then(|f| f.parent().map(Path::to_path_buf));
    if let Some(dir) = on_path {
        return dir;
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| d.join("initdb").is_file())
        .collect();
    debian.sort();
    match debian.pop() {
        Some((_, dir)) => dir,
        None => panic!(
            "PostgreSQL's initdb is not on PATH nor in /usr/lib/postgresql/*/bin: install \
             Debian's postgresql package (.ci/run does) or set KEYPIN_PG_BIN"
        ),
    }
}

/// The user the cluster runs as when we are root (PostgreSQL refuses root).
fn run_as() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let has = |u: &str| {
        Command::new("id")
            .arg(u)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    Some(
        if has("postgres") {
            "postgres"
        } else {
            "nobody"
        }
        .to_string(),
    )
}

fn chown_to(dir: &Path, user: &str) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    std::os::unix::fs::chown(dir, Some(id("-u")), Some(id("-g"))).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
