import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliberation.core.errors import InvalidInput
from deliberation.core.redline import apply_redline, compute_redline, redline_html, tokenize


def sides(segments):
    old = "".join(s["text"] for s in segments if s["op"] in ("equal", "delete"))
    new = "".join(s["text"] for s in segments if s["op"] in ("equal", "insert"))
    return old, new


def test_identical_texts_are_one_equal_segment():
    assert compute_redline("Article 1 applies.", "Article 1 applies.") == [{"op": "equal", "text": "Article 1 applies."}]


def test_empty_texts():
    assert compute_redline("", "") == []
    assert compute_redline("", "new text") == [{"op": "insert", "text": "new text"}]
    assert compute_redline("old text", "") == [{"op": "delete", "text": "old text"}]


def test_replacement_is_delete_then_insert():
    assert compute_redline("within thirty days", "within sixty days") == [
        {"op": "equal", "text": "within "},
        {"op": "delete", "text": "thirty"},
        {"op": "insert", "text": "sixty"},
        {"op": "equal", "text": " days"},
    ]


def test_whitespace_between_changes_is_folded_into_them():
    assert compute_redline("the quick fox jumps", "a slow dog jumps") == [
        {"op": "delete", "text": "the quick fox"},
        {"op": "insert", "text": "a slow dog"},
        {"op": "equal", "text": " jumps"},
    ]


def test_pure_insertion_and_deletion_of_words():
    assert compute_redline("shall register", "shall promptly register") == [
        {"op": "equal", "text": "shall "},
        {"op": "insert", "text": "promptly "},
        {"op": "equal", "text": "register"},
    ]
    assert compute_redline("shall promptly register", "shall register") == [
        {"op": "equal", "text": "shall "},
        {"op": "delete", "text": "promptly "},
        {"op": "equal", "text": "register"},
    ]


def test_punctuation_is_a_separate_token():
    assert tokenize("law, and order.") == ["law", ",", " ", "and", " ", "order", "."]
    assert compute_redline("the law.", "the law;") == [
        {"op": "equal", "text": "the law"},
        {"op": "delete", "text": "."},
        {"op": "insert", "text": ";"},
    ]


def test_cyrillic_and_kazakh_words_are_whole_tokens():
    assert tokenize("Қазақстан Республикасының заңы, әділет!") == ["Қазақстан", " ", "Республикасының", " ", "заңы", ",", " ", "әділет", "!"]
    for word in ("ә", "ғ", "қ", "ң", "ө", "ұ", "ү", "һ", "і"):
        assert tokenize(f"с{word}з") == [f"с{word}з"]
    segments = compute_redline("Үкімет құқығын шектейді.", "Үкімет өз құқығын шектемейді.")
    assert sides(segments) == ("Үкімет құқығын шектейді.", "Үкімет өз құқығын шектемейді.")
    assert [s["text"].strip() for s in segments if s["op"] == "insert"][0] == "өз"
    assert {"op": "delete", "text": "шектейді"} in segments
    assert {"op": "insert", "text": "шектемейді"} in segments


def test_combining_marks_stay_with_their_word():
    decomposed = "и\u0306од"  # и + combining breve
    assert tokenize(decomposed + " x") == [decomposed, " ", "x"]


def test_newlines_are_kept():
    segments = compute_redline("1. One.\n2. Two.", "1. One.\n2. Three.")
    assert sides(segments) == ("1. One.\n2. Two.", "1. One.\n2. Three.")
    assert segments == [
        {"op": "equal", "text": "1. One.\n2. "},
        {"op": "delete", "text": "Two"},
        {"op": "insert", "text": "Three"},
        {"op": "equal", "text": "."},
    ]


def test_non_strings_are_invalid_input():
    with pytest.raises(InvalidInput, match="redline needs two strings, got NoneType and str"):
        compute_redline(None, "x")  # type: ignore[arg-type]


words = st.sampled_from(["law", "the", "shall", "Закон", "әділет", "құқық", "ұйым", "ғылым", "өңір", "үкімет", "һәм", "ішкі", "a", "1"])
separators = st.sampled_from([" ", "  ", "\n", ", ", ". ", "; ", "\t", "-", "<", "&"])
texts = st.lists(st.one_of(words, separators), max_size=30).map("".join)


def check_invariants(old, new):
    segments = compute_redline(old, new)
    assert sides(segments) == (old, new)
    assert apply_redline(segments) == (old, new)
    for seg in segments:
        assert seg["op"] in ("equal", "insert", "delete")
        assert seg["text"]
    for a, b in zip(segments, segments[1:]):
        assert a["op"] != b["op"]
        # a delete is never directly preceded by an insert: replacements are delete, insert
        assert not (a["op"] == "insert" and b["op"] == "delete")


@settings(max_examples=300)
@given(texts, texts)
def test_redline_reconstructs_both_sides_wordlike(old, new):
    check_invariants(old, new)


@settings(max_examples=300)
@given(st.text(), st.text())
def test_redline_reconstructs_both_sides_any_unicode(old, new):
    check_invariants(old, new)


@given(st.text())
def test_tokens_cover_the_text(text):
    assert "".join(tokenize(text)) == text


@given(texts)
def test_redline_of_a_text_with_itself_has_no_changes(text):
    assert all(s["op"] == "equal" for s in compute_redline(text, text))


def test_redline_html_escapes_everything():
    segments = compute_redline('a <b> & "c"', 'a <i> & "c"')
    out = redline_html(segments)
    assert out == "a &lt;<del>b</del><ins>i</ins>&gt; &amp; &quot;c&quot;"
    assert redline_html([{"op": "delete", "text": "<script>"}, {"op": "insert", "text": "x'y"}]) == ("<del>&lt;script&gt;</del><ins>x&#x27;y</ins>")
    assert redline_html([]) == ""


def test_redline_html_rejects_bad_segments():
    with pytest.raises(InvalidInput, match=r"redline segment 1 has op 'replace', want one of"):
        redline_html([{"op": "equal", "text": "a"}, {"op": "replace", "text": "b"}])
    with pytest.raises(InvalidInput, match="redline segment 0 text must be a string, got int"):
        redline_html([{"op": "equal", "text": 3}])
    with pytest.raises(InvalidInput, match="redline segment 0 must be an object, got str"):
        redline_html(["equal"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="redline segment 0 has op None"):
        apply_redline([{}])
