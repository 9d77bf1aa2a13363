//! A real PostgreSQL for the tests: `initdb` in a temporary directory and a
//! `postgres` on a loopback port, run as the `postgres` user when the tests run as
//! root (PostgreSQL refuses root), stopped when dropped.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding `initdb` and `postgres`, or why the test cannot run:
/// skipped outside CI, a failure in CI (`SEQLANE_CI` set), where `.ci/run`
/// installs PostgreSQL.
pub fn postgres_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|path| {
        std::env::split_paths(&path)
            .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
            .filter_map(|initdb| initdb.parent().map(Path::to_owned))
            .collect::<Vec<_>>()
    });
    let mut packaged: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    packaged.sort();
    let found = on_path
        .chain(packaged.into_iter().rev())
        .find(|dir| dir.join("postgres").is_file() && dir.join("initdb").is_file());
    if found.is_none() {
        let reason = "PostgreSQL is not installed (apt-get install -y postgresql)";
        assert!(std::env::var_os("SEQLANE_CI").is_none(), "{reason}");
        eprintln!("skipped: {reason}");
    }
    found
}

/// The uid and gid of user `name`, from /etc/passwd.
fn user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name))
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap_or(false)
}

/// One PostgreSQL server.
pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Postgres {
    /// A fresh cluster in a new temporary directory, started.
    pub fn start(bin: &Path) -> Postgres {
        let dir = std::env::temp_dir().join(format!(
            "seqlane-pg-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let owner =
            is_root().then(|| user("postgres").expect("a postgres user to run PostgreSQL as"));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let as_owner = |program: PathBuf| {
            let mut command = Command::new(program);
            command.current_dir(&dir).env("LC_ALL", "C");
            if let Some((uid, gid)) = owner {
                command.uid(uid).gid(gid);
            }
            command
        };
        let data = dir.join("data");
        let output = as_owner(bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-A", "trust", "-U", "seqlane", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = super::free_port();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = as_owner(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Postgres {
            dir,
            port,
            child: Some(child),
        };
        server.wait_until_ready();
        server
    }

    /// The server's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The connection string for the `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=seqlane dbname=postgres",
            self.port
        )
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut client = None;
        while client.is_none() {
            client = postgres_client(&self.url()).ok();
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start; see {}",
                self.dir.join("server.log").display()
            );
            if client.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Connects on a runtime of its own, to check the server answers.
fn postgres_client(url: &str) -> Result<(), tokio_postgres::Error> {
    super::runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let running = tokio::spawn(connection);
        client.simple_query("SELECT 1").await?;
        drop(client);
        let _ = running.await;
        Ok(())
    })
}

/// A client on the current runtime, its connection driven by a task.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An immediate shutdown: the postmaster stops its backends and exits.
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            if child.wait().is_err() {
                let _ = child.kill();
            }
        }
        // SEQLANE_KEEP_PG=1 keeps the directory (and the server's log) to look at.
        if std::env::var_os("SEQLANE_KEEP_PG").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
