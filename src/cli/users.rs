//! `dyntag users`: the admin command for users and roles. Whoever runs dyntag on the data
//! folder is its local admin; these are the same operations as `CREATE USER`, `GRANT` and
//! `REVOKE`, through the same service.

use clap::{Args, Subcommand};
use dyntag_core::model::access::{DatasetRole, OrgRole, Principal, View};
use dyntag_core::service::access::AccessService;

use super::Global;
use crate::error::Result;

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Create a user and print their API token (shown once; stored hashed).
    Create {
        name: String,
        /// Make them an organisation admin (creates users, every role on every dataset).
        #[arg(long)]
        org_admin: bool,
        /// Their token may only run queries and SHOW statements, whatever their roles: the
        /// login to give a BI tool.
        #[arg(long)]
        read_only: bool,
    },
    /// Create another API token for an existing user and print it (shown once).
    Token {
        name: String,
        /// The token may only run queries and SHOW statements (for a BI tool).
        #[arg(long)]
        read_only: bool,
    },
    /// Give a user a role on a dataset.
    Grant {
        name: String,
        #[arg(long)]
        dataset: String,
        /// admin, editor or viewer.
        #[arg(long)]
        role: String,
    },
    /// Take a user's role on a dataset away.
    Revoke {
        name: String,
        #[arg(long)]
        dataset: String,
    },
    /// Remove a user.
    Drop { name: String },
    /// List users and their roles.
    List,
}

pub async fn run(global: &Global, args: UsersArgs) -> Result<()> {
    let catalog = global.open().await?;
    let service = AccessService::new(std::sync::Arc::clone(&catalog), Principal::LocalAdmin);
    match args.action {
        UsersAction::Create {
            name,
            org_admin,
            read_only,
        } => {
            let role = if org_admin {
                OrgRole::Admin
            } else {
                OrgRole::Member
            };
            let token = service.create_user(&name, role, read_only).await?;
            eprintln!(
                "created {} user '{name}'; their {}API token (shown once):",
                role.as_str(),
                if read_only { "read-only " } else { "" }
            );
            println!("{token}");
        }
        UsersAction::Token { name, read_only } => {
            let token = service.create_token(&name, read_only).await?;
            eprintln!(
                "a new {}API token for user '{name}' (shown once):",
                if read_only { "read-only " } else { "" }
            );
            println!("{token}");
        }
        UsersAction::Grant {
            name,
            dataset,
            role,
        } => {
            let role = DatasetRole::parse(&role)?;
            service.grant(&dataset, &name, role).await?;
            println!(
                "user '{name}' is now {} on dataset '{dataset}'",
                role.as_str()
            );
        }
        UsersAction::Revoke { name, dataset } => {
            service.revoke(&dataset, &name).await?;
            println!("user '{name}' no longer has a role on dataset '{dataset}'");
        }
        UsersAction::Drop { name } => {
            service.drop_user(&name).await?;
            println!("dropped user '{name}'");
        }
        UsersAction::List => {
            let snapshot = catalog.refresh().await?;
            let view = View::new(&snapshot, &Principal::LocalAdmin);
            for u in snapshot.access.users.values() {
                let roles: Vec<String> = view
                    .datasets()
                    .into_iter()
                    .filter_map(|d| {
                        let r = snapshot.access.roles.get(d)?.get(&u.name)?;
                        Some(format!("{d}={}", r.as_str()))
                    })
                    .collect();
                println!("{}\t{}\t{}", u.name, u.org_role.as_str(), roles.join(","));
            }
        }
    }
    Ok(())
}
