//! Real NATS servers for the tests: `nats-server -js` on loopback ports, each in a
//! temporary directory, stopped (killed) when dropped.
#![allow(dead_code)]

pub mod bank;
pub mod postgres;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary, or why the test cannot run: skipped outside CI, a failure in
/// CI (`SEQLANE_CI` set), where `.ci/run` installs it.
pub fn nats_server() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let reason = "nats-server is not installed (apt-get install -y nats-server)";
        assert!(std::env::var_os("SEQLANE_CI").is_none(), "{reason}");
        eprintln!("skipped: {reason}");
    }
    found
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `nats-server` process.
pub struct Server {
    binary: PathBuf,
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// A single JetStream server with its store under `dir`.
    pub fn start(binary: &Path, dir: &Path) -> Server {
        Self::spawn(binary, dir, free_port(), Vec::new())
    }

    fn spawn(binary: &Path, dir: &Path, port: u16, extra: Vec<String>) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let mut args = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-js".into(),
            "-sd".into(),
            dir.join("store").display().to_string(),
        ];
        args.extend(extra);
        let mut server = Server {
            binary: binary.to_owned(),
            port,
            args,
            dir: dir.to_owned(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the process as a crash would (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again, same port, same store; returns once it listens.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen; see {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three clustered JetStream servers on loopback.
pub fn cluster(binary: &Path, dir: &Path) -> Vec<Server> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes = ports
        .iter()
        .map(|(_, cluster)| format!("nats://127.0.0.1:{cluster}"))
        .collect::<Vec<_>>()
        .join(",");
    ports
        .iter()
        .enumerate()
        .map(|(i, (client, cluster))| {
            let extra = vec![
                "-n".into(),
                format!("node{i}"),
                "--cluster_name".into(),
                "seqlane".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{cluster}"),
                "--routes".into(),
                routes.clone(),
            ];
            Server::spawn(binary, &dir.join(format!("node{i}")), *client, extra)
        })
        .collect()
}

/// A runtime for a test's async parts.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client that reconnects for ever, to any of `urls`.
pub async fn connect(urls: &[String]) -> async_nats::Client {
    let servers: Vec<async_nats::ServerAddr> =
        urls.iter().map(|url| url.parse().unwrap()).collect();
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(servers)
        .await
        .unwrap()
}

/// One message of a stream, as read back.
#[derive(Debug)]
pub struct Stored {
    pub stream_sequence: u64,
    pub record: seqlane_export::message::Exported,
    pub payload: Vec<u8>,
}

/// Every message of `stream`, in stream order, read by an ordered consumer.
pub async fn read_stream(client: &async_nats::Client, stream: &str) -> Vec<Stored> {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    use futures_util::StreamExt;
    let js = async_nats::jetstream::new(client.clone());
    let stream = js.get_stream(stream).await.unwrap();
    let total = stream.cached_info().state.messages;
    // A cluster that just lost a node may still be electing its leaders.
    let mut attempts = 0;
    let consumer = loop {
        match stream.create_consumer(OrderedConfig::default()).await {
            Ok(consumer) => break consumer,
            Err(error) if attempts < 30 => {
                eprintln!("creating a consumer: {error}; again");
                attempts += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => panic!("creating a consumer: {error}"),
        }
    };
    let mut messages = consumer.messages().await.unwrap();
    let mut stored = Vec::new();
    while (stored.len() as u64) < total {
        let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .expect("the stream's messages arrive")
            .unwrap()
            .unwrap();
        let headers = message
            .headers
            .clone()
            .expect("exported messages have headers");
        stored.push(Stored {
            stream_sequence: message.info().unwrap().stream_sequence,
            record: seqlane_export::message::Exported::from_headers(&headers).unwrap(),
            payload: message.payload.to_vec(),
        });
    }
    stored
}

/// Checks that `stored` is exactly the records `first..next` of the journal in
/// `dir`, once each, in order, with their tags and payloads.
pub fn assert_stream_is_journal(stored: &[Stored], dir: &Path, first: u64, next: u64) {
    let identity = seqlane_journal::identity(dir).unwrap();
    assert_eq!(stored.len() as u64, next - first, "one message per record");
    let mut reader = seqlane_journal::Reader::open(dir, first).unwrap();
    for (i, message) in stored.iter().enumerate() {
        let record = reader.next_record().unwrap().expect("the journal holds it");
        assert_eq!(message.record.identity, identity);
        assert_eq!(
            (
                message.record.sequence,
                message.record.tag,
                &message.payload[..]
            ),
            (record.sequence, record.tag, record.payload),
            "message {i} (stream sequence {})",
            message.stream_sequence
        );
        if i > 0 {
            assert_eq!(
                message.stream_sequence,
                stored[i - 1].stream_sequence + 1,
                "no gaps"
            );
        }
    }
}

/// A small deterministic random source (xorshift), seeded and printed by the test
/// so a failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = std::env::var("SEQLANE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("seed: SEQLANE_TEST_SEED={seed}");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Waits (up to a minute) until `stream` exists and holds a message.
pub fn wait_for_messages(urls: &[String], stream: &str) {
    runtime().block_on(async {
        let js = async_nats::jetstream::new(connect(urls).await);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(found) = js.get_stream(stream).await {
                if found.cached_info().state.messages > 0 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "stream {stream} holds no message after a minute"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
