//! A release as Kubernetes objects (#24 point 3), made from the ledger and
//! the app's settings alone, so `kubernetes:manifests` prints what a
//! deploy applies: a namespace per app; the release's config vars as a
//! Secret named after the release (so a config change, or a rollback,
//! changes the pods' template and rolls them); a Job for the release
//! phase; a Deployment per process type; a Service and an Ingress for
//! `web`; a CronJob per `app.json` cron entry. Keys are sorted and objects
//! come in a fixed order, so two releases' manifests diff line by line.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::checks::Check;
use crate::cron;
use crate::error::{Error, Result};
use crate::release::Release;
use crate::runtime::{image_command, DYNO_PORT};
use crate::state::{AppName, AppSettings};

/// The label every object carries, naming its app.
pub const APP_LABEL: &str = "paas.app";
/// The label of a process type's pods, which Deployments select by.
pub const TYPE_LABEL: &str = "paas.type";
/// The label naming the release a pod runs.
pub const RELEASE_LABEL: &str = "paas.release";

/// How the image runs a process type's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// A slug's image: its launcher takes the process type's name.
    Slug,
    /// The app's own image (its Dockerfile): the Procfile line runs as
    /// a dyno of it runs here (`runtime::image_command`).
    Own,
}

/// Everything the manifests are made from.
pub struct Inputs<'a> {
    pub app: &'a AppName,
    pub namespace: &'a str,
    pub release: &'a Release,
    /// The image as the cluster pulls it: by digest once pushed.
    pub image: &'a str,
    pub kind: ImageKind,
    pub settings: &'a AppSettings,
    /// `<app>.<domain>`, then the custom domains.
    pub hosts: Vec<String>,
    /// cert-manager's issuer for the Ingress's certificate, when the app
    /// has `certs:auto` on.
    pub cluster_issuer: Option<&'a str>,
    /// `app.json`'s checks by process type.
    pub checks: &'a BTreeMap<String, Vec<Check>>,
    pub cron: &'a [cron::Entry],
    /// The release phase's time limit.
    pub release_timeout_secs: u64,
}

/// The release phase's process type, run as a Job, never a Deployment.
const RELEASE_TYPE: &str = "release";

/// A process type as a Kubernetes name (a DNS label): Procfile names may
/// hold `_` and capitals, which Kubernetes refuses.
pub fn object_name(process_type: &str) -> String {
    process_type.to_ascii_lowercase().replace('_', "-")
}

/// The Secret holding release `version`'s config vars.
pub fn config_secret(version: u32) -> String {
    format!("config-v{version}")
}

/// The Job running release `version`'s release phase.
pub fn release_job(version: u32) -> String {
    format!("release-v{version}")
}

/// Every object, in the order they are applied.
pub fn manifests(inputs: &Inputs) -> Result<Vec<Value>> {
    let mut names = BTreeMap::new();
    for process_type in inputs.release.processes.keys() {
        if let Some(other) = names.insert(object_name(process_type), process_type) {
            return Err(Error::new(format!(
                "process types `{other}` and `{process_type}` have the same name in Kubernetes"
            ))
            .hint("Kubernetes names are lowercase with `-`: rename one in the Procfile"));
        }
    }
    let mut objects = vec![namespace(inputs), secret(inputs)];
    if let Some(command) = inputs.release.processes.get(RELEASE_TYPE) {
        objects.push(job(inputs, command));
    }
    for (process_type, command) in &inputs.release.processes {
        if process_type != RELEASE_TYPE {
            objects.push(deployment(inputs, process_type, command));
        }
    }
    if inputs.release.processes.contains_key("web") {
        objects.push(service(inputs));
        objects.push(ingress(inputs));
    }
    for entry in inputs.cron {
        objects.push(cron_job(inputs, entry));
    }
    Ok(objects)
}

/// The objects as one YAML stream, `---` between them.
pub fn to_yaml(objects: &[Value]) -> Result<String> {
    let mut text = String::new();
    for object in objects {
        text.push_str("---\n");
        text.push_str(
            &serde_yaml::to_string(object)
                .map_err(|err| Error::unexpected(format!("writing YAML: {err}")))?,
        );
    }
    Ok(text)
}

fn labels(inputs: &Inputs) -> Value {
    json!({
        APP_LABEL: inputs.app.to_string(),
        "app.kubernetes.io/managed-by": "paas",
    })
}

fn metadata(inputs: &Inputs, name: &str) -> Value {
    json!({ "name": name, "namespace": inputs.namespace, "labels": labels(inputs) })
}

fn namespace(inputs: &Inputs) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": inputs.namespace, "labels": labels(inputs) },
    })
}

fn secret(inputs: &Inputs) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(inputs, &config_secret(inputs.release.version)),
        "type": "Opaque",
        "stringData": inputs.release.config,
    })
}

/// A process type's container: the image, its command, config vars from
/// the release's Secret, `PORT`, and `DYNO` as `<type>.<pod name>`
/// (Kubernetes numbers no pods, so `web.web-5d9c…` stands for `web.1`):
/// a slug's launcher makes it from the pod's host name, an image of the
/// app's own gets it from Kubernetes.
fn container(inputs: &Inputs, process_type: &str, command: &str) -> Value {
    let name = object_name(process_type);
    let mut container = json!({
        "name": name,
        "image": inputs.image,
        "envFrom": [{ "secretRef": { "name": config_secret(inputs.release.version) } }],
        "env": [{ "name": "PORT", "value": DYNO_PORT.to_string() }],
        "resources": resources(inputs.settings, process_type),
    });
    match inputs.kind {
        ImageKind::Slug => container["args"] = json!([process_type]),
        ImageKind::Own => {
            container["command"] = json!(image_command(command));
            let env = container["env"].as_array_mut().expect("env is a list");
            env.push(json!({ "name": "PAAS_POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }));
            env.push(
                json!({ "name": "DYNO", "value": format!("{process_type}.$(PAAS_POD_NAME)") }),
            );
        }
    }
    container
}

/// The dyno size as requests: its memory as request and limit (the
/// kernel's limit here too), its CPU share as a request only (a weight
/// here, never a cap): 1024 shares are a quarter of a CPU, so a small
/// node schedules a few dynos as this machine runs them.
fn resources(settings: &AppSettings, process_type: &str) -> Value {
    let size = settings.size_of(process_type);
    let memory = format!("{}Mi", size.memory_mb);
    json!({
        "requests": { "cpu": format!("{}m", size.cpu_shares / 4), "memory": memory },
        "limits": { "memory": memory },
    })
}

/// Readiness from the web check: `app.json`'s first HTTP check on
/// `$PORT` if there is one, else listening on `$PORT`, as `checks:skip`
/// gates traffic here.
fn readiness(inputs: &Inputs) -> Value {
    let http = inputs
        .checks
        .get("web")
        .into_iter()
        .flatten()
        .find(|check| check.gates_start() && check.path.is_some() && check.port.is_none());
    let mut probe = match http.and_then(|check| check.path.as_ref()) {
        Some(path) => json!({ "httpGet": { "path": path, "port": "http" } }),
        None => json!({ "tcpSocket": { "port": "http" } }),
    };
    probe["periodSeconds"] = json!(5);
    if let Some(check) = http {
        if let Some(delay) = check.initial_delay {
            probe["initialDelaySeconds"] = json!(delay);
        }
        if let Some(timeout) = check.timeout {
            probe["timeoutSeconds"] = json!(timeout.max(1));
        }
    }
    probe
}

fn deployment(inputs: &Inputs, process_type: &str, command: &str) -> Value {
    let name = object_name(process_type);
    let replicas = inputs
        .settings
        .formation
        .get(process_type)
        .copied()
        .unwrap_or(0);
    let selector = json!({ APP_LABEL: inputs.app.to_string(), TYPE_LABEL: name });
    let mut pod_labels = selector.clone();
    pod_labels[RELEASE_LABEL] = json!(inputs.release.version.to_string());
    let mut container = container(inputs, process_type, command);
    if process_type == "web" {
        container["ports"] = json!([{ "name": "http", "containerPort": DYNO_PORT }]);
        container["readinessProbe"] = readiness(inputs);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(inputs, &name),
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": selector },
            // New pods first: the old ones serve until the new are ready.
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 } },
            "template": {
                "metadata": { "labels": pod_labels },
                "spec": {
                    "terminationGracePeriodSeconds": inputs.settings.stop_grace().as_secs(),
                    "enableServiceLinks": false,
                    "containers": [container],
                },
            },
        },
    })
}

/// A pod that runs `command` once, as a Job's or CronJob's.
fn run_once_pod(inputs: &Inputs, process_type: &str, command: &str) -> Value {
    let mut container = container(inputs, process_type, command);
    if inputs.kind == ImageKind::Slug && process_type != RELEASE_TYPE {
        // A cron entry's command, not a process type's.
        container["args"] = json!(["bash", "-c", command]);
    }
    json!({
        "metadata": { "labels": { APP_LABEL: inputs.app.to_string(), TYPE_LABEL: object_name(process_type) } },
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": inputs.settings.stop_grace().as_secs(),
            "containers": [container],
        },
    })
}

/// The release phase: run once, never retried, within its time limit.
fn job(inputs: &Inputs, command: &str) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(inputs, &release_job(inputs.release.version)),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": inputs.release_timeout_secs,
            "ttlSecondsAfterFinished": 86400,
            "template": run_once_pod(inputs, RELEASE_TYPE, command),
        },
    })
}

fn service(inputs: &Inputs) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(inputs, "web"),
        "spec": {
            "selector": { APP_LABEL: inputs.app.to_string(), TYPE_LABEL: "web" },
            "ports": [{ "name": "http", "port": 80, "targetPort": "http" }],
        },
    })
}

/// The app's hostnames to the web Service; with `certs:auto`, TLS by
/// cert-manager's issuer, which keeps the certificate in `web-tls`.
fn ingress(inputs: &Inputs) -> Value {
    let rules: Vec<Value> = inputs
        .hosts
        .iter()
        .map(|host| {
            json!({
                "host": host,
                "http": { "paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": { "service": { "name": "web", "port": { "name": "http" } } },
                }] },
            })
        })
        .collect();
    let mut ingress = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata(inputs, "web"),
        "spec": { "rules": rules },
    });
    if let Some(issuer) = inputs.cluster_issuer {
        ingress["metadata"]["annotations"] = json!({ "cert-manager.io/cluster-issuer": issuer });
        ingress["spec"]["tls"] = json!([{ "hosts": inputs.hosts, "secretName": "web-tls" }]);
    }
    ingress
}

/// A cron entry: never two runs at once (as here), in the app's `TZ`.
fn cron_job(inputs: &Inputs, entry: &cron::Entry) -> Value {
    let mut spec = json!({
        "schedule": entry.schedule,
        "concurrencyPolicy": "Forbid",
        "jobTemplate": { "spec": {
            "backoffLimit": 0,
            "template": run_once_pod(inputs, cron::SCHEDULER_TYPE, &entry.command),
        } },
    });
    if let Some(zone) = inputs.release.config.get("TZ") {
        spec["timeZone"] = json!(zone);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(inputs, &format!("cron-{}", entry.id())),
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Release {
        let mut release: Release = toml::from_str(
            "version = 7\ndescription = \"Deploy\"\nuser = \"ann\"\ncreated_at = \"2026-12-07T10:00:00Z\"\n",
        )
        .unwrap();
        release.processes = BTreeMap::from([
            ("web".into(), "python app.py".into()),
            ("worker_queue".into(), "python worker.py".into()),
            ("release".into(), "python migrate.py".into()),
        ]);
        release.config = BTreeMap::from([("GREETING".into(), "hi \"there\"\n".into())]);
        release
    }

    fn inputs<'a>(
        app: &'a AppName,
        release: &'a Release,
        settings: &'a AppSettings,
        checks: &'a BTreeMap<String, Vec<Check>>,
    ) -> Inputs<'a> {
        Inputs {
            app,
            namespace: "paas-shop",
            release,
            image: "registry.example.com/shop:v7@sha256:abc",
            kind: ImageKind::Slug,
            settings,
            hosts: vec!["shop.example.com".into(), "www.shop.test".into()],
            cluster_issuer: None,
            checks,
            cron: &[],
            release_timeout_secs: 900,
        }
    }

    fn kinds(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn a_release_becomes_objects_in_a_fixed_order() {
        let app = AppName::parse("shop").unwrap();
        let release = release();
        let settings = AppSettings {
            formation: BTreeMap::from([("web".into(), 2), ("worker_queue".into(), 1)]),
            stop_timeout_secs: Some(12),
            sizes: BTreeMap::from([("web".into(), "standard-2x".into())]),
            ..AppSettings::default()
        };
        let checks = BTreeMap::new();
        let objects = manifests(&inputs(&app, &release, &settings, &checks)).unwrap();
        assert_eq!(
            kinds(&objects),
            [
                "Namespace/paas-shop",
                "Secret/config-v7",
                "Job/release-v7",
                "Deployment/web",
                "Deployment/worker-queue",
                "Service/web",
                "Ingress/web"
            ]
        );
        let web = &objects[3]["spec"];
        assert_eq!(web["replicas"], 2);
        let pod = &web["template"]["spec"];
        assert_eq!(pod["terminationGracePeriodSeconds"], 12);
        let container = &pod["containers"][0];
        assert_eq!(container["args"], json!(["web"]));
        assert_eq!(container["resources"]["limits"]["memory"], "1024Mi");
        assert_eq!(container["readinessProbe"]["tcpSocket"]["port"], "http");
        assert_eq!(container["envFrom"][0]["secretRef"]["name"], "config-v7");
        assert_eq!(
            objects[4]["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["worker_queue"])
        );
        assert_eq!(objects[1]["stringData"]["GREETING"], "hi \"there\"\n");
        assert_eq!(objects[2]["spec"]["backoffLimit"], 0);
        // No certs:auto: no TLS.
        assert!(objects[6]["spec"].get("tls").is_none());
        let yaml = to_yaml(&objects).unwrap();
        assert_eq!(yaml.matches("---\n").count(), 7);
        assert_eq!(
            yaml,
            to_yaml(&manifests(&inputs(&app, &release, &settings, &checks)).unwrap()).unwrap()
        );
    }

    #[test]
    fn checks_certs_cron_and_own_images_shape_the_objects() {
        let app = AppName::parse("shop").unwrap();
        let mut release = release();
        release.config.insert("TZ".into(), "Europe/Paris".into());
        let settings = AppSettings::default();
        let checks = crate::checks::parse(Some(
            r#"{"healthchecks": {"web": [{"type": "startup", "path": "/health", "timeout": 3}]}}"#,
        ))
        .unwrap();
        let entries = cron::entries(Some(
            r#"{"cron": [{"command": "python job.py", "schedule": "*/10 * * * *"}]}"#,
        ))
        .unwrap();
        let mut inputs = inputs(&app, &release, &settings, &checks);
        inputs.cluster_issuer = Some("letsencrypt");
        inputs.cron = &entries;
        inputs.kind = ImageKind::Own;
        let objects = manifests(&inputs).unwrap();
        let web = &objects[3]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(web["readinessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(web["readinessProbe"]["timeoutSeconds"], 3);
        assert_eq!(web["command"], json!(["/bin/sh", "-c", "python app.py"]));
        assert_eq!(web["env"][2]["value"], "web.$(PAAS_POD_NAME)");
        assert_eq!(objects[3]["spec"]["replicas"], 0, "no formation, no dynos");
        let ingress = &objects[6];
        assert_eq!(
            ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
            "letsencrypt"
        );
        assert_eq!(ingress["spec"]["tls"][0]["hosts"][1], "www.shop.test");
        let cron = objects.last().unwrap();
        assert_eq!(cron["kind"], "CronJob");
        assert_eq!(cron["spec"]["timeZone"], "Europe/Paris");
        assert_eq!(cron["spec"]["schedule"], "*/10 * * * *");
    }

    #[test]
    fn process_types_that_clash_as_kubernetes_names_are_refused() {
        let app = AppName::parse("shop").unwrap();
        let mut release = release();
        release.processes.insert("worker-queue".into(), "x".into());
        let settings = AppSettings::default();
        let checks = BTreeMap::new();
        let err = manifests(&inputs(&app, &release, &settings, &checks)).unwrap_err();
        assert!(
            err.to_string()
                .contains("`worker-queue` and `worker_queue`"),
            "{err}"
        );
    }
}
