"""nginx around the repository's configs, outside the system service: deploy/smoke.py runs it,
tests/test_nginx_config.py checks the configs with `nginx -t`."""

from __future__ import annotations

from pathlib import Path

NGINX_DIR = Path(__file__).resolve().parent / "nginx"


def write_nginx_conf(workdir: Path, site: str) -> Path:
    """A minimal nginx.conf in `workdir` around `site` (a server config for the `http` block):
    pid, logs and temporary files in `workdir`, Debian's mime types, and snippets/ holding the
    repository's supportdesk-common.conf, as /etc/nginx/snippets/ does in production (nginx
    resolves relative includes against the folder of the file given with -c)."""
    workdir.mkdir(parents=True, exist_ok=True)
    snippets = workdir / "snippets"
    snippets.mkdir(exist_ok=True)
    (workdir / "temp").mkdir(exist_ok=True)
    common = snippets / "supportdesk-common.conf"
    common.unlink(missing_ok=True)
    common.symlink_to(NGINX_DIR / "supportdesk-common.conf")
    (workdir / "supportdesk-site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {workdir}/temp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = workdir / "nginx.conf"
    main.write_text(
        f"""worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log notice;
events {{
    worker_connections 1024;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/access.log;
{temp}
    include supportdesk-site.conf;
}}
"""
    )
    return main


def plain_http_site(*, listen: int, upstream_ports: list[int], root: Path) -> str:
    """deploy/nginx/supportdesk-plain-http.conf with its blanks filled in."""
    upstreams = "\n    ".join(f"server 127.0.0.1:{port};" for port in upstream_ports)
    text = (NGINX_DIR / "supportdesk-plain-http.conf").read_text()
    return (
        text.replace("@UPSTREAMS@", upstreams)
        .replace("@LISTEN@", str(listen))
        .replace("@ROOT@", str(root))
    )


def nginx_command(conf: Path) -> list[str]:
    # -e: the error log before the config is read (Debian's default is stderr, elsewhere a file
    # under /var/log that only root may open).
    return ["nginx", "-e", str(conf.parent / "error.log"), "-c", str(conf)]
