"""CLI commands for exports to other systems: export-fhir, sign-pdf, verify-pdf.

Every file written is audited in the store with its SHA-256 (no patient text): export-fhir through
the exports table, sign-pdf likewise when the PDF is a clinidoc export of a stored encounter (its
metadata names the encounter and version), else as an `export` audit event without an encounter.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import click

from clinidoc.records.commands import open_store, read_passphrase

P12_PASSPHRASE_ENV = "CLINIDOC_P12_PASSPHRASE"
_KEYWORDS_RE = re.compile(r"clinidoc, (?P<eid>\S+), version (?P<version>\d+)")


def _clinidoc_origin(pdf: Path) -> tuple[str, int] | None:
    """(encounter id, version) from the keywords clinidoc's PDF export writes, if this is one."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        with pdf.open("rb") as f:
            info = PdfFileReader(f, strict=False).trailer_view.get("/Info")
            keywords = str(info.get_object().get("/Keywords", "")) if info is not None else ""
    except Exception:  # not ours, or unreadable: signing will say so
        return None
    m = _KEYWORDS_RE.search(keywords)
    return (m["eid"], int(m["version"])) if m else None


def register(cli: click.Group) -> None:
    from clinidoc.cli import CONTEXT, clean_errors, data_dir_option

    @cli.command("export-fhir", context_settings=CONTEXT)
    @click.argument("encounter_id")
    @click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--version", "version", type=int, default=None, help="An older version (default: the latest).")
    @click.option("--mrn-system", default=None, metavar="URI", help="Identifier system URI of the hospital's MRNs.")
    @data_dir_option
    @clean_errors
    def export_fhir_cmd(encounter_id, output, version, mrn_system, data_dir):
        """Write a signed note as a FHIR R4 document Bundle (JSON) with the PDF attached."""
        from clinidoc.records.fhir import export_fhir

        with open_store(data_dir, False) as store:
            export_fhir(store, encounter_id, output, version=version, mrn_system=mrn_system)
        click.echo(f"wrote {output}")

    @cli.command("sign-pdf", context_settings=CONTEXT)
    @click.argument("in_pdf", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--p12", "p12", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="The clinician's certificate and key (PKCS#12); passphrase from CLINIDOC_P12_PASSPHRASE or a prompt.")
    @click.option("--reason", default="Clinical note signed by the treating clinician", show_default=True)
    @click.option("--signer", "signer_name", default=None, help="Signer name shown in PDF readers (default: the certificate's).")
    @data_dir_option
    @clean_errors
    def sign_pdf_cmd(in_pdf, output, p12, reason, signer_name, data_dir):
        """Add a cryptographic (PAdES) signature to an exported PDF with the clinician's certificate."""
        from clinidoc.errors import InputError
        from clinidoc.records.pdfsign import sign_pdf

        if in_pdf.resolve() == output.resolve():
            raise InputError("the output must be a new file; the exported PDF stays as it was", file=str(output))
        p12_pass = os.environ.get(P12_PASSPHRASE_ENV) or click.prompt("Certificate passphrase", hide_input=True,
                                                                     default="", show_default=False)
        origin = _clinidoc_origin(in_pdf)
        # the store first: no signed file is left behind without its audit entry
        with open_store(data_dir, False, read_passphrase()) as store:
            sign_pdf(in_pdf, output, p12, p12_pass, reason=reason, signer_name=signer_name)
            digest = hashlib.sha256(output.read_bytes()).hexdigest()
            actor = signer_name or "clinidoc"
            try:
                if origin is not None and origin[1] in store.versions(origin[0]):
                    eid, version = origin
                    store.record_export(eid, version, "pdf-signed", store.signature(eid, version) is None, digest,
                                        str(output.resolve()), actor)
                else:
                    store.append_audit("export", actor=actor, data={
                        "format": "pdf-signed", "sha256": digest,
                        "source_sha256": hashlib.sha256(in_pdf.read_bytes()).hexdigest(),
                    })
            except BaseException:
                output.unlink(missing_ok=True)
                raise
        click.echo(f"wrote {output}\nsha256 {digest}")

    @cli.command("verify-pdf", context_settings=CONTEXT)
    @click.argument("pdf", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--trust", "trust", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="A trusted CA certificate (PEM or DER); repeatable. Without it nothing is trusted.")
    @clean_errors
    def verify_pdf_cmd(pdf, trust):
        """Check a signed PDF offline; exit 0 only if every signature is intact, valid and trusted."""
        from clinidoc.records.pdfsign import verify_pdf_details

        details = verify_pdf_details(pdf, list(trust))
        for d in details:
            click.echo(f"{d.field}: signer {d.signer}; intact {'yes' if d.intact else 'NO'}, "
                       f"valid {'yes' if d.valid else 'NO'}, trusted {'yes' if d.trusted else 'NO'} "
                       f"(coverage {d.coverage.lower().replace('_', ' ')})")
        if all(d.intact and d.valid and d.trusted for d in details):
            click.echo("signature ok")
            return
        click.echo("clinidoc: signature check failed", err=True)
        sys.exit(1)
