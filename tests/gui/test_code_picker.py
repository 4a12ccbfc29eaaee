"""The ICD-10-CM cell offers billable candidates for the diagnosis; a pick is saved as the code alone."""

from PySide6.QtWidgets import QStyleOptionViewItem

from clinidoc.gui.note_editor import CodePicker, code_choices
from clinidoc.knowledge import icd10


def test_choices_lead_with_the_current_code_and_are_billable():
    choices = code_choices("type 2 diabetes with hyperglycemia", "E11.65")
    assert choices[0][0] == "E11.65"
    assert len(choices) > 1 and all(icd10.is_billable(code) for code, _ in choices)
    # a code typed by hand that is not a candidate is still shown first, marked when unknown
    assert code_choices("hypertension", "Z99.999")[0] == ("Z99.999", "not in ICD-10-CM")


def test_picking_a_candidate_edits_the_code_and_is_audited(opened, store, qtbot):
    w = opened
    table = w.editor.dx
    row = next(r for r in range(table.rowCount()) if table.item(r, 1).text() == "E11.65")
    delegate = table.itemDelegateForColumn(1)
    assert isinstance(delegate, CodePicker)
    index = table.model().index(row, 1)
    editor = delegate.createEditor(table.viewport(), QStyleOptionViewItem(), index)
    delegate.setEditorData(editor, index)
    assert editor.currentData() == "E11.65"
    other = next(editor.itemData(i) for i in range(editor.count()) if editor.itemData(i) != "E11.65")
    editor.setCurrentIndex(editor.findData(other))
    delegate.setModelData(editor, table.model(), index)
    assert w.doc.result.note.diagnoses[row].icd10 == other
    assert f"note.diagnoses.{row}.icd10" in [e["field"] for e in store.edits(w.doc.encounter_id)]
