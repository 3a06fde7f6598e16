<?php
// psr/log comes from the committed vendor/ (`composer install --no-dev`),
// as packagist.org and GitHub are not reachable from the test machine.
require __DIR__ . '/../vendor/autoload.php';

class EchoLogger extends Psr\Log\AbstractLogger
{
    public function log($level, $message, array $context = [])
    {
        echo strtoupper($level) . ': ' . $message . "\n";
    }
}

header('Content-Type: text/plain');
$version = Composer\InstalledVersions::getPrettyVersion('psr/log');
(new EchoLogger())->info("Hello from psr/log $version on " . getenv('DYNO'));
