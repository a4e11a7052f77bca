//! A PostgreSQL server of a test's own, which it may stop (as a crash does) and start again: the
//! shared one `scripts/test.sh` starts cannot be stopped by one test. Binaries from
//! `IMAGE_CHAT_TEST_PG_BIN`, run as `IMAGE_CHAT_TEST_PG_USER` when that is set (PostgreSQL
//! refuses to run as root); `scripts/services.sh start` sets both. Loopback only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The folder of `initdb` and `pg_ctl`.
pub const BIN_ENV: &str = "IMAGE_CHAT_TEST_PG_BIN";
/// The folder of a PostgreSQL built with OpenSSL (the distribution's; the wheel's of `BIN_ENV`
/// has no TLS), for [`PostgresServer::start_tls_only`].
pub const TLS_BIN_ENV: &str = "IMAGE_CHAT_TEST_PG_TLS_BIN";
/// The system user PostgreSQL runs as, when the tests run as root.
pub const USER_ENV: &str = "IMAGE_CHAT_TEST_PG_USER";
/// The database superuser of the servers started here.
const SUPERUSER: &str = "imagechat";

pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<String>,
    /// The superuser's password, where connections must give one.
    password: Option<String>,
    /// Server options beyond port, address and socket folder.
    extra: String,
}

/// The password of [`PostgresServer::start_tls_only`]'s superuser.
const TLS_PASSWORD: &str = "s3cret-over-tls";

/// Whether a server can be started here (the environment names the binaries).
pub fn available() -> bool {
    bin_folder(BIN_ENV).is_some()
}

/// Whether a server with TLS can be started here.
pub fn tls_available() -> bool {
    bin_folder(TLS_BIN_ENV).is_some()
}

fn bin_folder(env: &str) -> Option<PathBuf> {
    std::env::var_os(env).map(PathBuf::from).filter(|b| b.join("pg_ctl").is_file())
}

impl PostgresServer {
    /// A new cluster on a free port, started.
    pub fn start() -> std::io::Result<Self> {
        let server = Self::new(BIN_ENV)?;
        server.run(
            "initdb",
            &["-D", &server.data(), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale"],
        )?;
        server.resume()?;
        Ok(server)
    }

    /// A new cluster of the `TLS_BIN_ENV` binaries on a free port that takes TCP connections
    /// over TLS only (with `cert` and `key`, PEM) and asks for a password (SCRAM-SHA-256); a
    /// connection without TLS is refused by pg_hba.conf.
    pub fn start_tls_only(cert: &Path, key: &Path) -> std::io::Result<Self> {
        let mut server = Self::new(TLS_BIN_ENV)?;
        server.password = Some(TLS_PASSWORD.into());
        let password_file = server.dir.join("password");
        std::fs::write(&password_file, TLS_PASSWORD)?;
        server.own(&password_file)?;
        let data = server.data();
        let password_arg = format!("--pwfile={}", password_file.display());
        server.run(
            "initdb",
            &["-D", &data, "-U", SUPERUSER, "--auth=scram-sha-256", &password_arg, "--encoding=UTF8", "--no-locale"],
        )?;
        std::fs::write(
            server.dir.join("data/pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n",
        )?;
        // PostgreSQL refuses a key file that others can read or that is not its user's.
        let (server_cert, server_key) = (server.dir.join("server.pem"), server.dir.join("server.key"));
        std::fs::copy(cert, &server_cert)?;
        std::fs::copy(key, &server_key)?;
        for file in [&server_cert, &server_key] {
            server.own(file)?;
        }
        std::fs::set_permissions(&server_key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        server.extra =
            format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", server_cert.display(), server_key.display());
        server.resume()?;
        Ok(server)
    }

    fn new(bin_env: &str) -> std::io::Result<Self> {
        let bin = bin_folder(bin_env).ok_or_else(|| std::io::Error::other(format!("{bin_env} names no PostgreSQL")))?;
        let port = crate::ports::free_port()?;
        let dir = std::env::temp_dir().join(format!("image-chat-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let run_as = std::env::var(USER_ENV).ok().filter(|u| !u.is_empty());
        let server = Self { dir, port, bin, run_as, password: None, extra: String::new() };
        server.own(&server.dir)?;
        Ok(server)
    }

    /// Gives a file to the user PostgreSQL runs as, when that is not us.
    fn own(&self, path: &Path) -> std::io::Result<()> {
        match &self.run_as {
            Some(user) => checked(Command::new("chown").arg(user).arg(path).output()?, "chown"),
            None => Ok(()),
        }
    }

    pub fn url(&self) -> String {
        let password = self.password.as_ref().map(|p| format!(":{p}")).unwrap_or_default();
        format!("postgres://{SUPERUSER}{password}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash would (no shutdown checkpoint).
    pub fn kill(&self) -> std::io::Result<()> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"])
    }

    /// Starts the server again on the same port and data, waiting until it accepts connections.
    pub fn resume(&self) -> std::io::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off{}",
            self.port,
            self.dir.display(),
            self.extra
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"]).map_err(|e| {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = server_log.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            std::io::Error::other(format!("{e}server log:\n{tail}"))
        })
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
