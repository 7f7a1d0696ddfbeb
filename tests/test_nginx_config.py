"""The nginx configs in deploy/nginx/ are valid for Debian's nginx (`nginx -t`): the production
site with its TLS server, and the plain-HTTP variant deploy/smoke.py runs for real."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts import script_module

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run installs it)"
)


def nginx_conf() -> ModuleType:
    return script_module("deploy/nginx_conf.py")


def nginx_t(conf: Path) -> subprocess.CompletedProcess[str]:
    command = nginx_conf().nginx_command(conf)
    return subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)


def test_the_production_site_config_is_valid(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: no certificate to test the TLS server with")
    # A throwaway certificate where the real one would be.
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=desk.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (ROOT / "deploy" / "nginx" / "supportdesk.conf").read_text()
    live = "/etc/letsencrypt/live/desk.example.com"
    assert f"{live}/fullchain.pem" in site
    assert f"{live}/privkey.pem" in site
    site = site.replace(f"{live}/fullchain.pem", str(cert)).replace(f"{live}/privkey.pem", str(key))
    result = nginx_t(nginx_conf().write_nginx_conf(tmp_path / "nginx", site))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_plain_http_variant_is_valid_and_shares_the_production_locations(
    tmp_path: Path,
) -> None:
    module = nginx_conf()
    site = module.plain_http_site(listen=8080, upstream_ports=[8001, 8002], root=tmp_path)
    assert not re.search(r"@[A-Z]+@", site), site
    assert "include snippets/supportdesk-common.conf;" in site
    production = (ROOT / "deploy" / "nginx" / "supportdesk.conf").read_text()
    assert "include snippets/supportdesk-common.conf;" in production
    result = nginx_t(module.write_nginx_conf(tmp_path / "nginx", site))
    assert result.returncode == 0, result.stderr
