<?php
// Served by PHP's built-in web server: php -S 0.0.0.0:8080 -t /www
header("Content-Type: text/plain");
echo "Hello from PHP " . PHP_VERSION . " in container " . gethostname() . "\n";
