//! The servers under test: real `stoplist serve` processes (the binary cargo built for this
//! test), each in a numbered slot with a port of its own that it keeps across restarts, so
//! that a request meant for slot 1 never lands on another slot's process. Slots are stopped
//! three ways: SIGTERM (`kill -TERM`, the operator's deploy), kill -9 (`Child::kill`, a crash)
//! and, when the simulation ends or panics, kill -9 from `Drop`.
//!
//! Process control is blocking (`std::process`: tokio's `process` feature is not enabled in
//! this workspace), so the async side calls it through `spawn_blocking`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_stoplist");

/// Longest wait for a server to say where it listens.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Longest wait for a server to stop after SIGTERM (SPEC 4: it finishes what it claimed
/// "within a deadline"; the connector's timeout is 2 s, so this is generous).
pub const TERM_DEADLINE: Duration = Duration::from_secs(30);

/// How every process of one run is started.
#[derive(Debug, Clone)]
pub struct Launch {
    pub database_url: String,
    pub config_file: PathBuf,
    pub log_dir: PathBuf,
    /// Where each started process's id is appended (`STOPLIST_SIM_PID_FILE`), so that a
    /// script that runs the simulation can stop exactly those processes if it is interrupted.
    pub pid_file: Option<PathBuf>,
}

/// One server slot.
pub struct Slot {
    pub index: usize,
    launch: Launch,
    /// The port and `http://127.0.0.1:<port>`: read by every request, so never held long.
    address: Mutex<(u16, String)>,
    /// The running process; held while starting or stopping it.
    child: Mutex<Option<Child>>,
}

/// How a stop went.
pub struct Stopped {
    /// The stopped process's id.
    pub pid: u32,
    pub took: Duration,
}

impl Slot {
    pub fn new(index: usize, launch: Launch) -> std::io::Result<Slot> {
        let port = free_port()?;
        Ok(Slot {
            index,
            launch,
            address: Mutex::new((port, format!("http://127.0.0.1:{port}"))),
            child: Mutex::new(None),
        })
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn address(&self) -> std::sync::MutexGuard<'_, (u16, String)> {
        self.address.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `http://127.0.0.1:<port>` of this slot.
    pub fn base(&self) -> String {
        self.address().1.clone()
    }

    pub fn log_file(&self) -> PathBuf {
        self.launch
            .log_dir
            .join(format!("instance-{}.log", self.index))
    }

    /// Starts the slot's process and waits until it listens. The slot must be stopped.
    pub fn start(&self) -> Result<u32, String> {
        let mut slot = self.child();
        assert!(slot.is_none(), "slot {} already runs", self.index);
        // The slot's port, unless another process took it meanwhile: then a fresh one.
        let mut port = self.address().0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.spawn(port) {
                Ok((child, base)) => {
                    *self.address() = (port, base);
                    let pid = child.id();
                    *slot = Some(child);
                    return Ok(pid);
                }
                Err(e) if e.contains("cannot listen") && attempt < 3 => {
                    port = free_port().map_err(|e| e.to_string())?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(&self, port: u16) -> Result<(Child, String), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(|e| format!("log file: {e}"))?;
        let mut child = Command::new(BIN)
            .arg("--database")
            .arg(&self.launch.database_url)
            .arg("--config")
            .arg(&self.launch.config_file)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .env_remove("STOPLIST_DATABASE_URL")
            .env_remove("STOPLIST_CONFIG")
            .env_remove("STOPLIST_LISTEN")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {BIN}: {e}"))?;
        if let Some(path) = &self.launch.pid_file
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let _ = writeln!(f, "{}", child.id());
        }
        // Read stdout on a thread until the address line, then keep draining it (a full
        // pipe would block the server).
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut told = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !told && let Some(rest) = line.strip_prefix("stoplist is listening on ") {
                    told = true;
                    let _ = tx.send(rest.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(base) => return Ok((child, base)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "slot {} exited at start-up ({status}): {}",
                    self.index,
                    tail(&self.log_file())
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "slot {} did not listen within {START_DEADLINE:?}: {}",
                    self.index,
                    tail(&self.log_file())
                ));
            }
        }
    }

    /// kill -9, and waits for the process to be gone.
    pub fn kill9(&self) -> Option<Stopped> {
        let started = Instant::now();
        let mut child = self.child().take()?;
        let pid = child.id();
        let _ = child.kill();
        let _ = child.wait();
        Some(Stopped {
            pid,
            took: started.elapsed(),
        })
    }

    /// SIGTERM, and waits up to [`TERM_DEADLINE`] for the process to exit. Past the deadline
    /// the process is killed and the error says so.
    pub fn terminate(&self) -> Result<Option<Stopped>, String> {
        let started = Instant::now();
        let Some(mut child) = self.child().take() else {
            return Ok(None);
        };
        let pid = child.id();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| format!("kill -TERM {pid}: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM {pid} failed: {sent}"));
        }
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(Some(Stopped {
                    pid,
                    took: started.elapsed(),
                }));
            }
            if started.elapsed() > TERM_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "slot {} (pid {pid}) did not stop within {TERM_DEADLINE:?} of SIGTERM",
                    self.index
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The last lines of a log, for an error message.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
