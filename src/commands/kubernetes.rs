//! `apps:scheduler`, `kubernetes:connect`, `kubernetes:push`,
//! `kubernetes:manifests` (#24).

use super::Ctx;
use crate::cli::KubernetesCommand;
use crate::error::{Error, Result};
use crate::kubernetes::{self, Connect};
use crate::output;
use crate::release::{ReleaseVersion, VersionError};
use crate::state::Scheduler;

fn parse_version(text: Option<&str>) -> Result<Option<ReleaseVersion>> {
    text.map(|text| {
        text.parse()
            .map_err(|err: VersionError| Error::new(err.to_string()))
    })
    .transpose()
}

/// `apps:scheduler [podman|kubernetes]`.
pub fn run(ctx: &Ctx, command: KubernetesCommand) -> Result<()> {
    match command {
        KubernetesCommand::Scheduler { scheduler } => scheduler_of(ctx, scheduler.as_deref()),
        KubernetesCommand::Connect {
            registry,
            insecure_registry,
            kubeconfig,
            namespace_prefix,
            cluster_issuer,
            kubectl_mirror,
        } => connect(
            ctx,
            registry,
            insecure_registry,
            kubeconfig.as_deref(),
            namespace_prefix,
            cluster_issuer,
            kubectl_mirror,
        ),
        KubernetesCommand::Push { release } => push(ctx, release.as_deref()),
        KubernetesCommand::Manifests { release } => manifests(ctx, release.as_deref()),
    }
}

fn scheduler_of(ctx: &Ctx, scheduler: Option<&str>) -> Result<()> {
    let app = ctx.app()?;
    let name = |s: Scheduler| match s {
        Scheduler::Podman => "podman",
        Scheduler::Kubernetes => "kubernetes",
    };
    let Some(wanted) = scheduler else {
        println!("{}", name(app.settings()?.scheduler));
        return Ok(());
    };
    let wanted = match wanted {
        "kubernetes" => Scheduler::Kubernetes,
        _ => Scheduler::Podman,
    };
    let runtime = ctx.runtime();
    kubernetes::set_scheduler(&ctx.platform(&runtime), &app, wanted)?;
    say!("{} now runs on {}", app.name, name(wanted));
    Ok(())
}

/// `kubernetes:connect --registry HOST[:PORT] …` (admins only).
fn connect(
    ctx: &Ctx,
    registry: String,
    insecure_registry: bool,
    kubeconfig: Option<&str>,
    namespace_prefix: Option<String>,
    cluster_issuer: Option<String>,
    kubectl_mirror: Option<String>,
) -> Result<()> {
    if !ctx.admin {
        return Err(
            Error::new("only an admin may connect the server to a registry or cluster")
                .hint("ask an admin of this server"),
        );
    }
    let kubeconfig = kubeconfig
        .map(|path| kubernetes::read_kubeconfig(path, ctx.over_ssh))
        .transpose()?;
    let cluster = kubernetes::connect(
        &ctx.root,
        Connect {
            registry,
            insecure_registry,
            kubeconfig,
            namespace_prefix,
            cluster_issuer,
            kubectl_mirror,
        },
        &kubernetes::real_kubectl(&ctx.root),
    )?;
    say!(
        "Images go to {}{}; {}",
        cluster.registry,
        if cluster.insecure_registry {
            " (insecure)"
        } else {
            ""
        },
        match cluster.kubeconfig {
            Some(_) => "apps on `apps:scheduler kubernetes` deploy to the cluster",
            None => "no cluster yet (`--kubeconfig` names one)",
        }
    );
    Ok(())
}

/// `kubernetes:push [vN]`: prints the pushed reference with its digest.
fn push(ctx: &Ctx, release: Option<&str>) -> Result<()> {
    let app = ctx.app()?;
    let version = parse_version(release)?;
    let runtime = ctx.runtime();
    let pushed = kubernetes::push(&ctx.platform(&runtime), &app, version)?;
    println!("{}", pushed.reference());
    Ok(())
}

/// `kubernetes:manifests [vN]`: the objects as YAML on stdout.
fn manifests(ctx: &Ctx, release: Option<&str>) -> Result<()> {
    let app = ctx.app()?;
    let version = parse_version(release)?;
    let runtime = ctx.runtime();
    let (yaml, pushed) = kubernetes::manifests_yaml(&ctx.platform(&runtime), &app, version)?;
    if !pushed {
        say!(
            "note: the release's image is not in the registry yet, so it is named by tag; \
             `paas kubernetes:push -a {}` pushes it and names it by digest",
            app.name
        );
    }
    output::print_bytes(yaml.as_bytes())
}
