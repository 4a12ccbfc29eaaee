"""Cryptographic (PAdES / PKCS#7 detached) signatures on exported PDFs, with pyHanko.

`sign_pdf` signs with the clinician's PKCS#12 bundle (key, certificate and any CA certificates in
it). `verify_pdf` checks every signature in a file against the trust roots given, offline (no CRL or
OCSP fetching), and answers three things:

- intact:  the signed bytes are unchanged, and nothing added after signing falls outside what the
           signature's document-modification policy allows;
- valid:   the signature itself verifies with the signer's certificate;
- trusted: the signer's certificate chains up to one of the trust roots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

from clinidoc.errors import ClinidocError, InputError


class PdfSignError(ClinidocError):
    """The PDF could not be signed (bad certificate bundle or passphrase, unreadable PDF)."""


class NotSigned(ClinidocError):
    """The PDF carries no signature to verify."""


class PdfVerification(NamedTuple):
    intact: bool
    valid: bool
    trusted: bool


@dataclass(frozen=True)
class SignatureDetail:
    field: str
    signer: str
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modification: str | None
    summary: str


def _load_signer(p12_path: Path, passphrase: str | bytes | None):
    from pyhanko.sign import signers

    p12_path = Path(p12_path)
    if not p12_path.is_file():
        raise InputError("certificate bundle not found", file=str(p12_path))
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    try:
        signer = signers.SimpleSigner.load_pkcs12(str(p12_path), passphrase=passphrase or None)
    except Exception:  # pyHanko raises or logs, depending on the failure; one clear message either way
        signer = None
    if signer is None:
        raise PdfSignError(f"cannot open the certificate bundle {p12_path.name}: wrong passphrase or not a PKCS#12 file")
    return signer


def sign_pdf(in_pdf: Path, out_pdf: Path, p12_path: Path, p12_passphrase: str | bytes | None, *,
             reason: str = "Clinical note signed by the treating clinician", signer_name: str | None = None,
             location: str | None = None, field_name: str = "ClinicianSignature") -> Path:
    """Sign `in_pdf` as an incremental update written to `out_pdf` (SHA-256, invisible signature field).
    The original bytes stay a prefix of the output, so the unsigned export keeps its own SHA-256 audit."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign import signers

    in_pdf, out_pdf = Path(in_pdf), Path(out_pdf)
    signer = _load_signer(p12_path, p12_passphrase)
    try:
        data = in_pdf.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read PDF ({exc.strerror})", file=str(in_pdf))
    if not data.startswith(b"%PDF"):
        raise InputError("not a PDF", file=str(in_pdf))
    import io

    meta = signers.PdfSignatureMetadata(
        field_name=field_name, md_algorithm="sha256", reason=reason, name=signer_name, location=location,
    )
    out = io.BytesIO()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        signers.sign_pdf(writer, meta, signer=signer, output=out)
    except (PdfError, ValueError) as exc:
        raise PdfSignError(f"cannot sign {in_pdf.name}: {exc}") from None
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_pdf.with_name(f".{out_pdf.name}.tmp")
    tmp.write_bytes(out.getvalue())
    os.replace(tmp, out_pdf)
    return out_pdf


def load_certificates(items: Iterable) -> list:
    """asn1crypto certificates from paths (PEM, one or more, or DER), bytes, or certificate objects."""
    from asn1crypto import pem, x509 as a_x509

    out = []
    for item in items or []:
        if isinstance(item, a_x509.Certificate):
            out.append(item)
            continue
        if hasattr(item, "public_bytes"):  # a `cryptography` certificate
            from cryptography.hazmat.primitives.serialization import Encoding

            out.append(a_x509.Certificate.load(item.public_bytes(Encoding.DER)))
            continue
        if isinstance(item, (str, Path)):
            try:
                blob = Path(item).read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read certificate ({exc.strerror})", file=str(item))
        else:
            blob = bytes(item)
        try:
            if pem.detect(blob):
                out += [a_x509.Certificate.load(der) for kind, _, der in pem.unarmor(blob, multiple=True)
                        if kind == "CERTIFICATE"]
            else:
                cert = a_x509.Certificate.load(blob)
                cert.native  # parse now: a bad file fails here, not deep inside validation
                out.append(cert)
        except (ValueError, TypeError):
            raise InputError("not a PEM or DER certificate", file=str(item) if isinstance(item, (str, Path)) else None)
    return out


def verify_pdf_details(path: Path, trust_roots: Iterable = ()) -> list[SignatureDetail]:
    """One SignatureDetail per embedded signature. Raises NotSigned when there is none."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = load_certificates(trust_roots)
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read PDF ({exc.strerror})", file=str(path))
    import io

    details = []
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
        if not sigs:
            raise NotSigned(f"{path.name} carries no digital signature")
        for sig in sigs:
            # an explicit (possibly empty) root list: never the system's trust store
            vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
            st = validate_pdf_signature(sig, vc)
            mod = st.modification_level
            intact = bool(st.intact) and st.docmdp_ok is not False
            name = st.signing_cert.subject.human_friendly if st.signing_cert is not None else "unknown"
            details.append(SignatureDetail(
                field=sig.field_name, signer=name, intact=intact, valid=bool(st.valid), trusted=bool(st.trusted),
                coverage=st.coverage.name if st.coverage is not None else "NONE",
                modification=mod.name if mod is not None else None, summary=st.summary(),
            ))
    except PdfError as exc:
        raise InputError(f"cannot read PDF ({exc})", file=str(path)) from None
    return details


def verify_pdf(path: Path, trust_roots: Iterable = ()) -> PdfVerification:
    """(intact, valid, trusted) over all signatures in the file: each is True only if it holds for every one."""
    details = verify_pdf_details(path, trust_roots)
    return PdfVerification(all(d.intact for d in details), all(d.valid for d in details),
                           all(d.trusted for d in details))
