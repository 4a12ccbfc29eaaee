import pytest

from clinidoc.extraction.numbers import find_numbers, parse_number


@pytest.mark.parametrize(
    "text, values",
    [
        ("one thirty-eight over eighty-six", [138, 86]),
        ("one forty-eight over ninety-two", [148, 92]),
        ("one hundred eight over sixty-six", [108, 66]),
        ("one twenty-four over seventy-six", [124, 76]),
        ("one eighteen over seventy-two", [118, 72]),
        ("one hundred twelve", [112]),
        ("one hundred and twelve", [112]),
        ("thirty-six point eight", [36.8]),
        ("zero point one two five", [0.125]),
        ("two point five", [2.5]),
        ("point five", [0.5]),
        ("twenty-five hundred", [2500]),
        ("one thousand two hundred forty", [1240]),
        ("two thousand four hundred fifty", [2450]),
        ("six hundred fifty", [650]),
        ("ninety-seven percent", [97]),
        ("seventy four", [74]),
        ("one oh one point five", [101.5]),
        ("138/86", [138, 86]),
        ("25 mg", [25]),
        ("0.125", [0.125]),
        ("2,500 units", [2500]),
        ("four zero two one one eight seven three", [40211873]),
        ("heart rate eighty-four and irregularly irregular", [84]),
        ("from seventy-five to one hundred micrograms", [75, 100]),
        ("type two diabetes for three days", [2, 3]),
    ],
)
def test_find_numbers_values(text, values):
    assert [n.value for n in find_numbers(text)] == values


def test_spans_point_at_the_spoken_words():
    text = "Blood pressure one thirty-eight over eighty-six."
    first, second = find_numbers(text)
    assert (first.text, text[first.start : first.end]) == ("one thirty-eight", "one thirty-eight")
    assert second.text == "eighty-six"


def test_words_that_are_not_numbers():
    assert find_numbers("Oh, she is alert and a bit tired") == []
    assert parse_number("thirty-six point eight") == 36.8
    assert parse_number("about thirty") is None
    assert parse_number("hundred") is None
