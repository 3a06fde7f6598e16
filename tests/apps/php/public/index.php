<?php
// The front controller: nginx sends every path that is not a file here.
header('Content-Type: text/plain');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path === '/') {
    echo 'Hello from PHP on ' . getenv('DYNO') . "\n";
} else {
    echo 'index.php routed ' . mb_strtoupper($path) . "\n";
}
