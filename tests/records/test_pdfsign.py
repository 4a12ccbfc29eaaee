"""Cryptographic PDF signatures (pyHanko): a test CA and clinician certificate made with `cryptography`,
an exported note signed with them, validated offline; one flipped byte breaks it."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clinidoc.records.pdf import render_pdf
from clinidoc.records.pdfsign import (
    NotSigned, PdfSignError, load_certificates, sign_pdf, verify_pdf, verify_pdf_details,
)
from clinidoc.records.store import Signature
from test_store import sample_result

P12_PASS = "p12 secret"
SIGNER = "Dr Ada Lovelace"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "clinidoc test hospital")])


def make_ca(cn: str = "clinidoc test CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_signer(ca_key, ca_cert, cn: str = SIGNER):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca()
    key, cert = make_signer(ca_key, ca_cert)
    p12 = folder / "clinician.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"clinician", key, cert, [ca_cert], serialization.BestAvailableEncryption(P12_PASS.encode())))
    ca_pem = folder / "ca.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    other_key, other_ca = make_ca("some other CA")
    other_pem = folder / "other.pem"
    other_pem.write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    return {"p12": p12, "ca": ca_pem, "ca_cert": ca_cert, "other": other_pem, "folder": folder}


@pytest.fixture(scope="module")
def exported_pdf(tmp_path_factory):
    result = sample_result("enc-sig", with_error=False)
    sig = Signature("enc-sig", 1, SIGNER, "2026-12-04T22:00:00+00:00", "c" * 64)
    path = tmp_path_factory.mktemp("pdf") / "note.pdf"
    path.write_bytes(render_pdf(result, sig, 1, [], draft=False))
    return path


@pytest.fixture(scope="module")
def signed(pki, exported_pdf):
    out = exported_pdf.with_name("note.signed.pdf")
    sign_pdf(exported_pdf, out, pki["p12"], P12_PASS, reason="Clinical note signed", signer_name=SIGNER)
    return out


def _byte_range(data: bytes) -> list[int]:
    import re

    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    assert m, "no /ByteRange in the signed PDF"
    return [int(x) for x in m.groups()]


def test_signed_pdf_is_intact_valid_and_trusted(pki, exported_pdf, signed):
    data = signed.read_bytes()
    original = exported_pdf.read_bytes()
    assert data.startswith(original) and len(data) > len(original)  # incremental update: the export stays a prefix
    assert verify_pdf(signed, [pki["ca"]]) == (True, True, True)
    (detail,) = verify_pdf_details(signed, [pki["ca"]])
    assert detail.coverage == "ENTIRE_FILE" and SIGNER in detail.signer
    # the ByteRange covers the whole file except the signature contents
    a, b, c, d = _byte_range(data)
    assert a == 0 and c + d == len(data)


def test_pyhanko_validator_directly(pki, signed):
    """The same check, spelled out with pyHanko's own API, so the wrapper cannot hide a failure."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    with signed.open("rb") as f:
        (sig,) = PdfFileReader(f).embedded_signatures
        status = validate_pdf_signature(sig, ValidationContext(trust_roots=load_certificates([pki["ca"]])))
        assert status.intact and status.valid and status.trusted
        assert status.md_algorithm == "sha256"
        assert status.signing_cert.subject.native["common_name"] == SIGNER


def test_untrusted_root_is_valid_but_not_trusted(pki, signed):
    assert verify_pdf(signed, [pki["other"]]) == (True, True, False)
    assert verify_pdf(signed, []) == (True, True, False)  # no roots: never the system store


def test_one_flipped_byte_breaks_intact(pki, signed, tmp_path):
    data = bytearray(signed.read_bytes())
    a, b, c, d = _byte_range(bytes(data))
    # a byte of the document title, inside the first signed range: the file still parses
    pos = data.index(b"Clinical note enc-sig")
    assert a <= pos < a + b
    data[pos + 1] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    intact, valid, trusted = verify_pdf(tampered, [pki["ca"]])
    # pyHanko's `valid` is the CMS signature over the signed attributes, which still verifies; the
    # document digest inside them no longer matches the bytes, and that is `intact`
    assert intact is False
    assert verify_pdf(signed, [pki["ca"]]).intact is True  # the untouched file still is


def test_flip_in_page_content_breaks_intact(pki, signed, tmp_path):
    data = bytearray(signed.read_bytes())
    a, b, c, d = _byte_range(bytes(data))
    start = data.index(b"stream", a + b // 3) + len(b"stream\n") + 8  # inside some stream's bytes
    assert start < a + b
    data[start] ^= 0x80
    tampered = tmp_path / "tampered2.pdf"
    tampered.write_bytes(bytes(data))
    assert verify_pdf(tampered, [pki["ca"]]).intact is False


def test_appended_revision_is_flagged(pki, signed, tmp_path):
    """Content added after signing (an incremental update that changes a page) is not 'intact'."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    with signed.open("rb") as f:
        w = IncrementalPdfFileWriter(f)
        w.root["/Lang"] = generic.pdf_string("xx")  # change the document catalogue
        w.update_root()
        out = tmp_path / "modified.pdf"
        with out.open("wb") as o:
            w.write(o)
    intact, valid, trusted = verify_pdf(out, [pki["ca"]])
    assert intact is False
    (detail,) = verify_pdf_details(out, [pki["ca"]])
    assert detail.coverage != "ENTIRE_FILE"


def test_wrong_passphrase_and_unsigned(pki, exported_pdf, tmp_path):
    with pytest.raises(PdfSignError, match="wrong passphrase"):
        sign_pdf(exported_pdf, tmp_path / "x.pdf", pki["p12"], "not it", reason="r", signer_name=SIGNER)
    assert not (tmp_path / "x.pdf").exists()
    with pytest.raises(NotSigned):
        verify_pdf(exported_pdf, [pki["ca"]])


def test_load_certificates_accepts_objects_and_pem(pki):
    from_pem = load_certificates([pki["ca"]])
    from_obj = load_certificates([pki["ca_cert"]])
    assert len(from_pem) == 1 and from_pem[0].dump() == from_obj[0].dump()
    assert hashlib.sha256(from_pem[0].dump()).hexdigest() == hashlib.sha256(
        pki["ca_cert"].public_bytes(serialization.Encoding.DER)).hexdigest()
