//! The conformance suite on tokio.

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

s2_conformance::conformance_tests!(s2_tokio::TokioRuntime, block_on);
