use clap::Parser;
use taskdash::commands;
use taskdash::configuration::{Cli, Command};
use taskdash::telemetry::LogFormat;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let serve = match &cli.command {
        Some(Command::Serve(settings)) => settings,
        _ => &cli.serve,
    };
    let format = serve.log_format.unwrap_or_else(LogFormat::detect);
    taskdash::telemetry::init(&serve.log, format);
    match cli.command {
        None => commands::serve(cli.serve).await,
        Some(Command::Serve(settings)) => commands::serve(settings).await,
        Some(Command::Migrate(settings)) => commands::migrate(settings).await,
        Some(Command::Openapi) => {
            print!("{}", taskdash::openapi::spec_json());
            Ok(())
        }
        Some(Command::Tenant { command }) => commands::tenant(command).await,
        Some(Command::Key { command }) => commands::key(command).await,
    }
}
