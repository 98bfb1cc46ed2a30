"""The Mistral plugin against a StackStorm API on HTTPS with a self-signed certificate (made here,
served on 127.0.0.1): refused by default with a clear message, trusted with [st2] cacert, accepted
unverified with [st2] insecure (what st2mistral always did)."""
from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from oslo_config import cfg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "st2mistral_plugin"))

from mistral_v2.exceptions import StackStormAPIError  # noqa: E402
from st2mistral_plugin import config, st2_api  # noqa: E402


def _self_signed(tmp_path) -> Dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "st2.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "st2.crt", tmp_path / "st2.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return {"cert": str(cert_path), "key": str(key_path)}


@pytest.fixture
def https_st2(tmp_path) -> Iterator[Dict[str, Any]]:
    """A real HTTPS server on 127.0.0.1 answering like StackStorm's POST /api/v1/executions."""
    files = _self_signed(tmp_path)
    seen: List[Dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            seen.append({"path": self.path, "body": body})
            data = json.dumps({"id": "child1", "status": "requested"}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files["cert"], files["key"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield {"url": "https://127.0.0.1:%d/api/v1" % server.server_address[1], "seen": seen, **files}
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def st2_options():
    config.register_opts(cfg.CONF)
    for name, value in {"retry_attempts": 3, "retry_exp_msec": 1, "retry_exp_max_msec": 2,
                        "request_timeout": 5.0}.items():
        cfg.CONF.set_override(name, value, group="st2")
    yield
    for name in ("retry_attempts", "retry_exp_msec", "retry_exp_max_msec", "request_timeout", "cacert",
                 "insecure"):
        cfg.CONF.clear_override(name, group="st2")


def _post(url: str) -> Any:
    return st2_api.request("POST", url + "/executions", json_body={"action": "core.local"})


def test_self_signed_certificate_is_refused_by_default_with_the_fix_named(https_st2):
    with pytest.raises(StackStormAPIError) as err:
        _post(https_st2["url"])
    message = str(err.value)
    assert "certificate verify failed" in message
    assert "[st2] cacert" in message and "[st2] insecure" in message
    assert https_st2["seen"] == []                     # nothing reached the server, no retries


def test_cacert_trusts_the_self_signed_certificate(https_st2):
    cfg.CONF.set_override("cacert", https_st2["cert"], group="st2")
    resp = _post(https_st2["url"])
    assert resp.status_code == 201 and resp.json()["id"] == "child1"
    assert https_st2["seen"] == [{"path": "/api/v1/executions", "body": {"action": "core.local"}}]


def test_insecure_skips_verification_like_st2mistral(https_st2):
    cfg.CONF.set_override("insecure", True, group="st2")
    resp = _post(https_st2["url"])
    assert resp.status_code == 201 and len(https_st2["seen"]) == 1


def test_a_wrong_cacert_is_still_refused(https_st2, tmp_path):
    (tmp_path / "other").mkdir()
    other = _self_signed(tmp_path / "other")  # another self-signed CA
    cfg.CONF.set_override("cacert", other["cert"], group="st2")
    with pytest.raises(StackStormAPIError, match="certificate verify failed"):
        _post(https_st2["url"])


def test_tls_verify_values():
    assert config.tls_verify() is True
    cfg.CONF.set_override("cacert", "/etc/st2/ca.pem", group="st2")
    assert config.tls_verify() == "/etc/st2/ca.pem"
    cfg.CONF.set_override("insecure", True, group="st2")
    assert config.tls_verify() is False
