//! A PostgreSQL server of a test's own, which it may stop (as a crash does) and start again: the
//! shared one `scripts/test.sh` starts cannot be stopped by one test. Binaries from
//! `IMAGE_CHAT_TEST_PG_BIN`, run as `IMAGE_CHAT_TEST_PG_USER` when that is set (PostgreSQL
//! refuses to run as root); `scripts/services.sh start` sets both. Loopback only.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The folder of `initdb` and `pg_ctl`.
pub const BIN_ENV: &str = "IMAGE_CHAT_TEST_PG_BIN";
/// The system user PostgreSQL runs as, when the tests run as root.
pub const USER_ENV: &str = "IMAGE_CHAT_TEST_PG_USER";
/// The database superuser of the servers started here.
const SUPERUSER: &str = "imagechat";

pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<String>,
}

/// Whether a server can be started here (the environment names the binaries).
pub fn available() -> bool {
    std::env::var_os(BIN_ENV).is_some_and(|b| PathBuf::from(b).join("pg_ctl").is_file())
}

impl PostgresServer {
    /// A new cluster on a free port, started.
    pub fn start() -> std::io::Result<Self> {
        let bin =
            PathBuf::from(std::env::var_os(BIN_ENV).ok_or_else(|| std::io::Error::other(format!("{BIN_ENV} unset")))?);
        let port = crate::ports::free_port()?;
        let dir = std::env::temp_dir().join(format!("image-chat-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let run_as = std::env::var(USER_ENV).ok().filter(|u| !u.is_empty());
        let server = Self { dir, port, bin, run_as };
        if let Some(user) = &server.run_as {
            checked(Command::new("chown").arg(user).arg(&server.dir).output()?, "chown")?;
        }
        let data = server.data();
        server.run("initdb", &["-D", &data, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale"])?;
        server.resume()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash would (no shutdown checkpoint).
    pub fn kill(&self) -> std::io::Result<()> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"])
    }

    /// Starts the server again on the same port and data, waiting until it accepts connections.
    pub fn resume(&self) -> std::io::Result<()> {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"])
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<()> {
        let path = self.bin.join(program);
        let output = match &self.run_as {
            Some(user) => Command::new("runuser").args(["-u", user, "--"]).arg(&path).args(args).output()?,
            None => Command::new(&path).args(args).output()?,
        };
        checked(output, program)
    }
}

fn checked(output: Output, what: &str) -> std::io::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    Err(std::io::Error::other(format!(
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
