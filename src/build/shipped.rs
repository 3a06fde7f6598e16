//! The buildpacks paas ships, compiled into the binary so one file installs
//! everything. Auto-detection runs them in this order; the first whose
//! `bin/detect` passes builds the app.

/// One shipped buildpack: its name and its files (`bin/detect`,
/// `bin/compile`, `bin/release`, the library every compile sources, then
/// any extra files it reads). The library is written into each buildpack
/// (`lib/common.sh`, from `buildpacks/lib/common.sh`) rather than once
/// beside them, so a buildpack's directory holds all it runs.
macro_rules! buildpack {
    ($name:literal $(, $extra:literal)*) => {
        (
            $name,
            &[
                ("bin/detect", include_str!(concat!("../../buildpacks/", $name, "/bin/detect"))),
                ("bin/compile", include_str!(concat!("../../buildpacks/", $name, "/bin/compile"))),
                ("bin/release", include_str!(concat!("../../buildpacks/", $name, "/bin/release"))),
                ("lib/common.sh", include_str!("../../buildpacks/lib/common.sh")),
                $(($extra, include_str!(concat!("../../buildpacks/", $name, "/", $extra))),)*
            ],
        )
    };
}

pub const SHIPPED: &[(&str, &[(&str, &str)])] = &[
    buildpack!("ruby", "support/ruby-version.rb"),
    buildpack!("nodejs", "lib/package.js"),
    buildpack!("python"),
    buildpack!(
        "php",
        "support/platform.php",
        "support/heroku-php-nginx",
        "support/nginx.conf",
        "support/nginx-location.conf",
        "support/php-fpm.conf"
    ),
    buildpack!("go"),
    buildpack!("rust"),
    buildpack!("static", "lib/nginx_conf.py", "lib/start"),
    buildpack!("procfile"),
];

#[cfg(test)]
mod tests {
    use super::SHIPPED;

    /// #18 point 6: the push's output format (`step`, `indent`, `fail`) and
    /// the reading of ENV_DIR with its deny list live once, in
    /// `lib/common.sh`; a compile with copies of its own drifts again.
    #[test]
    fn every_compile_sources_the_shared_library_and_copies_none_of_it() {
        for (name, files) in SHIPPED {
            let compile = files
                .iter()
                .find(|(path, _)| *path == "bin/compile")
                .map(|(_, text)| *text)
                .expect("every buildpack has bin/compile");
            assert!(
                compile.contains(". \"$(dirname \"$0\")/../lib/common.sh\"\n"),
                "{name}'s bin/compile does not source lib/common.sh"
            );
            for copy in ["step()", "indent()", "fail()", "\"$env_dir\"/*"] {
                assert!(
                    !compile.contains(copy),
                    "{name}'s bin/compile has its own `{copy}`"
                );
            }
        }
    }
}
