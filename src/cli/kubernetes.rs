//! `apps:scheduler` and `kubernetes:…`: an app's releases run on a
//! Kubernetes cluster instead of this server's podman.

use clap::Subcommand;

// Where releases run.
#[derive(Debug, Subcommand)]
pub enum KubernetesCommand {
    /// Show or set where the app's releases run: `podman` on this server
    /// (the default) or `kubernetes` on the cluster `kubernetes:connect` names.
    #[command(
        name = "apps:scheduler",
        after_help = "EXAMPLES:\n  $ paas apps:scheduler kubernetes -a myapp\n  $ paas apps:scheduler podman -a myapp"
    )]
    Scheduler {
        /// `podman` or `kubernetes`; shows the current one if omitted.
        #[arg(value_name = "SCHEDULER", value_parser = ["podman", "kubernetes"])]
        scheduler: Option<String>,
    },
    /// Name the registry (and the Kubernetes cluster) releases go to, once
    /// per server (admins only).
    #[command(
        name = "kubernetes:connect",
        after_help = "The registry alone is enough for `kubernetes:push` and \
                      `kubernetes:manifests`; deploys to the cluster need its kubeconfig too, \
                      a file on the server or `-` for stdin. kubectl must be within one minor \
                      version of the cluster's, which is checked here: a kubectl missing or too \
                      far is replaced by the cluster's own release, downloaded from \
                      `https://dl.k8s.io` (or `--kubectl-mirror`) into the state root's `bin/` \
                      (docs/kubernetes.md). A \
                      registry that needs a login takes `podman login` as the server's `paas` \
                      user.\n\nEXAMPLES:\n  \
                      $ paas kubernetes:connect --registry registry.example.com:5000\n  \
                      $ paas kubernetes:connect --registry 10.0.0.2:5000 --insecure-registry --kubeconfig - < k3s.yaml"
    )]
    Connect {
        /// Where images are pushed: `HOST[:PORT][/PATH]`.
        #[arg(long, value_name = "HOST[:PORT]")]
        registry: String,
        /// The registry speaks plain HTTP (or its certificate is not to be
        /// checked): only for one on a private network.
        #[arg(long)]
        insecure_registry: bool,
        /// The cluster's kubeconfig: a file on the server, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<String>,
        /// What the apps' namespaces start with (default `paas-`).
        #[arg(long, value_name = "PREFIX")]
        namespace_prefix: Option<String>,
        /// cert-manager's ClusterIssuer for apps with `certs:auto` (default `letsencrypt`).
        #[arg(long, value_name = "NAME")]
        cluster_issuer: Option<String>,
        /// Where kubectl is downloaded from, with dl.k8s.io's layout
        /// (default `https://dl.k8s.io`); kept for later connects.
        #[arg(long, value_name = "URL")]
        kubectl_mirror: Option<String>,
    },
    /// Build a release's image (the current one by default) and push it to
    /// the registry; prints its reference with its digest.
    #[command(
        name = "kubernetes:push",
        after_help = "EXAMPLES:\n  $ paas kubernetes:push -a myapp\n  $ paas kubernetes:push v12 -a myapp"
    )]
    Push {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
    /// Print the Kubernetes objects of a release (the current one by
    /// default) as YAML, to read, diff or apply by hand.
    #[command(
        name = "kubernetes:manifests",
        after_help = "EXAMPLES:\n  $ paas kubernetes:manifests -a myapp > myapp.yaml\n  $ paas kubernetes:manifests v11 -a myapp | diff - myapp.yaml"
    )]
    Manifests {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
}
