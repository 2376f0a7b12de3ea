//! `gateway vapid generate`: a new VAPID key pair for `VAPID_PRIVATE_KEY`.

use anyhow::Context;
use secrecy::ExposeSecret;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print a new VAPID key pair, as the VAPID_PRIVATE_KEY setting and its public key.
    Generate,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let Command::Generate = command;
    // Standard output only, for the operator to put in a secret store; never logged.
    let (private, public) =
        crate::push::vapid::generate().context("generating a VAPID key pair")?;
    println!("VAPID_PRIVATE_KEY={}", private.expose_secret());
    println!("# public key (webPushPublicKey): {public}");
    Ok(())
}
