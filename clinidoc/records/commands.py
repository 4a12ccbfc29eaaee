"""CLI commands over the store: sign, export-pdf, audit verify/export, store passwd, encounters."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from clinidoc.records.store import Store

PASSPHRASE_ENV = "CLINIDOC_PASSPHRASE"
NEW_PASSPHRASE_ENV = "CLINIDOC_NEW_PASSPHRASE"


def read_passphrase(prompt: str = "Store passphrase", *, confirm: bool = False, env: str = PASSPHRASE_ENV) -> str:
    """From the environment (scripts, tests) or a hidden prompt."""
    value = os.environ.get(env)
    if value:
        return value
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def open_store(data_dir: Path | str | None, create_if_missing: bool, passphrase: str | None = None) -> Store:
    """The store in data_dir (default: config.data_dir()), created on first use when asked.
    `clinidoc process` calls this, then `store.save_encounter(result, input_files)`, which audits
    extraction (per input, with its SHA-256), generation (models, SHA-256, params, template) and validation."""
    from clinidoc import config
    from clinidoc.records.store import StoreMissing

    folder = config.data_dir(data_dir)
    if Store.exists(folder):
        return Store.open(folder, passphrase if passphrase is not None else read_passphrase())
    if not create_if_missing:
        raise StoreMissing(f"no clinidoc store in {folder}; `clinidoc process` creates one")
    return Store.create(folder, passphrase if passphrase is not None else read_passphrase("New store passphrase", confirm=True))


def register(cli: click.Group) -> None:
    from clinidoc.cli import CONTEXT, clean_errors, data_dir_option

    @cli.command("sign", context_settings=CONTEXT)
    @click.argument("encounter_id")
    @click.option("--clinician", required=True, help="The signer's name, as it appears on the note.")
    @click.option("--override", "overrides", nargs=2, multiple=True, metavar="CODE REASON",
                  help="Accept an error-level warning with a reason (audited); repeatable.")
    @data_dir_option
    @clean_errors
    def sign(encounter_id, clinician, overrides, data_dir):
        """Sign a note (refused while error-level warnings are open); re-asks the passphrase."""
        passphrase = read_passphrase()
        with open_store(data_dir, False, passphrase) as store:
            for code, reason in overrides:
                store.override_warning(encounter_id, code, None, reason, clinician)
            sig = store.sign(encounter_id, clinician, passphrase)
        click.echo(f"signed {sig.encounter_id} v{sig.version} by {sig.signer} at {sig.signed_at}\nsha256 {sig.content_sha256}")

    @cli.command("export-pdf", context_settings=CONTEXT)
    @click.argument("encounter_id")
    @click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--draft", is_flag=True, help="Allow an unsigned note; every page is marked DRAFT.")
    @click.option("--version", "version", type=int, default=None, help="An older version (default: the latest).")
    @data_dir_option
    @clean_errors
    def export_pdf_cmd(encounter_id, output, draft, version, data_dir):
        """Write a note as a printable PDF (signed notes; unsigned only with --draft)."""
        from clinidoc.records.pdf import export_pdf

        with open_store(data_dir, False) as store:
            export_pdf(store, encounter_id, output, draft=draft, version=version)
        click.echo(f"wrote {output}")

    @cli.command("encounters", context_settings=CONTEXT)
    @data_dir_option
    @clean_errors
    def encounters(data_dir):
        """List stored encounters with their version and signing state."""
        with open_store(data_dir, False) as store:
            rows = store.list_encounters()
        if not rows:
            click.echo("no encounters")
        for r in rows:
            state = f"signed by {r.signer}" if r.signed else f"draft, {r.open_errors} open error(s)"
            click.echo(f"{r.encounter_id:<28} v{r.current_version:<3} {r.created_at}  {state}")

    @cli.group("audit", context_settings=CONTEXT)
    def audit_group() -> None:
        """The tamper-evident audit trail."""

    @audit_group.command("verify", context_settings=CONTEXT)
    @data_dir_option
    @clean_errors
    def audit_verify(data_dir):
        """Check the hash chain; exit 1 and name the first bad event if it was tampered with."""
        with open_store(data_dir, False) as store:
            rep = store.verify_audit()
        if rep.ok:
            click.echo(f"audit ok: {rep.events} events, head {rep.head_hash}")
            return
        click.echo(f"clinidoc: audit broken at event {rep.first_bad_id}: {rep.reason} ({rep.events} events before it are intact)", err=True)
        sys.exit(1)

    @audit_group.command("export", context_settings=CONTEXT)
    @click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @data_dir_option
    @clean_errors
    def audit_export(output, fmt, data_dir):
        """Write the audit trail as CSV or JSON (ids, hashes and codes; no patient text)."""
        with open_store(data_dir, False) as store:
            n = store.export_audit(output, fmt)
        click.echo(f"wrote {n} events to {output}")

    @cli.group("store", context_settings=CONTEXT)
    def store_group() -> None:
        """The encrypted store itself."""

    @store_group.command("passwd", context_settings=CONTEXT)
    @data_dir_option
    @clean_errors
    def passwd(data_dir):
        """Change the store passphrase (re-keys the database in one transaction)."""
        old = read_passphrase("Current passphrase")
        new = read_passphrase("New passphrase", confirm=True, env=NEW_PASSPHRASE_ENV)
        with open_store(data_dir, False, old) as store:
            store.change_passphrase(old, new)
        click.echo("passphrase changed")
