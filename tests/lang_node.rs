//! End-to-end: the Node.js buildpack (npm, pnpm, yarn) and the static site
//! buildpack (nginx), each pushed without a Procfile as a user would.

use crate::harness::TestServer;

#[test]
fn express_app_deploys_with_npm_reuses_node_modules_and_refuses_a_node_it_lacks_or_no_registry() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/express", "express");
    let output = repo.push_ok();
    assert!(output.contains("Node.js app detected"), "{output}");
    assert!(
        output.contains("Using Node.js 18.") && output.contains("(package.json asks for 18.x)"),
        "{output}"
    );
    assert!(
        output.contains("Installing dependencies with npm ci"),
        "{output}"
    );
    assert_eq!(
        server.get("express", "/"),
        (200, "Hello from Express on web.1\n".to_string())
    );
    // No Procfile: the buildpack's default runs.
    let ps = server.ok(&["ps", "-a", "express"]);
    assert!(ps.contains("=== web (1): npm start"), "{ps}");

    // A code-only push skips the install and serves the new code.
    let code = std::fs::read_to_string(repo.dir.path().join("server.js")).unwrap();
    assert!(code.contains("Hello from Express"));
    repo.write(
        "server.js",
        &code.replace("Hello from Express", "Hello again from Express"),
    );
    repo.commit("change the greeting");
    let output = repo.push_ok();
    assert!(
        output.contains("-----> Reusing node_modules (package-lock.json unchanged)"),
        "{output}"
    );
    assert!(!output.contains("Installing dependencies"), "{output}");
    assert!(output.contains("Released v2"), "{output}");
    assert_eq!(
        server.get("express", "/"),
        (200, "Hello again from Express on web.1\n".to_string())
    );

    // A Node.js the stack does not have refuses the push; v2 keeps serving.
    let manifest = std::fs::read_to_string(repo.dir.path().join("package.json")).unwrap();
    assert!(manifest.contains(r#""node": "18.x""#));
    repo.write(
        "package.json",
        &manifest.replace(r#""node": "18.x""#, r#""node": "22.x""#),
    );
    repo.commit("ask for Node.js 22");
    let output = repo.push_refused();
    assert!(
        output.contains("package.json asks for Node.js 22.x; this stack has Node.js 18."),
        "{output}"
    );
    assert!(!output.contains("Released v3"), "{output}");
    assert_eq!(
        server.get("express", "/"),
        (200, "Hello again from Express on web.1\n".to_string())
    );

    // A registry that does not answer fails the install at once, naming it.
    repo.write("package.json", &manifest);
    repo.commit("back to Node.js 18");
    server.ok(&[
        "config:set",
        "-a",
        "express",
        "NPM_CONFIG_REGISTRY=http://127.0.0.1:9/",
        "NODE_MODULES_CACHE=false",
    ]);
    let output = repo.push_refused();
    assert!(
        output.contains("npm could not reach the npm registry (127.0.0.1:9)"),
        "{output}"
    );
    assert_eq!(
        server.get("express", "/"),
        (200, "Hello again from Express on web.1\n".to_string())
    );
}

#[test]
fn npm_pnpm_and_yarn_apps_build_prune_dev_dependencies_and_a_failing_build_is_refused() {
    let server = TestServer::start();
    let mut npm = None;
    for (manager, detail) in [
        ("npm", "Installing dependencies with npm ci (npm 9."),
        ("pnpm", "Installing dependencies with pnpm (pnpm 8."),
        ("yarn", "Installing dependencies with yarn (Yarn 1."),
    ] {
        let repo = server.repo(&format!("tests/apps/{manager}"), manager);
        let output = repo.push_ok();
        assert!(output.contains("Node.js app detected"), "{output}");
        assert!(output.contains(detail), "{output}");
        // The build script needs the devDependency; the slug does not keep it.
        assert!(output.contains("-----> Running build"), "{output}");
        assert!(
            output.contains("-----> Pruning devDependencies"),
            "{output}"
        );
        assert_eq!(
            server.get(manager, "/"),
            (
                200,
                format!(
                    "Hello from {manager} on web.1 (built: true, devDependencies pruned: true, \
                     a minute is 1m)\n"
                )
            ),
            "{output}"
        );
        if manager == "npm" {
            npm = Some(repo);
        }
    }
    let serving = (
        200,
        "Hello from npm on web.1 (built: true, devDependencies pruned: true, a minute is 1m)\n"
            .to_string(),
    );

    // A build script that exits non-zero refuses the push with its output;
    // the running release keeps serving.
    let npm = npm.unwrap();
    npm.write(
        "build.js",
        "console.error('build.js: cannot bundle src/missing.js');\nprocess.exit(3);\n",
    );
    npm.commit("break the build");
    let output = npm.push_refused();
    assert!(
        output.contains("-----> Running build")
            && output.contains("build.js: cannot bundle src/missing.js"),
        "{output}"
    );
    assert!(
        output
            .contains(" !     The build script failed (its output is above); the push is refused.")
            && output.contains(" !     Run `npm run build` locally to see why"),
        "{output}"
    );
    assert!(!output.contains("Pruning devDependencies"), "{output}");
    assert_eq!(server.get("npm", "/"), serving);

    // The package manager is in the dynos too, for `pnpm`/`yarn` in a Procfile.
    let output = server.ok(&[
        "run",
        "-a",
        "pnpm",
        "echo pnpm $(pnpm --version) npm $(npm --version)",
    ]);
    assert!(
        output.contains("pnpm 8.") && output.contains(" npm 9."),
        "{output}"
    );
}

#[test]
fn static_sites_serve_with_cache_headers_clean_urls_and_spa_fallback_also_when_built_by_node() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/static-site", "site");
    let output = repo.push_ok();
    assert!(output.contains("Static app detected"), "{output}");
    assert!(
        output.contains("Configuring nginx from static.json"),
        "{output}"
    );

    // Headers and body, lowercased: header names are case-insensitive.
    let get_from = |app: &str, path: &str| {
        let (status, text) = server.get_with(app, path, &["-i", "-m", "10"]);
        (status, text.to_lowercase())
    };
    let get = |path: &str| get_from("site", path);
    let (status, home) = get("/");
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("<h1>hello from a static site</h1>"), "{home}");
    assert!(home.contains("\ncache-control: no-cache\r"), "{home}");

    let (status, asset) = get("/assets/app.3f2a1b9c.js");
    assert_eq!(status, 200, "{asset}");
    assert!(
        asset.contains("\ncache-control: public, max-age=31536000, immutable\r"),
        "{asset}"
    );
    // static.json's headers apply by path.
    assert!(
        asset.contains("\naccess-control-allow-origin: *\r"),
        "{asset}"
    );
    let (status, css) = get("/assets/style.css");
    assert_eq!(status, 200, "{css}");
    assert!(
        css.contains("\ncache-control: public, max-age=3600\r"),
        "{css}"
    );

    // clean_urls: /about is about.html.
    let (status, about) = get("/about");
    assert_eq!(status, 200, "{about}");
    assert!(about.contains("about this static site"), "{about}");

    // The "/**" route: a path with no file is the app's index.html.
    let (status, route) = get("/dashboard/settings");
    assert_eq!(status, 200, "{route}");
    assert!(route.contains("hello from a static site"), "{route}");
    assert!(route.contains("\ncache-control: no-cache\r"), "{route}");

    // An index.html at the root, no static.json: detected, and served as
    // the files are (no clean URLs, no fallback).
    let plain = server.repo("tests/apps/static-site/public", "plain");
    let output = plain.push_ok();
    assert!(
        output.contains("Static app detected")
            && output.contains("Configuring nginx to serve the repository's files"),
        "{output}"
    );
    let (status, home) = get_from("plain", "/");
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("<h1>hello from a static site</h1>"), "{home}");
    assert!(home.contains("\ncache-control: no-cache\r"), "{home}");
    let (status, asset) = get_from("plain", "/assets/app.3f2a1b9c.js");
    assert_eq!(status, 200, "{asset}");
    assert!(asset.contains("immutable"), "{asset}");
    assert_eq!(get_from("plain", "/about.html").0, 200);
    assert_eq!(get_from("plain", "/about").0, 404);
    assert_eq!(get_from("plain", "/dashboard").0, 404);

    // A single-page app built by the Node.js buildpack (`npm run build`
    // writes dist/) and served by the static one, the last buildpack, whose
    // web process runs nginx on dist/.
    // Detection picks Node.js alone, which has nothing to start: refused,
    // saying to add the static buildpack.
    let spa = server.repo("tests/apps/spa", "spa");
    let output = spa.push_refused();
    assert!(
        output.contains("no process types: the app has no Procfile")
            && output.contains("run the static buildpack after Node.js's")
            && output.contains("`paas buildpacks:set nodejs`, then `paas buildpacks:add static`"),
        "{output}"
    );
    server.ok(&["buildpacks:set", "nodejs", "-a", "spa"]);
    server.ok(&["buildpacks:add", "static", "-a", "spa"]);
    let output = spa.push_ok();
    for expected in [
        // Installed by the refused push, kept in the app's cache.
        "Reusing node_modules (package-lock.json unchanged)",
        "-----> Running build",
        "wrote dist/index.html",
        "-----> Pruning devDependencies",
        "Configuring nginx from static.json",
        "Default types for buildpack -> web",
    ] {
        assert!(output.contains(expected), "{expected}:\n{output}");
    }
    let ps = server.ok(&["ps", "-a", "spa"]);
    assert!(ps.contains("=== web (1): /app/.paas/static/start"), "{ps}");
    let (status, home) = get_from("spa", "/");
    assert_eq!(status, 200, "{home}");
    assert!(
        home.contains("<h1>hello from the single-page app</h1>")
            && home.contains("\ncache-control: no-cache\r"),
        "{home}"
    );
    // The fingerprinted script the build wrote, cached for a year.
    let script = home
        .split('"')
        .find(|part| part.starts_with("/assets/app.") && part.ends_with(".js"))
        .unwrap_or_else(|| panic!("no script in {home}"))
        .to_string();
    let (status, asset) = get_from("spa", &script);
    assert_eq!(status, 200, "{asset}");
    assert!(
        asset.contains("\ncache-control: public, max-age=31536000, immutable\r")
            && asset.contains("rendered by the script: true"),
        "{asset}"
    );
    // A deep link is the app's index.html.
    let (status, deep) = get_from("spa", "/settings/profile");
    assert_eq!(status, 200, "{deep}");
    assert!(deep.contains("hello from the single-page app"), "{deep}");
    // Only dist/ is served: the sources, package.json and node_modules are
    // not files of the site, so they too are the app's index.html.
    for path in ["/package.json", "/build.js", "/node_modules/"] {
        let (status, text) = get_from("spa", path);
        assert!(
            status == 200 && text.contains("<h1>hello from the single-page app</h1>"),
            "{path}: {status} {text}"
        );
    }
}
