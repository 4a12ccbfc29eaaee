import pytest

from clinidoc.knowledge.drugs import drug_dictionary


@pytest.fixture(scope="module")
def dd():
    return drug_dictionary()


def test_shared_instance(dd):
    assert drug_dictionary() is dd


@pytest.mark.parametrize(
    "name, generic",
    [
        ("metoprolol tartrate", "metoprolol"),
        ("Metoprolol Succinate ER", "metoprolol"),
        ("Lasix", "furosemide"),
        ("Eliquis", "apixaban"),
        ("Tylenol", "acetaminophen"),
        ("Synthroid", "levothyroxine"),
        ("levothyroxine sodium", "levothyroxine"),
        ("losartan potassium", "losartan"),
        ("potassium chloride", "potassium chloride"),
        ("sodium zirconium cyclosilicate", "sodium zirconium cyclosilicate"),
        ("not a drug at all", None),
    ],
)
def test_generic_name(dd, name, generic):
    assert dd.generic_name(name) == generic


def test_suggest_misspellings(dd):
    assert dd.suggest("apixiban")[0] == "apixaban"
    assert dd.suggest("lisinoprel", limit=2)[0] == "lisinopril"
    name, score = dd.suggest_scored("apixiban", 1)[0]
    assert name == "apixaban" and score >= 90
    # a real word is not a strong match for anything
    assert all(score < 90 for _, score in dd.suggest_scored("echocardiogram"))


def test_find_mentions_offsets_and_multiword(dd):
    text = "Plan: Sodium zirconium cyclosilicate ten grams by mouth. Start metoprolol tartrate 25 mg."
    ms = dd.find_mentions(text)
    assert [(m.text, m.generic) for m in ms] == [
        ("Sodium zirconium cyclosilicate", "sodium zirconium cyclosilicate"),
        ("metoprolol tartrate", "metoprolol"),
    ]
    assert text[ms[0].start : ms[0].end] == "Sodium zirconium cyclosilicate"


def test_analytes_and_words_are_not_drugs(dd):
    text = (
        "Labs: potassium six point four, sodium one thirty-four, glucose one hundred twelve. "
        "Drink water, oxygen saturation fine today. C-reactive protein eighty-six. Lithium level normal."
    )
    assert dd.find_mentions(text) == []
    dosed = dd.find_mentions("Potassium chloride twenty milliequivalents daily. Lithium three hundred milligrams twice daily.")
    assert [m.generic for m in dosed] == ["potassium chloride", "lithium"]


def test_salt_after_a_drug_is_absorbed(dd):
    ms = dd.find_mentions("Losartan potassium fifty milligrams daily")
    assert [(m.text, m.generic) for m in ms] == [("Losartan potassium", "losartan")]


def test_hotwords(dd):
    hw = dd.hotwords(["Ticagrelor", "zzdrug"])
    words = hw.split()
    assert words[:2] == ["ticagrelor", "zzdrug"]
    assert "metoprolol" in words and "apixaban" in words
    assert len(words) == len(set(words)) and len(hw) <= 480  # ~2.9 chars per Whisper token
    # the budget drops curated names, never the caller's
    long_extra = [f"drug{i:03d}" for i in range(60)]
    assert dd.hotwords(long_extra).split()[:60] == long_extra[:60][: len(dd.hotwords(long_extra).split())]
    assert len(dd.hotwords(long_extra)) <= 480


def test_combination_products_and_written_forms(dd):
    ms = dd.find_mentions("Amoxicillin-clavulanate 875 mg. TMP-SMX one tablet. C-reactive protein eighty-six.")
    assert [m.generic for m in ms] == ["amoxicillin and clavulanate", "trimethoprim/sulfamethoxazole"]
    assert dd.find_mentions("Stop lisinopril and spironolactone.")[1].generic == "spironolactone"
