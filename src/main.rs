use clap::Parser;
use taskdash::commands;
use taskdash::configuration::{Cli, Command, KeyCommand, TenantCommand};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let log = match &cli.command {
        Some(Command::Serve(settings)) => settings.log.clone(),
        _ => cli.serve.log.clone(),
    };
    taskdash::telemetry::init(&log);
    match cli.command {
        None => commands::serve(cli.serve).await,
        Some(Command::Serve(settings)) => commands::serve(settings).await,
        Some(Command::Migrate(settings)) => commands::migrate(settings).await,
        Some(Command::Openapi) => {
            print!("{}", taskdash::openapi::spec_json());
            Ok(())
        }
        Some(Command::Tenant {
            command: TenantCommand::Create { name, database },
        }) => commands::create_tenant(name, database).await,
        Some(Command::Key { command }) => match command {
            KeyCommand::Create { tenant, database } => commands::create_key(tenant, database).await,
            KeyCommand::Revoke { key_id, database } => commands::revoke_key(key_id, database).await,
        },
    }
}
