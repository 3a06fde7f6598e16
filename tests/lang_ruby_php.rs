//! End-to-end: the Ruby and PHP buildpacks. Neither rubygems.org nor
//! packagist.org is reachable from the test machine, so the fixtures build
//! offline: the Rack app with the stack's own puma and rack, the vendored
//! app from the gems committed in its vendor/cache, the PHP app with no
//! packages.

use crate::harness::TestServer;

#[test]
fn rack_app_builds_offline_with_the_stacks_gems_and_reuses_its_bundle() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/rack", "rack");
    let output = repo.push_ok();
    assert!(output.contains("Ruby app detected"), "{output}");
    assert!(output.contains("Using puma 5."), "{output}");
    assert_eq!(
        server.get("rack", "/"),
        (200, "Hello from Rack on web.1\n".to_string())
    );
    // With no Procfile, bin/release chose puma (the Gemfile.lock has it).
    let ps = server.ok(&["ps", "-a", "rack"]);
    assert!(
        ps.contains("=== web (1): bundle exec puma -b tcp://0.0.0.0:$PORT"),
        "{ps}"
    );

    // A code-only push reuses the installed bundle.
    let config = std::fs::read_to_string(repo.dir.path().join("config.ru")).unwrap();
    repo.write(
        "config.ru",
        &config.replace("Hello from Rack", "Hello again from Rack"),
    );
    repo.commit("change the greeting");
    let output = repo.push_ok();
    assert!(
        output.contains("Reusing the installed gems (Gemfile.lock unchanged)"),
        "{output}"
    );
    assert_eq!(
        server.get("rack", "/").1,
        "Hello again from Rack on web.1\n"
    );

    // A Ruby the stack does not have is refused, and v2 keeps serving.
    repo.write(".ruby-version", "3.3.0\n");
    repo.commit("ask for Ruby 3.3");
    let output = repo.push_refused();
    assert!(
        output.contains(".ruby-version asks for Ruby 3.3.0; this stack has Ruby 3.1."),
        "{output}"
    );

    // A gem that is neither in the stack nor vendored needs rubygems.org,
    // which is unreachable here: the push says so and what to do.
    repo.git(&["rm", "-q", ".ruby-version", "Gemfile.lock"]);
    let gemfile = std::fs::read_to_string(repo.dir.path().join("Gemfile")).unwrap();
    repo.write("Gemfile", &format!("{gemfile}gem \"sinatra\"\n"));
    repo.commit("add sinatra");
    let output = repo.push_refused();
    assert!(
        output.contains(" !     bundler could not reach rubygems.org"),
        "{output}"
    );
    assert!(output.contains("bundle package"), "{output}");
    assert_eq!(
        server.get("rack", "/"),
        (200, "Hello again from Rack on web.1\n".to_string())
    );
}

/// A real Rails app (the stack's Rails 6.1 from Debian, as rubygems.org is
/// unreachable here) with no Procfile: assets precompiled at build, puma
/// from config/puma.rb, production mode, and a SECRET_KEY_BASE made once.
#[test]
fn rails_app_precompiles_its_assets_and_runs_puma_in_production() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/rails", "rails");
    let output = repo.push_ok();
    assert!(output.contains("Ruby app detected"), "{output}");
    assert!(output.contains("Using rails 6.1.7"), "{output}");
    assert!(
        output.contains("Running: rake assets:precompile"),
        "{output}"
    );
    assert!(
        output.contains("Writing /app/public/assets/application-"),
        "{output}"
    );
    let ps = server.ok(&["ps", "-a", "rails"]);
    assert!(
        ps.contains("=== web (1): bundle exec puma -C config/puma.rb"),
        "{ps}"
    );
    let (status, page) = server.get("rails", "/");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Hello from Rails 6.1.7") && page.contains("in production on web.1"),
        "{page}"
    );
    // The page links the fingerprinted stylesheet, which Rails serves.
    let start = page
        .find("/assets/application-")
        .expect("a stylesheet link");
    let end = start + page[start..].find('"').unwrap();
    let (status, css) = server.get("rails", &page[start..end]);
    assert_eq!(status, 200, "{css}");
    assert!(css.contains("color: #235"), "{css}");

    // One-off dynos get the same environment: `paas run` a Rails runner.
    let runner = "bin/rails runner 'puts [Rails.env, ENV[\"SECRET_KEY_BASE\"]].join(\" \")'";
    let said = server.ok(&["run", "-a", "rails", runner]);
    let secret = said
        .lines()
        .find_map(|line| line.strip_prefix("production "))
        .unwrap_or_else(|| panic!("{said}"))
        .to_string();
    assert_eq!(secret.len(), 128, "{said}");

    // The next build keeps the secret (sessions survive a deploy); a
    // config var sets the app's own.
    repo.write(
        "app/views/pages/home.html.erb",
        "<p>Hello again from Rails on <%= @dyno %></p>\n",
    );
    repo.commit("a new greeting");
    let output = repo.push_ok();
    assert!(
        output.contains("Reusing the installed gems (Gemfile.lock unchanged)"),
        "{output}"
    );
    assert!(
        server
            .get("rails", "/")
            .1
            .contains("Hello again from Rails on web.1"),
        "{output}"
    );
    let said = server.ok(&["run", "-a", "rails", runner]);
    assert!(
        said.lines()
            .any(|line| line == format!("production {secret}")),
        "{said}"
    );
    server.ok(&["config:set", "-a", "rails", "SECRET_KEY_BASE=the-apps-own"]);
    let said = server.ok(&["run", "-a", "rails", runner]);
    assert!(
        said.lines().any(|line| line == "production the-apps-own"),
        "{said}"
    );
}

/// The fixture's `greeting` and `wordcount` gems exist only as `.gem` files
/// in its vendor/cache (built from tests/gems by tests/gems/build), as
/// `bundle package` leaves them; puma and rack are the stack's.
#[test]
fn vendored_gems_install_offline_from_vendor_cache_including_a_native_extension() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/ruby-vendored", "vendored");
    let output = repo.push_ok();
    assert!(
        output.contains("Installing gems with Bundler 2.3.15 from vendor/cache (no network)"),
        "{output}"
    );
    assert!(output.contains("Installing greeting 1.0.0"), "{output}");
    assert!(
        output.contains("Installing wordcount 0.1.0 with native extensions"),
        "{output}"
    );
    // The C extension compiled in the build image runs in the run image.
    assert_eq!(
        server.get("vendored", "/"),
        (
            200,
            "Hello from web.1, greeting 1.0.0 from vendor/cache\nwords: 7 (native: true)\n"
                .to_string()
        )
    );

    // A code-only push reuses the installed bundle, native extension included.
    let config = std::fs::read_to_string(repo.dir.path().join("config.ru")).unwrap();
    repo.write("config.ru", &config.replace("words:", "word count:"));
    repo.commit("rename the count");
    let output = repo.push_ok();
    assert!(
        output.contains("Reusing the installed gems (Gemfile.lock unchanged)"),
        "{output}"
    );
    assert!(output.contains("Using wordcount 0.1.0"), "{output}");
    assert_eq!(
        server.get("vendored", "/").1,
        "Hello from web.1, greeting 1.0.0 from vendor/cache\nword count: 7 (native: true)\n"
    );

    // A gem added to the Gemfile and its lock but not packaged is refused
    // with what to do, and v2 keeps serving.
    let gemfile = std::fs::read_to_string(repo.dir.path().join("Gemfile")).unwrap();
    repo.write("Gemfile", &format!("{gemfile}gem \"farewell\"\n"));
    let lock = std::fs::read_to_string(repo.dir.path().join("Gemfile.lock")).unwrap();
    let lock = lock
        .replace(
            "    greeting (1.0.0)\n",
            "    farewell (1.0.0)\n    greeting (1.0.0)\n",
        )
        .replace("  greeting\n", "  farewell\n  greeting\n");
    repo.write("Gemfile.lock", &lock);
    repo.commit("add farewell without packaging it");
    let output = repo.push_refused();
    assert!(
        output.contains(" !     bundle install --local failed (see above)."),
        "{output}"
    );
    assert!(
        output.contains("If a gem is missing from vendor/cache, run `bundle package` again"),
        "{output}"
    );
    assert!(output.contains("farewell"), "{output}");
    assert_eq!(
        server.get("vendored", "/").1,
        "Hello from web.1, greeting 1.0.0 from vendor/cache\nword count: 7 (native: true)\n"
    );
}

#[test]
fn php_app_is_served_by_nginx_and_php_fpm_and_refuses_what_the_stack_lacks() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/php", "php");
    let output = repo.push_ok();
    assert!(output.contains("PHP app detected"), "{output}");
    assert!(
        output.contains("Document root: public/ (composer.json extra.paas.document-root)"),
        "{output}"
    );
    assert_eq!(
        server.get("php", "/"),
        (200, "Hello from PHP on web.1\n".to_string())
    );
    // A path that is no file goes to the front controller, public/index.php
    // (which upper-cases it with mbstring, the extension composer.json asks for).
    assert_eq!(
        server.get("php", "/some/path"),
        (200, "index.php routed /SOME/PATH\n".to_string())
    );
    // A static file comes from nginx itself; files outside the document
    // root are not served.
    let (status, response) = server.get_with("php", "/robots.txt", &["-m", "10", "-i"]);
    assert_eq!(status, 200, "{response}");
    assert!(
        response.to_lowercase().contains("server: nginx"),
        "{response}"
    );
    assert!(
        response.ends_with("A static file, served by nginx.\n"),
        "{response}"
    );
    assert_eq!(
        server.get("php", "/composer.json").1,
        "index.php routed /COMPOSER.JSON\n"
    );

    // A code-only push reuses the installed packages.
    let index = std::fs::read_to_string(repo.dir.path().join("public/index.php")).unwrap();
    repo.write(
        "public/index.php",
        &index.replace("'Hello from PHP", "'Hello again from PHP"),
    );
    repo.commit("change the greeting");
    let output = repo.push_ok();
    assert!(
        output.contains("Reusing the installed packages (composer.lock unchanged)"),
        "{output}"
    );
    assert_eq!(server.get("php", "/").1, "Hello again from PHP on web.1\n");

    // An extension the stack's PHP lacks is refused, naming it and what the
    // stack has; so is a PHP version it cannot satisfy. v2 keeps serving.
    let composer = std::fs::read_to_string(repo.dir.path().join("composer.json")).unwrap();
    repo.write(
        "composer.json",
        &composer.replace(
            "\"ext-mbstring\": \"*\"",
            "\"ext-mbstring\": \"*\",\n        \"ext-mongodb\": \"*\"",
        ),
    );
    repo.commit("require mongodb");
    let output = repo.push_refused();
    assert!(
        output.contains("requires the PHP extension mongodb (ext-mongodb), which this stack's PHP does not have"),
        "{output}"
    );
    assert!(output.contains("has: bcmath, "), "{output}");
    repo.write(
        "composer.json",
        &composer.replace("\"php\": \"^8.1\"", "\"php\": \"^8.3\""),
    );
    repo.commit("require PHP 8.3");
    let output = repo.push_refused();
    assert!(
        output.contains("composer.json asks for PHP ^8.3; this stack has PHP 8.2."),
        "{output}"
    );
    let serving = (200, "Hello again from PHP on web.1\n".to_string());
    assert_eq!(server.get("php", "/"), serving);

    // A real package, locked but not committed in vendor/: composer
    // downloads it from where composer.lock says (GitHub), which this server
    // cannot reach. Refused, naming the host, packagist.org and the remedy.
    repo.write(
        "composer.json",
        &composer.replace(
            "\"ext-mbstring\": \"*\"",
            "\"ext-mbstring\": \"*\",\n        \"psr/log\": \"^3.0\"",
        ),
    );
    let lock = std::fs::read_to_string(repo.dir.path().join("composer.lock")).unwrap();
    repo.write(
        "composer.lock",
        &lock
            .replace(
                "be9ff010bc706bfeea2db38cb2e69e90",
                "1040e30e3e573580a0f193fc0fd03599",
            )
            .replace("\"packages\": [],", &format!("\"packages\": [{PSR_LOG}],")),
    );
    repo.commit("require psr/log");
    let output = repo.push_refused();
    assert!(
        output.contains("composer could not download the app's packages: this server cannot reach api.github.com"),
        "{output}"
    );
    assert!(
        output.contains("packagist.org (repo.packagist.org), the PHP package registry"),
        "{output}"
    );
    assert!(
        output.contains("commit the vendor/ directory (after `composer install --no-dev`)"),
        "{output}"
    );
    assert_eq!(server.get("php", "/"), serving);

    // Which is what works offline: an app that committed its vendor/ (here
    // psr/log 1.1.4, from Debian's copy) builds with no network, composer
    // writing only the autoloader.
    let vendored = server.repo("tests/apps/php-vendored", "phpvendored");
    let output = vendored.push_ok();
    for expected in [
        "Using the committed vendor/ directory",
        "Nothing to install, update or remove",
        "Generating optimized autoload files",
    ] {
        assert!(output.contains(expected), "{expected}:\n{output}");
    }
    assert_eq!(
        server.get("phpvendored", "/"),
        (200, "INFO: Hello from psr/log 1.1.4 on web.1\n".to_string())
    );

    // An index.php alone (no composer.json) is a PHP app, served from the
    // app's root...
    repo.git(&["rm", "-q", "composer.json", "composer.lock"]);
    repo.write(
        "index.php",
        "<?php\nheader('Content-Type: text/plain');\necho 'Hello from index.php alone on ' . getenv('DYNO') . \"\\n\";\n",
    );
    repo.commit("index.php alone");
    let output = repo.push_ok();
    assert!(output.contains("PHP app detected"), "{output}");
    assert!(
        output.contains("No composer.json: no packages to install"),
        "{output}"
    );
    assert!(output.contains("Document root: the app's root"), "{output}");
    assert_eq!(
        server.get("php", "/"),
        (200, "Hello from index.php alone on web.1\n".to_string())
    );
    // ... unless the DOCUMENT_ROOT config var names another directory.
    server.ok(&["config:set", "DOCUMENT_ROOT=public", "-a", "php"]);
    assert_eq!(server.get("php", "/"), serving);
}

/// composer.lock's entry for psr/log 3.0.0, as packagist.org describes it.
const PSR_LOG: &str = r#"{"name": "psr/log", "version": "3.0.0",
    "source": {"type": "git", "url": "https://github.com/php-fig/log.git", "reference": "fe5ea303b0887d5caefd3d431c3e61ad47037001"},
    "dist": {"type": "zip", "url": "https://api.github.com/repos/php-fig/log/zipball/fe5ea303b0887d5caefd3d431c3e61ad47037001", "reference": "fe5ea303b0887d5caefd3d431c3e61ad47037001", "shasum": ""},
    "require": {"php": ">=8.0.0"}, "type": "library", "autoload": {"psr-4": {"Psr\\Log\\": "src"}},
    "notification-url": "https://packagist.org/downloads/", "license": ["MIT"],
    "description": "Common interface for logging libraries", "time": "2021-07-14T16:46:02+00:00"}"#;
