//! The embedded server starts, answers, and stops.

#[test]
fn starts_and_answers_health() {
    let server = s2_test_server::TestServer::start().expect("server starts");
    assert!(server.addr().ip().is_loopback());
    assert_ne!(server.addr().port(), 0);
}
