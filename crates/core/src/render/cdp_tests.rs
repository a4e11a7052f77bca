//! The pipe's framing and failure paths, against small shell scripts that speak it the way
//! Chromium does (descriptor 3 in, descriptor 4 out, NUL-ended JSON). The browser itself is
//! exercised by `tests/render.rs` and `tests/render_relaunch.rs`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use super::*;

/// A stand-in browser: `body` runs with the pipe on descriptors 3 and 4.
fn script(body: &str) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new().suffix(".sh").tempfile().unwrap();
    writeln!(file, "#!/bin/sh\n{body}").unwrap();
    let path = file.into_temp_path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn a_browser_that_exits_at_once_is_a_launch_error_without_waiting_out_the_timeout() {
    let fake = script("echo 'cannot open display' >&2; exit 1");
    let started = Instant::now();
    let Err(e) = Connection::launch(&fake, &[], Duration::from_secs(20)).await else { panic!("launched") };
    assert!(matches!(e, RenderError::Launch(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn answers_and_events_are_read_from_nul_ended_messages() {
    // Answers the version query (id 1); once the test has subscribed (a file appears), sends an
    // event for session S and the answer to id 2, then an error for id 3; stays up until its
    // input closes.
    let ready = tempfile::tempdir().unwrap();
    let flag = ready.path().join("subscribed");
    let fake = script(&format!(
        r#"printf '{{"id":1,"result":{{"product":"fake"}}}}\0' >&4
while [ ! -e '{}' ]; do sleep 0.01; done
printf '{{"method":"Page.loadEventFired","sessionId":"S","params":{{"timestamp":1}}}}\0' >&4
printf '{{"id":2,"result":{{"result":{{"value":{{"a":7}}}}}}}}\0' >&4
printf '{{"id":3,"error":{{"code":-32000,"message":"No target with given id"}}}}\0' >&4
cat <&3 >/dev/null"#,
        flag.display()
    ));
    let (connection, _child) = Connection::launch(&fake, &[], Duration::from_secs(20)).await.unwrap();
    let session = Session { connection: connection.clone(), id: "S".into() };
    let mut events = connection.subscribe("S");
    #[derive(serde::Deserialize)]
    struct A {
        a: u32,
    }
    // Both commands are registered (ids 2 and 3, in this order) on the join's first poll,
    // before the flag lets the answers come.
    let (value, closed, ()) = tokio::join!(
        session.evaluate::<A>("({a: 7})"),
        connection.call(None, "Target.closeTarget", json!({})),
        async { std::fs::write(&flag, b"").unwrap() }
    );
    assert_eq!(value.unwrap().a, 7);
    let event = events.recv().await.unwrap();
    assert_eq!(event.method, "Page.loadEventFired");
    let Err(RenderError::Protocol(e)) = closed else { panic!("an error answer is an error: {closed:?}") };
    assert!(e.contains("No target with given id"), "{e}");
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn an_oversized_message_drops_the_connection_and_fails_what_waits() {
    let fake = script(&format!(
        r#"printf '{{"id":1,"result":{{}}}}\0' >&4
head -c {} /dev/zero | tr '\0' 'a' >&4
cat <&3 >/dev/null"#,
        MAX_MESSAGE + 1024
    ));
    let (connection, _child) = Connection::launch(&fake, &[], Duration::from_secs(20)).await.unwrap();
    let started = Instant::now();
    let answer = connection.call(None, "Browser.getVersion", json!({})).await;
    assert!(matches!(answer, Err(RenderError::Protocol(_))), "{answer:?}");
    assert!(connection.is_closed());
    assert!(started.elapsed() < CALL_TIMEOUT, "failed when the connection dropped, not at the timeout");
}
