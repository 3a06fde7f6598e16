<?php
// php platform.php BUILD_DIR
// Checks what composer.json (and composer.lock's packages) ask of the
// platform against the stack's PHP before composer runs, so the push says
// plainly which PHP version or extension is missing and what the stack has.
// Composer would refuse too, but in its solver's words. Exits 1 on a mismatch.

$build = $argv[1];
$json = json_decode(file_get_contents("$build/composer.json"), true);
if (!is_array($json)) {
    fail(["composer.json is not valid JSON: " . json_last_error_msg()],
         "Check it with `composer validate` and push again.");
}

// What to check, and where the request came from (composer.json first).
$requests = [];
foreach (($json['require'] ?? []) as $name => $constraint) {
    $requests[] = [strtolower($name), (string) $constraint, 'composer.json'];
}
if (is_file("$build/composer.lock")) {
    $lock = json_decode(file_get_contents("$build/composer.lock"), true);
    foreach (($lock['packages'] ?? []) as $package) {
        foreach (($package['require'] ?? []) as $name => $constraint) {
            $requests[] = [strtolower($name), (string) $constraint, "package {$package['name']} (composer.lock)"];
        }
    }
}

// Composer\Semver comes with Debian's composer package, in the build image.
$semver = '/usr/share/php/Composer/Semver/autoload.php';
if (is_file($semver)) {
    require $semver;
}

// Composer's names for the loaded extensions: lower case, spaces as dashes.
$extensions = [];
foreach (get_loaded_extensions() as $extension) {
    $extensions[str_replace(' ', '-', strtolower($extension))] = true;
}
ksort($extensions);

foreach ($requests as [$name, $constraint, $source]) {
    if ($name === 'php') {
        if (!satisfies(PHP_VERSION, $constraint)) {
            fail(["$source asks for PHP $constraint; this stack has PHP " . PHP_VERSION . "."],
                 "Change require.php to allow PHP " . PHP_MAJOR_VERSION . "." . PHP_MINOR_VERSION
                 . " (e.g. \"^" . PHP_MAJOR_VERSION . "." . PHP_MINOR_VERSION . "\") and push again.");
        }
    } elseif (strncmp($name, 'ext-', 4) === 0) {
        $extension = substr($name, 4);
        if (!isset($extensions[$extension])) {
            fail(["$source requires the PHP extension $extension ($name), which this stack's PHP does not have.",
                  "The stack's PHP " . PHP_VERSION . " has: " . implode(', ', array_keys($extensions)) . "."],
                 "Remove $name from composer.json (or use one of those extensions) and push again.");
        }
    }
}

function satisfies(string $version, string $constraint): bool
{
    if (class_exists('Composer\Semver\Semver')) {
        try {
            return Composer\Semver\Semver::satisfies($version, $constraint);
        } catch (Exception $e) {
            fail(["composer.json's PHP constraint \"$constraint\" is not valid: " . $e->getMessage()],
                 "Fix require.php and push again.");
        }
    }
    return true; // Without Composer\Semver, composer's own platform check decides.
}

function fail(array $lines, string $todo): void
{
    foreach ($lines as $line) {
        fwrite(STDOUT, " !     $line\n");
    }
    fwrite(STDOUT, " !     $todo\n");
    exit(1);
}
