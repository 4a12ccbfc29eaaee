"""The facts shown beside an ECG say why a rhythm could not be read."""

from __future__ import annotations

from clinidoc.encounter import EcgFinding, Evidence
from clinidoc.gui.ecg_view import finding_rows


def test_indeterminate_rhythm_shows_its_reason() -> None:
    f = EcgFinding(rhythm="indeterminate", heart_rate_bpm=96, source=Evidence(source="ecg.png"),
                   rhythm_reason="noisy lead: AF cannot be told from artefact")
    rows = dict(finding_rows(f))
    assert rows["Rhythm"] == "Indeterminate (noisy lead: AF cannot be told from artefact)"
    assert dict(finding_rows(EcgFinding(rhythm="sinus_rhythm", source=Evidence(source="e"))))["Rhythm"] == "Sinus rhythm"
