"""Writes the nginx configuration for a static site, from its static.json
(Heroku's static buildpack format), to stdout. Usage: nginx_conf.py BUILD_DIR

What is honoured from static.json:
  root         the document root, relative to the repository (default:
               `public_html/` when it exists, else the repository itself)
  clean_urls   true: `/about` serves `about.html`
  error_page   the page sent with 404s, relative to the root (e.g. "404.html")
  routes       {"/**": "index.html"}: paths with no file of their own serve
               that file (`*` is one path segment, `**` any number)
  headers      {"/assets/**": {"Access-Control-Allow-Origin": "*"}}: extra
               response headers by request path (same globs); first match wins
  redirects    {"/old": {"url": "/new", "status": 301}}: exact paths
Anything else (https_only, proxies, basic_auth, ...) is ignored with a warning.

Caching, unless a `headers` entry sets Cache-Control: HTML `no-cache`,
fingerprinted files (a content hash in the name, e.g. `app.3f2a1b.js`,
`main-8c1f0e5d.css`, `chunk-ABCD2345.js`) a year and `immutable`, anything
else an hour. The port, worker count and run directory are filled in by the
start script at dyno start (@PORT@, @WORKERS@, @RUN@).
"""

import json
import os
import re
import sys

# A content hash in a file name, after a `.` or `-`: 6+ hex digits with a
# digit among them (webpack, Parcel, CRA, Vite 4), 8 base32 characters with a
# digit (esbuild), or 8 base64url characters mixing digits and both cases
# (Vite 5, Rollup). Words like `facade` or `Dropdown` do not count.
FINGERPRINT = (
    r"[.-](?:(?=[a-f]*[0-9])[0-9a-f]{6,}"
    r"|(?=[A-Z]*[2-7])[A-Z2-7]{8}"
    r"|(?=[A-Za-z_-]*[0-9])(?=[0-9a-z_-]*[A-Z])(?=[0-9A-Z_-]*[a-z])[A-Za-z0-9_-]{8})"
    r"\.[^/]*$"
)

KNOWN = {"root", "clean_urls", "error_page", "routes", "headers", "redirects"}
ADVICE = {
    "https_only": "use `paas certs:redirect on`",
}


def fail(message):
    print(f" !     static.json: {message}", file=sys.stderr)
    sys.exit(1)


def warn(message):
    print(f"       warning: {message}", file=sys.stderr)


def quoted(text, what):
    """A double-quoted nginx string; `$` is kept literal through $dollar."""
    if not isinstance(text, str):
        fail(f"{what} must be a string, not {json.dumps(text)}")
    if any(c in text for c in '"\\') or any(ord(c) < 32 for c in text):
        fail(f"{what} {json.dumps(text)} may not contain quotes, backslashes or control characters")
    return '"' + text.replace("$", "${dollar}") + '"'


def site_path(text, what):
    """A path under the document root, as nginx's URI: `/x`."""
    if not isinstance(text, str) or not text or ".." in text.split("/"):
        fail(f"{what} must be a path inside the root, not {json.dumps(text)}")
    return quoted("/" + text.lstrip("/"), what)


def glob_regex(pattern, what):
    """Heroku's path globs: `**` is anything, `*` anything but `/`."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        fail(f"{what} {json.dumps(pattern)} must be a path starting with /")
    if any(c in pattern for c in '"\\') or any(ord(c) < 32 for c in pattern):
        fail(f"{what} {json.dumps(pattern)} may not contain quotes or backslashes")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            c = pattern[i]
            out.append(c if c.isalnum() or c in "/_" else "\\" + c)
            i += 1
    return "".join(out)


def main():
    build = sys.argv[1]
    path = os.path.join(build, "static.json")
    config = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            fail(f"not valid JSON: {e}")
        if not isinstance(config, dict):
            fail("must be a JSON object")
    for key in config:
        if key not in KNOWN:
            advice = ADVICE.get(key, "not supported here")
            warn(f"static.json `{key}` is ignored ({advice})")

    default_root = "public_html" if os.path.isdir(os.path.join(build, "public_html")) else "."
    root = config.get("root", default_root)
    if not isinstance(root, str) or root.startswith("/") or ".." in root.split("/"):
        fail(f"`root` must be a directory inside the repository, not {json.dumps(root)}")
    root = os.path.normpath(root)
    if not os.path.isdir(os.path.join(build, root)):
        fail(f"the root directory `{root}` does not exist")
    if not os.path.exists(os.path.join(build, root, "index.html")):
        warn(f"`{root}/index.html` does not exist: `/` will answer 404")
    app_root = "/app" if root == "." else "/app/" + root

    clean_urls = config.get("clean_urls", False)
    if not isinstance(clean_urls, bool):
        fail("`clean_urls` must be true or false")
    tries = "$uri $uri.html $uri/" if clean_urls else "$uri $uri/"

    routes = config.get("routes", {})
    headers = config.get("headers", {})
    redirects = config.get("redirects", {})
    for name, value in [("routes", routes), ("headers", headers), ("redirects", redirects)]:
        if not isinstance(value, dict):
            fail(f"`{name}` must be an object")

    lines = []
    emit = lines.append

    # Extra headers by request path: one map per header name (nginx cannot
    # take a header's name from a variable), keyed on the path as requested.
    header_maps = {}
    for pattern, values in headers.items():
        regex = glob_regex(pattern, "headers path")
        if not isinstance(values, dict):
            fail(f"headers for {pattern} must be an object of name: value")
        for name, value in values.items():
            if not re.fullmatch(r"[A-Za-z0-9-]+", name):
                fail(f"header name {json.dumps(name)} is not valid")
            entry = (regex, quoted(value, f"header {name}"))
            header_maps.setdefault(name.lower(), (name, []))[1].append(entry)
    user_cache = header_maps.pop("cache-control", None)

    emit("# Written by the static buildpack at build time; start fills in @PORT@,")
    emit("# @WORKERS@ and @RUN@ at dyno start.")
    emit("worker_processes @WORKERS@;")
    emit("daemon off;")
    emit("pid @RUN@/nginx.pid;")
    emit("error_log stderr;")
    emit("events { worker_connections 1024; }")
    emit("http {")
    emit("  include /etc/nginx/mime.types;")
    emit("  default_type application/octet-stream;")
    emit("  charset utf-8;")
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]:
        emit(f"  {temp}_temp_path @RUN@/{temp};")
    emit("  log_format static '$http_x_forwarded_for \"$request\" $status $body_bytes_sent '")
    emit("                    '${request_time}s \"$http_referer\" \"$http_user_agent\"';")
    emit("  access_log /dev/stdout static;")
    emit("  server_tokens off;")
    emit("  sendfile on;")
    emit("  tcp_nopush on;")
    emit("  keepalive_timeout 65;")
    emit("  gzip on;")
    emit("  gzip_static on;")
    emit("  gzip_vary on;")
    emit("  gzip_proxied any;")
    emit("  gzip_min_length 256;")
    emit("  gzip_comp_level 5;")
    emit("  gzip_types text/plain text/css text/xml text/javascript application/javascript")
    emit("             application/json application/xml application/rss+xml application/atom+xml")
    emit("             application/manifest+json application/wasm image/svg+xml font/ttf font/otf;")
    emit('  geo $dollar { default "$"; }')
    # Decided by the served file's name ($uri is the file after index,
    # try_files and routes), not by its content type, which nginx clears on
    # a 304: a revalidated page keeps `no-cache`.
    emit("  map $uri $static_default_cache_control {")
    emit('    "~\\.html?$" "no-cache";')
    emit(f'    "~{FINGERPRINT}" "public, max-age=31536000, immutable";')
    emit('    default "public, max-age=3600";')
    emit("  }")
    emit("  map $request_uri $static_cache_control {")
    for regex, value in (user_cache[1] if user_cache else []):
        emit(f'    "~^{regex}(?:\\?.*)?$" {value};')
    emit("    default $static_default_cache_control;")
    emit("  }")
    for index, (name, entries) in enumerate(header_maps.values()):
        emit(f"  map $request_uri $static_header_{index} {{")
        for regex, value in entries:
            emit(f'    "~^{regex}(?:\\?.*)?$" {value};')
        emit('    default "";')
        emit("  }")
    emit("  server {")
    emit("    listen @PORT@;")
    emit(f"    root {quoted(app_root, 'root')};")
    emit("    index index.html index.htm;")
    # Behind the router: a redirect (e.g. `/dir` to `/dir/`) must not name
    # nginx's own port.
    emit("    absolute_redirect off;")
    emit("    add_header Cache-Control $static_cache_control;")
    for index, (name, _) in enumerate(header_maps.values()):
        emit(f"    add_header {name} $static_header_{index};")
    error_page = config.get("error_page")
    if error_page is not None:
        target = site_path(error_page, "`error_page`")
        if not os.path.isfile(os.path.join(build, root, error_page.lstrip("/"))):
            warn(f"error_page `{error_page}` does not exist in `{root}`")
        emit(f"    error_page 404 {target};")
    # Dotfiles (.profile.d, .paas, .git...) are not part of the site;
    # .well-known is.
    emit('    location ~ "/\\.(?!well-known/)" { return 404; }')
    if root == ".":
        for private in ["static.json", "Procfile", "app.json"]:
            emit(f"    location = /{private} {{ return 404; }}")
    for source, target in redirects.items():
        if not isinstance(target, dict) or "url" not in target:
            fail(f'redirect for {source} must be {{"url": "...", "status": 301}}')
        status = target.get("status", 301)
        if status not in (301, 302, 303, 307, 308):
            fail(f"redirect status for {source} must be 301, 302, 303, 307 or 308")
        if "*" in source:
            fail(f"redirect {source}: only exact paths are supported")
        emit(f"    location = {quoted(source, 'redirect path')} {{ return {status} {quoted(target['url'], 'redirect url')}; }}")
    emit(f"    location / {{ try_files {tries} =404; }}")
    for pattern, target in routes.items():
        regex = glob_regex(pattern, "route")
        file = site_path(target, f"route target for {pattern}")
        if not os.path.isfile(os.path.join(build, root, target.lstrip("/"))):
            warn(f"route target `{target}` does not exist in `{root}`")
        emit(f'    location ~ "^{regex}$" {{ try_files {tries} {file}; }}')
    emit("  }")
    emit("}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
