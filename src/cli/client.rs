//! `client`: one built-in profile played as a command client, under the command contract.

use mosquitto_matrix::client::contract::ContractEnv;
use mosquitto_matrix::client::host;
use mosquitto_matrix::client::serve::{self, Tuning};
use mosquitto_matrix::plan::Profile;

use crate::cli::{duration_flag, Error};

/// `client`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The built-in profile. Example: --profile paho-java-1.2.5
    #[arg(long)]
    profile: String,
    /// Keepalive finer than MATRIX_KEEPALIVE_SECS' whole seconds. Example: --keepalive 1500ms
    #[arg(long)]
    keepalive: Option<String>,
    /// How long late-pong waits before its PONG.
    #[arg(long, help = format!("How long late-pong waits before its PONG (default {}). Example: --late-pong 15s",
        humantime::format_duration(mosquitto_matrix::plan::DEFAULT_LATE_PONG)))]
    late_pong: Option<String>,
    /// Bound on connect + upgrade + CONNACK.
    #[arg(long, help = format!("Bound on connect + upgrade + CONNACK (default {}). Example: --setup-timeout 20s",
        humantime::format_duration(mosquitto_matrix::plan::DEFAULT_SETUP_TIMEOUT)))]
    setup_timeout: Option<String>,
    /// Serve many cells as a runtime (the book's "The runtime protocol") instead of playing
    /// one session from the environment: what an accelerated run starts once per profile.
    #[arg(long)]
    runtime: bool,
}

/// Plays the profile; the exit status is the contract's.
pub async fn exec(args: Args) -> Result<u8, Error> {
    let profile = Profile::from_name(&args.profile).ok_or_else(|| {
        let known: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        Error::Argument { name: "--profile".into(), what: format!("unknown profile {:?}; built-in profiles: {}", args.profile, known.join(", ")) }
    })?;
    let flag = |name: &str, text: &Option<String>| text.as_deref().map(|t| duration_flag(name, t)).transpose();
    let tuning = Tuning {
        keepalive: flag("--keepalive", &args.keepalive)?,
        late_pong: flag("--late-pong", &args.late_pong)?,
        setup_timeout: flag("--setup-timeout", &args.setup_timeout)?,
    };
    if args.runtime {
        host::host(profile, tuning).await.map_err(|e| Error::Environment { name: "the runtime's listener on 127.0.0.1".into(), what: e.to_string() })?;
        return Ok(0);
    }
    let env = ContractEnv::read(|k| std::env::var(k).ok())
        .map_err(|e| Error::Environment { name: "the command contract's MATRIX_* environment".into(), what: e.to_string() })?;
    serve::print(&serve::ExitReport { stdout: vec![serve::client_line(profile)], stderr: Vec::new(), status: 0 });
    let said = serve::serve(profile, &env, tuning).await;
    serve::print(&said);
    Ok(said.status)
}
