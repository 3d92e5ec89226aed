import pytest

from deliberation.core.document import (
    ConsolidatedProvision,
    ProvisionVersionRow as Row,
    consolidate,
    initial_positions,
    next_insert_number,
    position_between,
    to_html,
    to_markdown,
)
from deliberation.core.errors import InvalidInput

# version 1: article 1 with paragraphs 1, 2; article 2 with paragraph 1
# version 2: paragraph 1.2 replaced
# version 3: paragraph 1.2a inserted after 1.2
# version 4: paragraph 1.1 deleted
# version 5: article 3 appended
ROWS = [
    Row(10, "1", "article", 1024, "Scope", "", 1),
    Row(11, "1", "paragraph", 2048, "", "This Law governs associations.", 1),
    Row(12, "2", "paragraph", 3072, "", "Registration is free.", 1),
    Row(20, "2", "article", 4096, "Registration", "", 1),
    Row(21, "1", "paragraph", 5120, "", "Apply within thirty days.", 1),
    Row(12, "2", "paragraph", 3072, "", "Registration is free of charge.", 2),
    Row(13, "2a", "paragraph", 3584, "", "Foreign funding is lawful.", 3),
    Row(11, "1", "paragraph", 2048, "", None, 4),
    Row(30, "3", "article", 6144, "Final provisions", "This Law enters into force.", 5),
]


def ids(provisions):
    return [p.provision_id for p in provisions]


def test_before_first_version_is_empty():
    assert consolidate(ROWS, 0) == []


def test_version_1():
    got = consolidate(ROWS, 1)
    assert ids(got) == [10, 11, 12, 20, 21]
    assert got[2] == ConsolidatedProvision(12, "2", "paragraph", "", "Registration is free.", 1)


def test_version_2_replace():
    got = consolidate(ROWS, 2)
    assert ids(got) == [10, 11, 12, 20, 21]
    assert got[2].text == "Registration is free of charge."
    assert got[2].version == 2
    assert got[0].version == 1


def test_version_3_insert():
    got = consolidate(ROWS, 3)
    assert ids(got) == [10, 11, 12, 13, 20, 21]
    assert got[3].number == "2a" and got[3].version == 3


def test_version_4_delete():
    got = consolidate(ROWS, 4)
    assert ids(got) == [10, 12, 13, 20, 21]


def test_version_5_and_later_versions():
    want = [10, 12, 13, 20, 21, 30]
    assert ids(consolidate(ROWS, 5)) == want
    assert ids(consolidate(ROWS, 99)) == want
    assert consolidate(list(reversed(ROWS)), 5) == consolidate(ROWS, 5)


def test_move_uses_position_of_chosen_row_and_ties_break_by_id():
    rows = [
        Row(1, "1", "article", 100, "A", "a", 1),
        Row(2, "2", "article", 200, "B", "b", 1),
        Row(3, "3", "article", 200, "C", "c", 1),
        Row(1, "1", "article", 300, "A", "a", 2),
    ]
    assert ids(consolidate(rows, 1)) == [1, 2, 3]
    assert ids(consolidate(rows, 2)) == [2, 3, 1]


def test_deleted_then_restored():
    rows = [Row(1, "1", "article", 1, "", "a", 1), Row(1, "1", "article", 1, "", None, 2), Row(1, "1", "article", 1, "", "b", 3)]
    assert consolidate(rows, 2) == []
    assert consolidate(rows, 3)[0].text == "b"


def test_duplicate_version_rows_are_an_integrity_error():
    rows = [Row(1, "1", "article", 1, "", "a", 1), Row(1, "1", "article", 1, "", "b", 1)]
    with pytest.raises(InvalidInput, match="provision 1 has two rows for document version 1, want at most one"):
        consolidate(rows, 1)
    # a duplicate only after at_version does not matter
    later = [Row(1, "1", "article", 1, "", "a", 1), Row(2, "2", "article", 2, "", "x", 3), Row(2, "2", "article", 2, "", "y", 3)]
    assert ids(consolidate(later, 2)) == [1]


def test_next_insert_number():
    assert next_insert_number("3", {"1", "2", "3", "4"}) == "3a"
    assert next_insert_number("3", {"3", "3a"}) == "3b"
    assert next_insert_number("3", {"3", "3b"}) == "3a"
    assert next_insert_number("3.2", {"3.2", "3.2a"}) == "3.2b"
    assert next_insert_number("3a", {"3", "3a", "3b"}) == "3aa"
    taken = {"5"} | {"5" + chr(c) for c in range(ord("a"), ord("z") + 1)}
    assert next_insert_number("5", taken) == "5aa"
    assert next_insert_number("5", taken | {"5aa"}) == "5ab"


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_next_insert_number_rejects_empty(bad):
    with pytest.raises(InvalidInput, match="provision number must be a non-empty string"):
        next_insert_number(bad, set())  # type: ignore[arg-type]


def test_position_between():
    assert position_between(1024, 2048) == 1536
    assert position_between(1024, None) == 2048
    assert position_between(0, 2) == 1
    assert position_between(5, 6) is None
    assert position_between(5, 5) is None
    assert initial_positions(3) == [1024, 2048, 3072]
    b, a = 1024, 2048
    for _ in range(10):  # 1024 halves ten times before the gap is 1
        m = position_between(b, a)
        assert m is not None and b < m < a
        a = m
    assert position_between(b, a) is None


def test_position_between_rejects_reversed():
    with pytest.raises(InvalidInput, match=r"position after \(3\) must not be less than position before \(7\)"):
        position_between(7, 3)


def test_to_markdown():
    md = to_markdown("Law on NGOs", consolidate(ROWS, 5), 5)
    assert md == (
        "# Law on NGOs\n\n"
        "*Consolidated text, version 5.*\n\n"
        "## Article 1. Scope\n\n"
        "**2.** Registration is free of charge.\n\n"
        "**2a.** Foreign funding is lawful.\n\n"
        "## Article 2. Registration\n\n"
        "**1.** Apply within thirty days.\n\n"
        "## Article 3. Final provisions\n\n"
        "This Law enters into force.\n"
    )


def test_to_markdown_escapes_user_content():
    provisions = [
        ConsolidatedProvision(1, "1", "article", "Scope #1\nline", "# Heading\n- item\n+ more\n> quote\n1. list\n    code\n===\n<script>x</script>\n| a |", 1),
        ConsolidatedProvision(2, "1", "paragraph", "Def *bold*", "Text with `code` and [link](x) and \\ slash\n\n\n\n2) next", 1),
        ConsolidatedProvision(3, "2", "article", "", "", 1),
    ]
    md = to_markdown("Law <b>", provisions, 1)
    lines = md.splitlines()
    assert lines[0] == "# Law \\<b\\>"
    assert "## Article 1. Scope \\#1 line" in lines
    for raw in ("\\# Heading", "\\- item", "\\+ more", "\\> quote", "1\\. list", "code", "\\===", "\\<script\\>x\\</script\\>", "\\| a |"):
        assert raw in lines
    assert "**1. Def \\*bold\\*** Text with \\`code\\` and \\[link\\](x) and \\\\ slash" in lines
    assert "2\\) next" in lines
    assert "## Article 2" in lines
    assert "\n\n\n" not in md
    # only our own structure opens headings
    assert [line for line in lines if line.startswith("#")] == ["# Law \\<b\\>", "## Article 1. Scope \\#1 line", "## Article 2"]


def test_to_html():
    page = to_html("Закон <о> НКО", consolidate(ROWS, 5), 5, lang="ru")
    assert page.startswith('<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">\n')
    assert "<title>Закон &lt;о&gt; НКО (version 5)</title>" in page
    assert "<h1>Закон &lt;о&gt; НКО</h1>" in page
    assert '<h2 id="provision-10">Article 1. Scope</h2>' in page
    assert '<p class="paragraph" id="provision-12"><span class="number">2.</span> Registration is free of charge.</p>' in page
    assert '<h2 id="provision-30">Article 3. Final provisions</h2>\n<p>This Law enters into force.</p>' in page
    assert page.endswith("</body>\n</html>\n")
    assert 'lang="en"' in to_html("T", [], 1)


def test_to_html_escapes_everything():
    provisions = [
        ConsolidatedProvision(1, "1<", "paragraph", "<i>t</i>", '<script>alert("x")</script>\nline two\n\nsecond & para', 1),
        ConsolidatedProvision(2, "2", "article", "A & B", "", 1),
    ]
    page = to_html("<T>", provisions, 1, lang='en" onload="x')
    assert "<script>" not in page and "<i>" not in page
    assert 'lang="en&quot; onload=&quot;x"' in page
    assert (
        '<p class="paragraph" id="provision-1"><span class="number">1&lt;.</span> <strong>&lt;i&gt;t&lt;/i&gt;</strong> '
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>\nline two</p>\n<p>second &amp; para</p>"
    ) in page
    assert '<h2 id="provision-2">Article 2. A &amp; B</h2>' in page
