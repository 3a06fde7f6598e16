//! End-to-end: the Python (Django, uv.lock, poetry.lock, Pipfile.lock), Go
//! and Rust buildpacks, as a user sees them: detection, default process
//! types, caches on a code-only push, and version requests the stack cannot
//! serve.

use std::time::Instant;

use crate::harness::{Repo, TestServer};

/// Replaces `from` (which must be there) in the repo's file, and commits.
fn edit(repo: &Repo, path: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.dir.path().join(path)).unwrap();
    assert!(text.contains(from), "{path} has no `{from}`");
    repo.write(path, &text.replace(from, to));
    repo.commit(&format!("edit {path}"));
}

/// Pushes, insists it deploys, and says how long it took.
fn timed_push(repo: &Repo, what: &str) -> String {
    let started = Instant::now();
    let output = repo.push_ok();
    eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    output
}

#[test]
fn django_runs_collectstatic_and_gunicorn_without_a_procfile() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/django", "django");
    let output = timed_push(&repo, "django first build");
    assert!(output.contains("Python app detected"), "{output}");
    assert!(
        output.contains("$ python manage.py collectstatic --noinput")
            && output.contains("1 static file copied"),
        "{output}"
    );
    assert!(
        output.contains("the default web process is `gunicorn hello.wsgi`"),
        "{output}"
    );
    assert!(
        output.contains("Default types for buildpack -> web")
            && !output.contains("Procfile declares"),
        "{output}"
    );
    assert_eq!(
        server.get("django", "/"),
        (200, "Hello from Django on web.1\n".to_string())
    );
    // The collected file is in the slug, and WhiteNoise serves it.
    assert_eq!(
        server.get("django", "/static/hello.txt"),
        (
            200,
            "collected by collectstatic, served by WhiteNoise\n".to_string()
        )
    );

    // DISABLE_COLLECTSTATIC skips it: the next slug has no collected files.
    server.ok(&["config:set", "-a", "django", "DISABLE_COLLECTSTATIC=1"]);
    edit(&repo, "hello/urls.py", "Hello from", "Hello again from");
    let output = timed_push(&repo, "django rebuild");
    assert!(
        output.contains("Skipping collectstatic (DISABLE_COLLECTSTATIC is set)"),
        "{output}"
    );
    assert!(!output.contains("static file copied"), "{output}");
    assert!(
        output.contains("Reusing the cached virtualenv (requirements.txt unchanged)"),
        "{output}"
    );
    assert_eq!(
        server.get("django", "/").1,
        "Hello again from Django on web.1\n"
    );
    assert_eq!(server.get("django", "/static/hello.txt").0, 404);

    // pip installs from the index PIP_INDEX_URL names (another index: no
    // cached virtualenv); one this server cannot reach refuses the push,
    // naming it, and the running release keeps serving.
    server.ok(&[
        "config:set",
        "-a",
        "django",
        "PIP_INDEX_URL=http://127.0.0.1:9/simple",
    ]);
    edit(
        &repo,
        "hello/urls.py",
        "Hello again from",
        "Hello once more from",
    );
    let refused = repo.push_refused();
    assert!(
        refused.contains("pip could not reach the Python package index (127.0.0.1:9)"),
        "{refused}"
    );
    assert!(
        !refused.contains("Reusing the cached virtualenv"),
        "{refused}"
    );
    assert_eq!(
        server.get("django", "/").1,
        "Hello again from Django on web.1\n"
    );
}

#[test]
fn uv_lock_and_plain_apps_build_and_a_python_the_stack_lacks_is_refused() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/pyproject", "uvapp");
    let output = timed_push(&repo, "uv first build");
    assert!(output.contains("Python app detected"), "{output}");
    assert!(
        output.contains("Installing uv 0.13.9 from PyPI"),
        "{output}"
    );
    assert!(
        output.contains("Installing uv.lock's packages with uv"),
        "{output}"
    );
    // The dev group (pytest) stays out.
    assert!(output.contains("+ flask==3.0.3"), "{output}");
    assert!(!output.contains("+ pytest=="), "{output}");
    let serving = "Hello from uv on web.1 (Python 3.11)\n".to_string();
    assert_eq!(server.get("uvapp", "/"), (200, serving.clone()));

    // The stack has one Python: asking for another refuses the push.
    repo.write(".python-version", "3.12\n");
    repo.commit("ask for Python 3.12");
    let output = repo.push_refused();
    assert!(
        output.contains(".python-version asks for Python 3.12; this stack has Python 3.11."),
        "{output}"
    );
    assert!(!output.contains("Released v2"), "{output}");
    assert_eq!(server.get("uvapp", "/"), (200, serving));

    // A plain app (requirements.txt and app.py, not Django) has no default
    // process: without a Procfile the push is refused, saying to add one.
    let plain = server.repo("tests/apps/python-plain", "plain");
    let output = plain.push_refused();
    assert!(
        output.contains("Installing requirements with pip (Python 3.11"),
        "{output}"
    );
    assert!(
        output.contains(
            " !     No Procfile: this app needs one to say how it starts \
             (only Django apps have a default web process)."
        ) && output.contains(" !     Add a Procfile such as \"web: gunicorn app:app\""),
        "{output}"
    );
    assert!(
        output.contains("no process types: the app has no Procfile"),
        "{output}"
    );
    assert!(!output.contains("Released v1"), "{output}");
    assert_ne!(server.get("plain", "/").0, 200);

    // With the Procfile it suggested, the next push serves; runtime.txt
    // naming the stack's Python is fine.
    plain.write("Procfile", "web: gunicorn app:app\n");
    plain.write("runtime.txt", "python-3.11\n");
    plain.commit("add a Procfile");
    let output = timed_push(&plain, "plain python build");
    assert!(
        output.contains("(runtime.txt asks for 3.11)") && output.contains("Procfile declares"),
        "{output}"
    );
    let serving = "Hello from plain Python on web.1 (Python 3.11)\n".to_string();
    assert_eq!(server.get("plain", "/"), (200, serving.clone()));

    // runtime.txt asking for another Python refuses the push, naming it.
    plain.write("runtime.txt", "python-3.12.1\n");
    plain.commit("ask for Python 3.12.1");
    let output = plain.push_refused();
    assert!(
        output.contains("runtime.txt asks for Python 3.12.1; this stack has Python 3.11."),
        "{output}"
    );
    assert_eq!(server.get("plain", "/"), (200, serving));

    // A pip-installable pyproject.toml and no lock file: pip installs the
    // project, editable, with the dependencies it declares.
    plain.git(&["rm", "-q", "requirements.txt", "runtime.txt"]);
    plain.write(
        "pyproject.toml",
        r#"[project]
name = "plain"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = ["gunicorn==23.0.0"]

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
py-modules = ["app"]
"#,
    );
    edit(
        &plain,
        "app.py",
        "Hello from plain Python",
        "Hello from a pyproject app",
    );
    let output = timed_push(&plain, "pyproject build");
    assert!(
        output.contains("Installing the project with pip (Python 3.11"),
        "{output}"
    );
    let installed = pip_installed(&output);
    assert!(
        installed.contains("gunicorn-23.0.0") && installed.contains("plain-1.0.0"),
        "{installed}"
    );
    assert_eq!(
        server.get("plain", "/"),
        (
            200,
            "Hello from a pyproject app on web.1 (Python 3.11)\n".to_string()
        )
    );
}

/// The packages pip's last "Successfully installed" line names (the app's,
/// after the package tool's own).
fn pip_installed(output: &str) -> &str {
    output
        .lines()
        .rev()
        .find_map(|line| Some(line.split_once("Successfully installed ")?.1.trim()))
        .unwrap_or_else(|| panic!("pip installed nothing:\n{output}"))
}

#[test]
fn poetry_and_pipenv_apps_install_their_locked_main_packages() {
    let server = TestServer::start();
    let poetry = server.repo("tests/apps/poetry", "poetryapp");
    let output = timed_push(&poetry, "poetry first build");
    for expected in [
        "Python app detected",
        "Installing poetry 2.5.1 poetry-plugin-export 1.10.1 from PyPI",
        "Installing poetry.lock's main packages with pip (Python 3.11",
    ] {
        assert!(output.contains(expected), "{expected}:\n{output}");
    }
    // The dev group (pytest) stays out of the slug.
    let installed = pip_installed(&output);
    assert!(
        installed.contains("flask-3.0.3") && installed.contains("gunicorn-23.0.0"),
        "{installed}"
    );
    assert!(!installed.contains("pytest"), "{installed}");
    let packages = server.ok(&[
        "run",
        "-a",
        "poetryapp",
        "ls .venv/lib/python3.11/site-packages",
    ]);
    assert!(
        packages.contains("flask") && !packages.contains("pytest"),
        "{packages}"
    );
    assert_eq!(
        server.get("poetryapp", "/"),
        (200, "Hello from Poetry on web.1\n".to_string())
    );

    let pipenv = server.repo("tests/apps/pipenv", "pipenvapp");
    let output = timed_push(&pipenv, "pipenv first build");
    for expected in [
        "Python app detected",
        "Installing pipenv 2026.10.3 from PyPI",
        "Installing Pipfile.lock's default packages with pip (Python 3.11",
    ] {
        assert!(output.contains(expected), "{expected}:\n{output}");
    }
    assert!(!output.contains("Locking the Pipfile"), "{output}");
    let installed = pip_installed(&output);
    assert!(installed.contains("flask-3.0.3"), "{installed}");
    assert!(!installed.contains("pytest"), "{installed}");
    assert_eq!(
        server.get("pipenvapp", "/"),
        (200, "Hello from Pipenv on web.1\n".to_string())
    );

    // A code-only push reuses the virtualenv: Poetry is not even run.
    edit(&poetry, "app.py", "Hello from", "Hello again from");
    let output = timed_push(&poetry, "poetry rebuild");
    assert!(
        output.contains("Reusing the cached virtualenv (poetry.lock unchanged)"),
        "{output}"
    );
    assert!(!output.contains("Successfully installed"), "{output}");
    assert_eq!(
        server.get("poetryapp", "/").1,
        "Hello again from Poetry on web.1\n"
    );
}

#[test]
fn go_app_builds_incrementally_and_a_newer_go_is_refused() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/go", "goapp");
    let output = timed_push(&repo, "go first build");
    assert!(output.contains("Go app detected"), "{output}");
    assert!(
        output.contains("Building paas.example/gohello with Go 1.19"),
        "{output}"
    );
    assert!(
        output.contains("the default web process is `bin/gohello`"),
        "{output}"
    );
    assert!(!output.contains("Reusing the Go build cache"), "{output}");
    assert_eq!(
        server.get("goapp", "/"),
        (200, "Hello from Go on web.1\n".to_string())
    );

    // A code-only push reuses Go's build cache.
    edit(&repo, "main.go", "Hello from Go", "Hello again from Go");
    let output = timed_push(&repo, "go rebuild");
    assert!(
        output.contains("Reusing the Go build cache (incremental build)"),
        "{output}"
    );
    let serving = "Hello again from Go on web.1\n".to_string();
    assert_eq!(server.get("goapp", "/"), (200, serving.clone()));

    // A go directive newer than the stack's Go refuses the push.
    edit(&repo, "go.mod", "go 1.19", "go 1.22");
    let output = repo.push_refused();
    assert!(
        output.contains("go.mod asks for Go 1.22; this stack has Go 1.19."),
        "{output}"
    );
    assert_eq!(server.get("goapp", "/"), (200, serving.clone()));

    // Code that does not compile is refused with the compiler's error, by
    // file and line, and what to do about it.
    let main_go = std::fs::read_to_string(repo.dir.path().join("main.go")).unwrap();
    repo.write("go.mod", "module paas.example/gohello\n\ngo 1.19\n");
    repo.write(
        "main.go",
        &main_go.replace("os.Getenv(\"DYNO\")", "os.Getenv(\"DYNO\"), undefinedName"),
    );
    repo.commit("break main.go");
    let output = repo.push_refused();
    assert!(
        output.contains("./main.go:14:") && output.contains("undefined: undefinedName"),
        "{output}"
    );
    assert!(
        output.contains("go build failed: the app's Go code does not compile"),
        "{output}"
    );
    assert!(
        output
            .contains("(`go build ./...` shows the same errors locally), commit, and push again."),
        "{output}"
    );
    assert_eq!(server.get("goapp", "/"), (200, serving.clone()));

    // A module that is only in vendor/ builds offline (the module proxy is
    // unreachable here), and its code answers.
    write_files(
        &repo,
        &[
            (
                "go.mod",
                "module paas.example/gohello\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n",
            ),
            ("go.sum", GREET_SUM),
            (
                "vendor/modules.txt",
                "# example.com/greet v1.0.0\n## explicit; go 1.19\nexample.com/greet\n",
            ),
            (
                "vendor/example.com/greet/greet.go",
                "// Package greet is vendored.\npackage greet\n\n\
                 // Hello greets whom.\nfunc Hello(whom string) string { return \"Hello from vendored greet to \" + whom }\n",
            ),
            (
                "main.go",
                &main_go
                    .replace("\"os\"\n", "\"os\"\n\n\t\"example.com/greet\"\n")
                    .replace("\"Hello again from Go on %s\\n\", ", "\"%s on %s\\n\", greet.Hello(\"Go\"), "),
            ),
        ],
    );
    repo.commit("greet with a vendored module");
    let output = timed_push(&repo, "go build with vendor/");
    assert!(output.contains("(with the vendored modules)"), "{output}");
    let serving = "Hello from vendored greet to Go on web.1\n".to_string();
    assert_eq!(server.get("goapp", "/"), (200, serving.clone()));

    // Without vendor/, the module must come from the module proxy, which
    // this server cannot reach: refused, naming it and saying to vendor.
    repo.git(&["rm", "-r", "-q", "vendor"]);
    repo.commit("unvendor greet");
    let output = repo.push_refused();
    assert!(
        output
            .contains("the Go module proxy (proxy.golang.org) is not reachable from this server."),
        "{output}"
    );
    assert!(
        output.contains("Vendor them (`go mod vendor`, and commit vendor/)"),
        "{output}"
    );
    assert_eq!(server.get("goapp", "/"), (200, serving));
}

/// go.sum lines for the vendored example.com/greet (Go checks them only
/// when it downloads the module).
const GREET_SUM: &str =
    "example.com/greet v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
example.com/greet v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

/// Writes the files (making their directories) into the repo, uncommitted.
fn write_files(repo: &Repo, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = repo.dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

#[test]
fn rust_app_builds_incrementally_without_a_procfile() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/rust", "rustapp");
    let output = timed_push(&repo, "rust first build");
    assert!(output.contains("Rust app detected"), "{output}");
    assert!(
        output.contains("Building with cargo build --release --locked (rustc 1.63"),
        "{output}"
    );
    assert!(
        output.contains("the default web process is `bin/rusthello`"),
        "{output}"
    );
    // Its one dependency comes from crates.io.
    assert!(output.contains("Compiling itoa v1.0.9"), "{output}");
    assert_eq!(
        server.get("rustapp", "/"),
        (200, "Hello from Rust on web.1\n".to_string())
    );

    // A code-only push reuses the target dir: only the app's crate compiles.
    edit(
        &repo,
        "src/main.rs",
        "Hello from Rust",
        "Hello again from Rust",
    );
    let output = timed_push(&repo, "rust rebuild");
    assert!(
        output.contains("Reusing the cached target dir and crates (incremental build)"),
        "{output}"
    );
    assert!(output.contains("Compiling rusthello"), "{output}");
    assert!(!output.contains("Compiling itoa"), "{output}");
    let serving = (200, "Hello again from Rust on web.1\n".to_string());
    assert_eq!(server.get("rustapp", "/"), serving);

    // A toolchain newer than the stack's rustc is refused, naming the
    // stack's version, whether rust-toolchain.toml or rust-version asks.
    repo.write("rust-toolchain.toml", "[toolchain]\nchannel = \"1.75.0\"\n");
    repo.commit("ask for Rust 1.75.0");
    let output = repo.push_refused();
    assert!(
        output.contains(
            "rust-toolchain.toml asks for Rust 1.75.0; this stack has rustc 1.63.0 (stable)"
        ),
        "{output}"
    );
    assert_eq!(server.get("rustapp", "/"), serving);
    repo.git(&["rm", "-q", "rust-toolchain.toml"]);
    edit(
        &repo,
        "Cargo.toml",
        "rust-version = \"1.60\"",
        "rust-version = \"1.70\"",
    );
    let output = repo.push_refused();
    assert!(
        output.contains("Cargo.toml (package.rust-version) asks for Rust 1.70; this stack has rustc 1.63.0 (stable)"),
        "{output}"
    );
    assert!(
        output.contains("Build with Rust 1.63.0: ask for 1.63.0 (or stable)"),
        "{output}"
    );
    assert_eq!(server.get("rustapp", "/"), serving);

    // A mirror of crates.io set in .cargo/config.toml that does not answer
    // is named (here a git index, which cargo fetches with libgit2).
    edit(
        &repo,
        "Cargo.toml",
        "rust-version = \"1.70\"",
        "rust-version = \"1.60\"",
    );
    std::fs::create_dir_all(repo.dir.path().join(".cargo")).unwrap();
    repo.write(
        ".cargo/config.toml",
        "[source.crates-io]\nreplace-with = \"mirror\"\n\n\
         [source.mirror]\nregistry = \"http://127.0.0.1:9/index/\"\n",
    );
    repo.commit("use a mirror of crates.io");
    let output = repo.push_refused();
    assert!(
        output.contains("cargo could not reach the package registry `mirror` (127.0.0.1:9): it is unreachable from this server."),
        "{output}"
    );
    assert!(
        output.contains("(a registry or mirror set in .cargo/config.toml)"),
        "{output}"
    );
    assert_eq!(server.get("rustapp", "/"), serving);
}
