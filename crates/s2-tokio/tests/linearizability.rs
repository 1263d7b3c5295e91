//! Linearizability on tokio: concurrent clients under faults, their history
//! checked against a sequential model of a stream. The soak:
//! `LINCHECK_SOAK_SECS=600 cargo test -p s2-tokio --test linearizability -- --ignored --nocapture soak`.

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

s2_conformance::linearizability_tests!(s2_tokio::TokioRuntime, block_on, 1);
