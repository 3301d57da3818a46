//! `reap` (hidden): the run's reaper, started by `run` itself.

use mosquitto_matrix::report::exit;

use crate::cli::Error;

/// `reap`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The run id.
    #[arg(long)]
    run: String,
}

/// Waits for the end of standard input, then sweeps the run.
pub async fn exec(args: Args) -> Result<u8, Error> {
    // A signal meant for the harness's terminal must not end the reaper before its work.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink)
    })
    .await;
    mosquitto_matrix::run::reaper::sweep(&args.run).await;
    Ok(exit::MET)
}
