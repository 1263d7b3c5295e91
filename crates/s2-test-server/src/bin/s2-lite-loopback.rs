//! Serves an in-process s2-lite (in-memory storage) on a random loopback
//! port for a process that cannot embed it, such as the packaged-crate
//! check of CI: prints the endpoint on its first line of output, then
//! serves until its standard input is closed or it is killed.

use std::io::{BufRead, Write};

fn main() -> std::io::Result<()> {
    let server = s2_test_server::TestServer::start()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", server.endpoint())?;
    stdout.flush()?;
    drop(stdout);
    // Serve until stdin reaches its end (the parent closed it or exited).
    for line in std::io::stdin().lock().lines() {
        line?;
    }
    drop(server);
    Ok(())
}
